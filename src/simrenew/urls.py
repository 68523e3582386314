from django.contrib import admin
from django.urls import include, path

from simrenew.kit.views import healthz

urlpatterns = [
    path("", include("simrenew.portal.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("simrenew.api.urls")),
    path("esims/", include("simrenew.esims.urls")),
]
