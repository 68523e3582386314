"""`simrenew apikey create|list|revoke`: partner API keys."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from simrenew.api.keys import SCOPES, create_api_key, revoke_api_key
from simrenew.api.models import ApiKey
from simrenew.kit.errors import SimrenewError
from simrenew.management.base import ActorCommand


class Command(ActorCommand):
    help = "Create, list and revoke partner API keys. A new key is printed once, as the last line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="create|list|revoke")
        create = verbs.add_parser("create", help="Create a key and print it (only this once).")
        create.add_argument("--name", required=True, help="What the key is for, e.g. the partner's name.")
        create.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            choices=SCOPES,
            help="read, write (default) or admin; repeat for several.",
        )
        verbs.add_parser("list", help="List keys (never the keys themselves).")
        revoke = verbs.add_parser("revoke", help="Revoke the key with this prefix (as `list` shows it).")
        revoke.add_argument("prefix", help="The key's prefix, e.g. sr_test_AbCd.")

    def handle(self, *args: Any, **options: Any) -> None:
        verb = options["verb"]
        if verb == "create":
            self._create(options["name"], options["scopes"] or ["write"])
        elif verb == "list":
            self._list()
        elif verb == "revoke":
            self._revoke(options["prefix"])

    def _create(self, name: str, scopes: list[str]) -> None:
        try:
            with transaction.atomic():
                key, raw = create_api_key(name=name, scopes=scopes)
        except SimrenewError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(
            f"Created API key {key.name!r} (prefix {key.prefix}, scopes: {', '.join(key.scopes)}). "
            "It is shown only now; store it safely:"
        )
        self.stdout.write(raw)

    def _list(self) -> None:
        keys = list(ApiKey.objects.order_by("id"))
        if not keys:
            self.stdout.write("No API keys yet; create one with `simrenew apikey create --name NAME`.")
            return
        self.stdout.write(f"{'PREFIX':<14} {'NAME':<24} {'SCOPES':<18} {'STATUS':<8} LAST USED")
        for key in keys:
            status = "revoked" if key.revoked_at else "active"
            last_used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            self.stdout.write(
                f"{key.prefix:<14} {key.name[:24]:<24} {','.join(key.scopes):<18} {status:<8} {last_used}"
            )

    def _revoke(self, prefix: str) -> None:
        matches = list(ApiKey.objects.filter(prefix=prefix.strip(), revoked_at__isnull=True))
        if not matches:
            raise CommandError(f"No active API key has the prefix {prefix!r}; see `simrenew apikey list`.")
        if len(matches) > 1:
            names = ", ".join(repr(k.name) for k in matches)
            raise CommandError(f"{len(matches)} active keys share the prefix {prefix!r} ({names}); none revoked.")
        with transaction.atomic():
            key = revoke_api_key(matches[0], reason="Revoked with `simrenew apikey revoke`.")
        self.stdout.write(f"Revoked API key {key.name!r} ({key.prefix}); it no longer authenticates.")
