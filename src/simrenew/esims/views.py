"""The activation QR code as an image, fetched by a signed link (no API key, no session)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from simrenew.esims import qr
from simrenew.esims.identifiers import LPA_PREFIX
from simrenew.esims.models import EsimProfile
from simrenew.esims.services import profile_from_qr_token, qr_token
from simrenew.kit.errors import NotFound

# The image holds the customer's activation code: shared caches must not keep it.
QR_CACHE_SECONDS = 300


def _qr_response(token: str, render: Callable[[str], bytes], content_type: str) -> HttpResponse:
    try:
        profile = profile_from_qr_token(token)
    except NotFound as exc:
        raise Http404(exc.detail) from None
    # Stored codes were validated on the way in and are kept in canonical form.
    response = HttpResponse(render(LPA_PREFIX + profile.activation_code), content_type=content_type)
    patch_cache_control(response, private=True, max_age=QR_CACHE_SECONDS)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_safe
def qr_svg(request: HttpRequest, token: str) -> HttpResponse:
    return _qr_response(token, qr.qr_svg, "image/svg+xml")


@require_safe
def qr_png(request: HttpRequest, token: str) -> HttpResponse:
    return _qr_response(token, qr.qr_png, "image/png")


def qr_svg_url(profile: EsimProfile) -> str:
    """Absolute URL of the profile's activation QR code as SVG (for API answers and emails)."""
    return settings.SIMRENEW_PUBLIC_URL + reverse("esims:qr-svg", kwargs={"token": qr_token(profile)})


def qr_png_url(profile: EsimProfile) -> str:
    """Absolute URL of the profile's activation QR code as PNG (email clients that block SVG)."""
    return settings.SIMRENEW_PUBLIC_URL + reverse("esims:qr-png", kwargs={"token": qr_token(profile)})
