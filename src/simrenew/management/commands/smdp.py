"""`simrenew smdp connect|show|disconnect`: a carrier's SM-DP+, from which its eSIMs are ordered
over ES2+ instead of imported from a CSV. Certificates and keys stay files on the server; only
their paths are stored and shown."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.db import transaction

from simrenew.management.base import ConnectionCommand
from simrenew.provisioning.connections import (
    DEFAULT_TIMEOUT_SECONDS,
    SmdpConfig,
    connect_smdp,
    disconnect_smdp,
    find_carrier,
)
from simrenew.provisioning.models import SmdpConnection


def _full_path(path: str | None) -> str:
    """The file as the command's user named it, made absolute: the server may run elsewhere.
    Symbolic links are kept, so that a renewed certificate behind one is picked up."""
    return os.path.abspath(os.path.expanduser(path)) if path else ""


class Command(ConnectionCommand):
    help = (
        "Connect a carrier to its SM-DP+ (ES2+), show connections, or disconnect one. "
        "Running `connect` again replaces the whole connection with what it is given (and enables it)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="connect|show|disconnect")
        connect = verbs.add_parser(
            "connect",
            help="Order this carrier's eSIMs from an SM-DP+ (checks the URL and the files before saving).",
        )
        connect.add_argument("carrier", help="The carrier's code, e.g. att.")
        connect.add_argument(
            "--url",
            required=True,
            help="The SM-DP+'s ES2+ base URL; /gsma/rsp2/es2plus/… is appended (https://; sandbox: in sandbox mode).",
        )
        connect.add_argument(
            "--requester-id", required=True, help="Our functionRequesterIdentifier, as the SM-DP+ knows us."
        )
        connect.add_argument(
            "--smdp-id", required=True, help="The functionRequesterIdentifier the SM-DP+ uses when it calls us."
        )
        connect.add_argument("--profile-type", required=True, help="The profile type ordered for this carrier.")
        connect.add_argument(
            "--ca-cert", metavar="FILE", help="PEM CA bundle that signs the SM-DP+'s certificate (default: system's)."
        )
        connect.add_argument(
            "--client-cert", metavar="FILE", help="Our PEM client certificate (chain); it may hold the key too."
        )
        connect.add_argument("--client-key", metavar="FILE", help="Our PEM client key, when not in --client-cert.")
        connect.add_argument(
            "--client-subject",
            metavar="DN",
            default="",
            help="The subject of the SM-DP+'s client certificate, as the proxy in front of us verifies it.",
        )
        connect.add_argument(
            "--timeout",
            metavar="SECONDS",
            type=float,
            default=DEFAULT_TIMEOUT_SECONDS,
            help=f"How long to wait for an answer (default {DEFAULT_TIMEOUT_SECONDS:g}).",
        )
        show = verbs.add_parser("show", help="Show the SM-DP+ connections (file paths only, never their contents).")
        show.add_argument("carrier", nargs="?", help="Only this carrier.")
        disconnect = verbs.add_parser(
            "disconnect", help="Remove a carrier's SM-DP+ connection: its new eSIMs come from inventory again."
        )
        disconnect.add_argument("carrier")

    def connect(self, options: dict[str, Any]) -> None:
        config = SmdpConfig(
            base_url=options["url"],
            requester_id=options["requester_id"],
            smdp_id=options["smdp_id"],
            profile_type=options["profile_type"],
            ca_cert_path=_full_path(options["ca_cert"]),
            client_cert_path=_full_path(options["client_cert"]),
            client_key_path=_full_path(options["client_key"]),
            client_subject=options["client_subject"],
            timeout_seconds=options["timeout"],
        )
        with transaction.atomic():
            carrier = find_carrier(options["carrier"])
            connection, outcome = connect_smdp(carrier, config)  # audited by the service
        if outcome == "unchanged":
            self.stdout.write(f"{carrier.code}'s SM-DP+ connection already has these settings; nothing was changed.")
            return
        verb = "Connected" if outcome == "added" else "Updated the connection of"
        self.stdout.write(
            f"{verb} {carrier.code} to the SM-DP+ at {connection.base_url}: its new eSIMs are ordered there "
            f"(profile type {connection.profile_type})."
        )
        self._describe(connection)

    def show(self, code: str | None) -> None:
        if code:
            carrier = find_carrier(code)
            connection = SmdpConnection.objects.filter(carrier=carrier).first()
            if connection is None:
                self.stdout.write(f"{carrier.code} has no SM-DP+ connection: its eSIMs come from inventory.")
                return
            connections = [connection]
        else:
            connections = list(SmdpConnection.objects.select_related("carrier").order_by("carrier__code"))
            if not connections:
                self.stdout.write(
                    "No carrier is connected to an SM-DP+ (every eSIM comes from inventory); connect one with "
                    "`simrenew smdp connect CARRIER --url URL --requester-id ID --smdp-id ID --profile-type TYPE`."
                )
                return
        for connection in connections:
            state = "enabled" if connection.enabled else "disabled"
            self.stdout.write(f"{connection.carrier.code}: {connection.base_url} ({state})")
            self._describe(connection)

    def _describe(self, connection: SmdpConnection) -> None:
        key = (connection.client_key_path or "in the certificate file") if connection.client_cert_path else "none"
        rows = [
            ("requester id", connection.requester_id),
            ("SM-DP+ id", connection.smdp_id),
            ("profile type", connection.profile_type),
            ("CA file", connection.ca_cert_path or "the system's CA bundle"),
            ("client certificate", connection.client_cert_path or "none"),
            ("client key", key),
            ("client subject", connection.client_subject or "not set"),
            ("timeout", f"{connection.timeout_seconds:g} s"),
        ]
        for label, value in rows:
            self.stdout.write(f"  {label + ':':<20} {value}")

    def disconnect(self, code: str) -> None:
        with transaction.atomic():
            carrier = find_carrier(code)
            connection = disconnect_smdp(carrier)  # audited by the service
        self.stdout.write(
            f"Disconnected {carrier.code} from the SM-DP+ at {connection.base_url}: its new eSIMs come from "
            "inventory again; the eSIMs already ordered keep their profiles."
        )
