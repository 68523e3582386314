from django.urls import URLPattern, URLResolver, path, re_path

from simrenew.api.api import api, unknown_route

urlpatterns: list[URLPattern | URLResolver] = [
    path("", api.urls),
    # Last: anything else under /api/v1 is a problem+json 404, never an HTML page.
    re_path(r"", unknown_route, name="api-unknown-route"),
]
