"""The site's URLs plus two pages that fail, for the 500 page's tests: one with a bug, one that
needs the database (which the test takes down)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from simrenew import urls as site


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


def needs_the_database(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("the database answered")


urlpatterns: list[URLPattern | URLResolver] = [
    path("broken/", broken),
    path("needs-the-database/", needs_the_database),
    *site.urlpatterns,
]
handler500 = site.handler500
