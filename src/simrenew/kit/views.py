from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: this process answers. Nothing else is asked (not even the database): a liveness
    probe that failed with the database would have every web process restarted during a database
    outage, which helps nothing. Whether the process should get traffic is /readyz's question."""
    return JsonResponse({"status": "ok"})
