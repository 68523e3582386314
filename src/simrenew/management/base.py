"""The base of the `simrenew` verbs: whoever runs one acts as `cli:<OS user>` in the audit trail.

`manage.main` names the CLI actor for every command (Django's own included); this base
names it too when a command is run by `call_command`, from code or tests."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from simrenew.kit.actors import Actor, acting_as


class ActorCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        with acting_as(Actor.for_cli()):
            return super().execute(*args, **options)
