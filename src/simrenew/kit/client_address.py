"""Who is asking, for the limits counted per client (promotion codes, the TMF641 listener)."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest


def client_of(request: HttpRequest) -> str:
    """The client's address, by the rule the sign-in limits use (allauth's: behind
    SIMRENEW_TRUSTED_PROXY_COUNT proxies, the one they name in X-Forwarded-For, not the proxy's
    own address, which every client would share)."""
    try:
        address = get_adapter(request).get_client_ip(request)
    except (PermissionDenied, ImproperlyConfigured):  # no address, or a header the proxies did not write
        address = "unknown"
    return f"ip:{address}"
