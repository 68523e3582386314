"""Routes for `benchmarks/api_throughput.py`, served only with SIMRENEW_BENCH_ROUTES=1.

`/bench/constant` is the bare baseline: a Django view that returns a constant
through the same server, middleware and URL routing as every other page, so the
API's figures can be read as a share of what Django and gunicorn can do at all.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

CONSTANT = b'{"status":"ok"}'


def constant(request: HttpRequest) -> HttpResponse:
    return HttpResponse(CONSTANT, content_type="application/json")


def routes() -> list[URLPattern]:
    """The benchmark's routes when SIMRENEW_BENCH_ROUTES is on, else none."""
    if not settings.SIMRENEW_BENCH_ROUTES:
        return []
    return [path("bench/constant", constant, name="bench-constant")]
