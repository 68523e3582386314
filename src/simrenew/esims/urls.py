"""Mounted at ``esims/`` by the project's URLconf: ``path("esims/", include("simrenew.esims.urls"))``."""

from __future__ import annotations

from django.urls import re_path

from simrenew.esims import views

app_name = "esims"

# Tokens are django.core.signing output: URL-safe base64 parts joined by ':'.
_TOKEN = r"(?P<token>[A-Za-z0-9_:-]+)"

urlpatterns = [
    re_path(rf"^qr/{_TOKEN}\.svg$", views.qr_svg, name="qr-svg"),
    re_path(rf"^qr/{_TOKEN}\.png$", views.qr_png, name="qr-png"),
]
