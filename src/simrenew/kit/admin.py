"""The sandbox test clock in the console: everyone with access sees the platform's time;
only admins move it, only in sandbox mode, and every move lands in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from simrenew.kit import clock
from simrenew.kit.durations import parse_duration
from simrenew.kit.errors import SimrenewError, ValidationFailed
from simrenew.kit.models import TestClock

VERBS = ("set", "advance", "reset")


def parse_when(text: str) -> datetime:
    """ISO 8601; a time without an offset is read as UTC (the page says so). Whether the
    clock may stand there is `clock.set_now`'s rule, the same for the API, CLI and console."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed.on("when", f"{text!r} is not a time; write it like 2026-01-31T09:00.") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def clock_state() -> dict[str, Any]:
    return {"now": clock.now().isoformat(timespec="seconds"), "frozen": clock.is_frozen()}


@admin.register(TestClock)
class TestClockAdmin(admin.ModelAdmin):
    """One page instead of a list: the time, and forms to set, advance or reset it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        # Outside the sandbox there is no test clock to look at.
        return bool(settings.SIMRENEW_SANDBOX) and super().has_module_permission(request)

    def change_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:kit_testclock_changelist"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._move(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Test clock",
            "subtitle": None,
            "opts": self.model._meta,
            "sandbox": bool(settings.SIMRENEW_SANDBOX),
            "now": clock.now(),
            "frozen": clock.is_frozen(),
            "can_move": bool(settings.SIMRENEW_SANDBOX) and self.has_change_permission(request),
            "real_now": clock.system_now(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "console/test_clock.html", context)

    def _move(self, request: HttpRequest) -> HttpResponse:
        if not settings.SIMRENEW_SANDBOX or not self.has_change_permission(request):
            raise PermissionDenied
        page = HttpResponseRedirect(reverse("admin:kit_testclock_changelist"))
        verb = request.POST.get("verb", "")
        if verb not in VERBS:
            messages.error(request, "Choose to set, advance or reset the clock.")
            return page
        try:
            with transaction.atomic():  # the clock's service records the move in the audit trail
                if verb == "set":
                    clock.set_now(parse_when(request.POST.get("when", "")))
                elif verb == "advance":
                    clock.advance(self._duration(request.POST.get("by", "")))
                else:
                    clock.reset()
                after = clock_state()
        except SimrenewError as exc:
            messages.error(request, exc.detail)
            return page
        if verb == "reset":
            messages.success(request, "The clock follows the real time again.")
        else:
            messages.success(request, f"The platform's time is now {after['now']}.")
        return page

    @staticmethod
    def _duration(text: str) -> timedelta:
        try:
            by = parse_duration(text)
            clock.now() + by  # a duration past the calendar's end is refused here
        except (ValueError, OverflowError) as exc:
            message = str(exc) if isinstance(exc, ValueError) else f"{text!r} is too long a duration."
            raise ValidationFailed.on("by", message) from None
        return by
