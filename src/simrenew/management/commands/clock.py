"""`simrenew clock show|set|advance|reset`: the sandbox test clock, shared by every process."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from simrenew.kit import clock
from simrenew.kit.durations import parse_duration
from simrenew.kit.errors import SimrenewError
from simrenew.management.base import ActorCommand


class Command(ActorCommand):
    help = "Show or move the sandbox test clock (moving it needs SIMRENEW_SANDBOX=1)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="show|set|advance|reset")
        verbs.add_parser("show", help="Print the platform's current time.")
        set_ = verbs.add_parser("set", help="Freeze the clock at a time, e.g. 2026-01-31T09:00:00+00:00.")
        set_.add_argument("when", help="ISO 8601 with a UTC offset.")
        advance = verbs.add_parser("advance", help="Move the clock forward, e.g. 3d, 36h, 90m, 1d12h.")
        advance.add_argument("duration")
        verbs.add_parser("reset", help="Return to the real time.")

    def handle(self, *args: Any, **options: Any) -> None:
        verb = options["verb"]
        if verb != "show" and not settings.SIMRENEW_SANDBOX:
            raise CommandError(
                "The test clock can only be moved in sandbox mode; run with SIMRENEW_SANDBOX=1. "
                "Outside the sandbox the platform always uses the real time."
            )
        try:
            with transaction.atomic():
                if verb == "set":
                    clock.set_now(self._parse_when(options["when"]))
                elif verb == "advance":
                    clock.advance(self._parse_duration(options["duration"]))
                elif verb == "reset":
                    clock.reset()
        except SimrenewError as exc:
            raise CommandError(exc.detail) from exc
        self._show()

    def _show(self) -> None:
        now = clock.now()
        if clock.is_frozen():
            state = "frozen test clock"
        elif settings.SIMRENEW_SANDBOX:
            state = "real time (test clock not set)"
        else:
            state = "real time (not sandbox)"
        self.stdout.write(f"{now.isoformat()}  [{state}]")

    @staticmethod
    def _parse_when(text: str) -> datetime:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            raise CommandError(f"{text!r} is not an ISO 8601 time; write e.g. 2026-01-31T09:00:00+00:00.") from None
        if when.tzinfo is None:
            raise CommandError(f"{text!r} has no UTC offset; add one, e.g. {text.strip()}+00:00.")
        return when

    @staticmethod
    def _parse_duration(text: str) -> timedelta:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
