"""`simrenew secrets new-key | rotate`: encryption keys for secrets at rest.

Rotating a key: put a new key first in SIMRENEW_ENCRYPTION_KEYS (keeping the old one after
it), restart, run `simrenew secrets rotate` (every stored secret is encrypted again with
the first key), then remove the old key and restart again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from simrenew.kit import crypto
from simrenew.portal.mfa import reencrypt_authenticators
from simrenew.provisioning.connections import reencrypt_network_tokens, reencrypt_port_secrets
from simrenew.webhooks.services import reencrypt_secrets


class Command(BaseCommand):
    help = "Encryption keys for stored secrets: make a new key, or re-encrypt every secret with the first key."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True)
        verbs.add_parser("new-key", help="Print a new Fernet key for SIMRENEW_ENCRYPTION_KEYS.")
        verbs.add_parser(
            "rotate",
            help="Re-encrypt every stored secret (webhook signing secrets, TOTP and recovery-code seeds, "
            "network API tokens, number-porting account numbers and PINs) "
            "with the first key of SIMRENEW_ENCRYPTION_KEYS, so older keys can then be removed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verb"] == "new-key":
            self.stdout.write(crypto.new_key())
            return
        try:
            with transaction.atomic():
                endpoints = reencrypt_secrets()
                authenticators = reencrypt_authenticators()
                tokens = reencrypt_network_tokens()
                ports = reencrypt_port_secrets()
        except crypto.SecretUnreadable as exc:
            raise CommandError(f"{exc} Nothing was changed.") from exc
        self.stdout.write(
            f"re-encrypted with the first key: {endpoints} webhook endpoint(s), {authenticators} second factor(s), "
            f"{tokens} network token(s), {ports} number port(s). "
            "Keys after the first may now be removed from SIMRENEW_ENCRYPTION_KEYS."
        )
