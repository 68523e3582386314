"""`simrenew network connect|show|disconnect`: a carrier's TMF641 Service Ordering API, through
which its lines are started, suspended, restored and terminated. A carrier without one uses the
sandbox network. The bearer token is stored encrypted and never shown."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from simrenew.catalog.models import Carrier
from simrenew.kit.audit import record_change
from simrenew.management.base import ConnectionCommand
from simrenew.provisioning.connections import (
    TMF641_BASE_PATH,
    NetworkConfig,
    connect_network,
    disconnect_network,
    find_carrier,
)
from simrenew.provisioning.models import NetworkConnection
from simrenew.provisioning.tmf641 import NetworkUnavailable, OrderRefused, service_ordering


def _token_from(options: dict[str, Any]) -> str | None:
    """The token given (None: keep the stored one; "": remove it)."""
    if options["no_token"]:
        return ""
    if options["token_file"]:
        path = Path(options["token_file"]).expanduser()
        try:
            read = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"The token file {path} cannot be read: {exc}. Nothing was changed.") from exc
        if not read:
            raise CommandError(f"The token file {path} is empty. Nothing was changed.")
        return read
    given: str | None = options["token"]
    if given is not None and not given.strip():
        raise CommandError("--token is empty; to remove the stored token, use --no-token. Nothing was changed.")
    return given


class Command(ConnectionCommand):
    help = (
        "Connect a carrier's lines to its TMF641 Service Ordering API, show connections, or disconnect one "
        "(its lines then use the sandbox network)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="connect|show|disconnect")
        connect = verbs.add_parser(
            "connect", help="Send this carrier's line changes to its TMF641 API (running it again updates it)."
        )
        connect.add_argument("carrier", help="The carrier's code, e.g. att.")
        connect.add_argument(
            "--url", required=True, help=f"The API's base URL, ending in {TMF641_BASE_PATH} (https://)."
        )
        token = connect.add_mutually_exclusive_group()
        token.add_argument(
            "--token", help="Bearer token sent with every order (stored encrypted; it stays in your shell history)."
        )
        token.add_argument("--token-file", metavar="FILE", help="Read the bearer token from this file instead.")
        token.add_argument("--no-token", action="store_true", help="Remove the stored token.")
        connect.add_argument(
            "--register-hub",
            action="store_true",
            help="Also subscribe to the carrier's order events (POST {url}/hub): they come to "
            f"SIMRENEW_PUBLIC_URL{TMF641_BASE_PATH}/listener/serviceOrderStateChangeEvent.",
        )
        show = verbs.add_parser("show", help="Show the network connections (never the token).")
        show.add_argument("carrier", nargs="?", help="Only this carrier.")
        disconnect = verbs.add_parser(
            "disconnect", help="Remove a carrier's network connection: its lines then use the sandbox network."
        )
        disconnect.add_argument("carrier")

    def connect(self, options: dict[str, Any]) -> None:
        config = NetworkConfig(base_url=options["url"], token=_token_from(options))
        with transaction.atomic():
            carrier = find_carrier(options["carrier"])
            connection, outcome = connect_network(carrier, config)  # audited by the service
        if outcome == "unchanged":
            self.stdout.write(f"{carrier.code}'s network connection already has these settings; nothing was changed.")
            return
        verb = "Connected" if outcome == "added" else "Updated the network connection of"
        self.stdout.write(
            f"{verb} {carrier.code}: its line changes are ordered at {connection.base_url} "
            f"(token {_token_state(connection)})."
        )
        if options["register_hub"]:
            self._register_hub(connection)

    def _register_hub(self, connection: NetworkConnection) -> None:
        """Outside any transaction: the carrier is called."""
        callback = settings.SIMRENEW_PUBLIC_URL.rstrip("/") + TMF641_BASE_PATH
        try:
            hub_id = service_ordering(connection).register_hub(callback)
        except (NetworkUnavailable, OrderRefused) as exc:
            raise CommandError(
                f"Connected, but the carrier did not take the event subscription ({exc}); the worker polls "
                "every order anyway. Run the command again with --register-hub to retry."
            ) from exc
        with transaction.atomic():
            NetworkConnection.objects.filter(pk=connection.pk).update(hub_id=hub_id[:128])
            record_change(
                action="network hub registered",
                target=connection,
                after={"hub_id": hub_id, "callback": callback},
            )
        self.stdout.write(f"The carrier sends its order events to {callback}/listener/… (hub {hub_id}).")

    def show(self, code: str | None) -> None:
        if code:
            carrier = find_carrier(code)
            connection = NetworkConnection.objects.filter(carrier=carrier).first()
            if connection is None:
                self.stdout.write(f"{carrier.code} has no network connection: its lines use the sandbox network.")
            else:
                self._line(connection)
            return
        connections = list(NetworkConnection.objects.select_related("carrier").order_by("carrier__code"))
        for connection in connections:
            self._line(connection)
        unconnected = Carrier.objects.filter(network__isnull=True).order_by("code").values_list("code", flat=True)
        if unconnected:
            self.stdout.write(f"Using the sandbox network (no connection): {', '.join(unconnected)}.")

    def _line(self, connection: NetworkConnection) -> None:
        state = "enabled" if connection.enabled else "disabled"
        self.stdout.write(
            f"{connection.carrier.code}: {connection.base_url} (token {_token_state(connection)}, {state})"
        )

    def disconnect(self, code: str) -> None:
        stored = NetworkConnection.objects.filter(carrier__code=code.strip().lower()).first()
        if stored is not None and stored.hub_id:
            try:  # outside any transaction: the carrier is called; best effort, the events would only ring
                service_ordering(stored).unregister_hub(stored.hub_id)
            except (NetworkUnavailable, OrderRefused) as exc:
                self.stderr.write(f"The carrier's event subscription {stored.hub_id} could not be removed: {exc}.")
        with transaction.atomic():
            carrier = find_carrier(code)
            connection = disconnect_network(carrier)  # audited by the service
        self.stdout.write(
            f"Disconnected {carrier.code} from {connection.base_url}: its lines' next changes go to the sandbox "
            "network."
        )


def _token_state(connection: NetworkConnection) -> str:
    return "set" if connection.token else "not set"
