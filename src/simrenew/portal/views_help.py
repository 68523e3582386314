"""The help page (for visitors and customers alike) and the pages shown when something is missing
or broken. Figures the answers quote come from the settings that rule them, so the page says
what this operator's platform really does."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# Default as in settings.py: periods not started are refunded, the running one is not.
REFUND_POLICIES = ("none", "unstarted", "prorata")


def help_page(request: HttpRequest) -> HttpResponse:
    policy = getattr(settings, "SIMRENEW_CANCEL_REFUND_POLICY", "unstarted")
    retry_hours = getattr(settings, "SIMRENEW_RENEWAL_RETRY_HOURS", (72,))
    context = {
        "refund_policy": policy if policy in REFUND_POLICIES else "unstarted",
        "first_charge_hours": max(retry_hours) if retry_hours else 72,
        "retention_days": settings.SIMRENEW_RETENTION_DAYS,
        "termination_warning_days": settings.SIMRENEW_TERMINATION_WARNING_DAYS,
    }
    return render(request, "portal/help.html", context)
