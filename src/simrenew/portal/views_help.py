"""The help page (for visitors and customers alike) and the pages shown when something is missing
or broken. Figures the answers quote come from the settings that rule them, so the page says
what this operator's platform really does."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

log = logging.getLogger(__name__)


def help_page(request: HttpRequest) -> HttpResponse:
    # settings.py refuses to start with a policy not in CANCEL_REFUND_POLICIES, so it is one of them.
    retry_hours = settings.SIMRENEW_RENEWAL_RETRY_HOURS
    context = {
        "refund_policy": settings.SIMRENEW_CANCEL_REFUND_POLICY,
        "first_charge_hours": max(retry_hours) if retry_hours else 72,
        "retention_days": settings.SIMRENEW_RETENTION_DAYS,
        "termination_warning_days": settings.SIMRENEW_TERMINATION_WARNING_DAYS,
    }
    return render(request, "portal/help.html", context)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """The branded 500 page (urls.handler500) with the language switch every page has. Rendered
    from the request alone: the error may be the database being down, so no query and no context
    processor (the signed-in user's would read the session); the switch's CSRF token is the
    cookie's (`requires_csrf_token`), its way back the path that failed."""
    try:
        page = loader.get_template("500.html").render(
            {"request": request, "csrf_token": get_token(request)}  # no `request=`: no context processors
        )
    except Exception:  # a broken error page must not hide the error: Django's plain words then
        log.exception("the 500 page could not be rendered")
        return HttpResponseServerError("<h1>Server Error (500)</h1>", content_type="text/html")
    return HttpResponseServerError(page)
