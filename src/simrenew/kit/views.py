from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # the point is to report any database failure
        return JsonResponse({"status": "unavailable", "detail": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


HOME_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>simrenew</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
a{color:#0b57d0}</style></head>
<body><h1>simrenew</h1>
<p>eSIM data plans: buy, renew, top up.</p>
<ul>
<li><a href="/api/v1/docs">Partner API documentation</a> (<a href="/api/v1/openapi.json">OpenAPI</a>)</li>
<li><a href="/admin/">Operator console</a></li>
<li><a href="/healthz">Health</a></li>
</ul></body></html>"""


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HOME_PAGE)
