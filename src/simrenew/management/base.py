"""The base of the `simrenew` verbs: whoever runs one acts as `cli:<OS user>` in the audit trail.

`manage.main` names the CLI actor for every command (Django's own included); this base
names it too when a command is run by `call_command`, from code or tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from simrenew.kit.actors import Actor, acting_as
from simrenew.kit.errors import SimrenewError


class ActorCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        with acting_as(Actor.for_cli()):
            return super().execute(*args, **options)


class VerbCommand(ActorCommand):
    """A command of subcommands (its subparsers' `dest` is "verb"): `verbs()` names the method doing
    each; a domain error ends the command with its message."""

    def verbs(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.verbs()[options["verb"]](options)
        except SimrenewError as exc:
            raise CommandError(exc.detail) from exc


class ConnectionCommand(VerbCommand):
    """`simrenew smdp|network connect|show|disconnect CARRIER`."""

    def verbs(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {
            "connect": self.connect,
            "show": lambda options: self.show(options["carrier"]),
            "disconnect": lambda options: self.disconnect(options["carrier"]),
        }

    def connect(self, options: dict[str, Any]) -> None:
        raise NotImplementedError

    def show(self, code: str | None) -> None:
        raise NotImplementedError

    def disconnect(self, code: str) -> None:
        raise NotImplementedError
