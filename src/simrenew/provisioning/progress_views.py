"""`POST /gsma/rsp2/es2plus/handleDownloadProgressInfo`: the SM-DP+ tells us how the download of a
profile it holds for us is going (SGP.22 §5.3.5, JSON binding §6.5).

It is a machine's endpoint and answers like one, never with an HTML page: 204 with the ES2+
headers once recorded (a replay of the same call too), and HTTP 200 with `status: Failed` and the
SGP.22 code otherwise (an unknown ICCID, a caller that is not that ICCID's SM-DP+, a malformed
body). In production the SM-DP+'s TLS client certificate is checked by the proxy in front of us,
which passes on the subject it verified (`X-SSL-Client-S-DN`; deploy/nginx/simrenew.conf).
"""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from simrenew.provisioning import profiles
from simrenew.provisioning.es2plus import (
    X_ADMIN_PROTOCOL,
    Es2Refusal,
    Es2Status,
    failed_response_body,
    parse_download_progress,
)

log = logging.getLogger("simrenew.provisioning")

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"


def _answer(status: int, body: dict[str, object] | None = None) -> HttpResponse:
    response = HttpResponse(status=status) if body is None else HttpResponse(json.dumps(body), content_type=JSON)
    response["X-Admin-Protocol"] = X_ADMIN_PROTOCOL
    return response


def _refused(refusal: Es2Refusal) -> HttpResponse:
    return _answer(200, failed_response_body(refusal.code))


@csrf_exempt
def handle_download_progress_info(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = _refused(Es2Refusal.of(Es2Status.INVALID_ELEMENT, "Only POST is accepted"))
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise Es2Refusal.of(Es2Status.INVALID_ELEMENT, f"The body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise Es2Refusal.of(Es2Status.INVALID_ELEMENT, "The body is not JSON") from None
        report = parse_download_progress(body)
        with transaction.atomic():
            profiles.record_download_progress(report, verified_subject=request.headers.get("X-SSL-Client-S-DN"))
    except Es2Refusal as refusal:
        log.warning("handleDownloadProgressInfo refused: %s", refusal)
        return _refused(refusal)
    except Exception:  # an SM-DP+ must get an ES2+ answer, never Django's HTML 500
        log.exception("handleDownloadProgressInfo failed")
        return _refused(Es2Refusal.of(Es2Status.EXECUTION_ERROR, "The notification could not be recorded"))
    return _answer(204)
