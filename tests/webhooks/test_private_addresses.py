"""Webhooks never reach inside our own network (SSRF): outside sandbox a URL is taken
only if its host resolves to public addresses alone, every send resolves it again and
refuses a private answer, and the connection goes to the address that was checked.

Names resolve through an injected resolver (SIMRENEW_WEBHOOK_RESOLVER): no test here
asks a real DNS server anything."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import Delivery
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.network import is_public
from simrenew.webhooks.services import create_endpoint, update_endpoint, validate_url
from tests.factories import make_customer
from tests.notifications.helpers import run_worker

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class Names:
    """A resolver answering from a table the test controls, counting what it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.table.get(host, []))


@pytest.fixture
def names(settings) -> Names:
    table = Names(
        {
            "partner.example.com": [PUBLIC_V4, PUBLIC_V6],
            "127.0.0.1.nip.io": ["127.0.0.1"],
            "localtest.me": ["127.0.0.1", "::1"],
            "metadata.partner.example": ["169.254.169.254"],
            "office.partner.example": ["10.0.0.1"],
            "half.partner.example": [PUBLIC_V4, "10.0.0.1"],
        }
    )
    settings.SIMRENEW_WEBHOOK_RESOLVER = table
    return table


@pytest.fixture
def production(settings, names: Names) -> Names:
    settings.SIMRENEW_SANDBOX = False
    return names


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://127.0.0.1.nip.io/hooks", "127.0.0.1"),
        ("https://localtest.me/hooks", "127.0.0.1"),
        ("https://metadata.partner.example/hooks", "169.254.169.254"),
        ("https://office.partner.example/hooks", "10.0.0.1"),
        ("https://half.partner.example/hooks", "10.0.0.1"),  # one private address among public ones is enough
        ("https://[::127.0.0.1]/hooks", "::7f00:1"),  # IPv4-compatible loopback
        ("https://[::ffff:10.0.0.1]/hooks", "::ffff:a00:1"),  # IPv4-mapped
        ("https://[64:ff9b::a9fe:a9fe]/hooks", "64:ff9b::a9fe:a9fe"),  # NAT64 of 169.254.169.254
        ("https://[2002:a9fe:a9fe::1]/hooks", "2002:a9fe:a9fe::1"),  # 6to4 of 169.254.169.254
        ("https://[64:ff9b:1::a00:1]/hooks", "64:ff9b:1::a00:1"),  # local-use NAT64
    ],
)
def test_in_production_a_name_or_address_leading_inside_is_refused_and_nothing_is_made(clock, production, url, shown):
    with pytest.raises(ValidationFailed) as refused:
        create_endpoint(url=url)

    assert [error.field for error in refused.value.errors] == ["url"] and shown in refused.value.detail
    assert not WebhookEndpoint.objects.exists()


def test_in_production_a_name_that_does_not_resolve_is_refused(clock, production):
    with pytest.raises(ValidationFailed, match="does not resolve"):
        create_endpoint(url="https://nowhere.partner.example/hooks")

    assert not WebhookEndpoint.objects.exists()


def test_in_production_a_name_with_only_public_addresses_is_taken(clock, production):
    endpoint = create_endpoint(url="https://partner.example.com/hooks")

    assert endpoint.url == "https://partner.example.com/hooks"
    assert production.asked == ["partner.example.com"]


def test_changing_the_url_to_one_leading_inside_is_refused_and_keeps_the_old_one(clock, production):
    endpoint = create_endpoint(url="https://partner.example.com/hooks")

    with pytest.raises(ValidationFailed):
        update_endpoint(endpoint, url="https://metadata.partner.example/hooks")

    assert WebhookEndpoint.objects.get().url == "https://partner.example.com/hooks"


def test_a_resolver_is_also_taken_as_an_argument(clock, settings):
    settings.SIMRENEW_SANDBOX = False
    resolve: Callable[[str, int], list[str]] = Names({"partner.example.com": ["10.0.0.1"]})

    with pytest.raises(ValidationFailed, match=r"10\.0\.0\.1"):
        validate_url("https://partner.example.com/hooks", resolve=resolve)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC_V4, True),
        (PUBLIC_V6, True),
        ("10.0.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("fe80::1%eth0", False),
        ("::ffff:93.184.215.14", True),
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public address
        ("not an address", False),
    ],
)
def test_which_addresses_are_public(address, public):
    assert is_public(address) is public


def test_a_send_to_a_name_now_leading_inside_is_refused_for_good(clock, production, receiver):
    """DNS rebinding: public at registration, the metadata service at send time."""
    create_endpoint(url="https://partner.example.com/hooks")
    production.table["partner.example.com"] = ["169.254.169.254"]
    make_customer()  # customer.created

    run = run_worker()

    delivery = Delivery.objects.get(channel="webhook")
    assert run.dead == 1 and delivery.status == "dead" and delivery.attempts == 1
    assert "169.254.169.254, which is not a public address" in delivery.last_error
    assert production.asked == ["partner.example.com", "partner.example.com"]  # checked at the send again
    assert receiver.requests == []


def test_a_send_connects_to_the_address_it_checked_keeping_the_host_name(clock, names, receiver):
    """Sandbox (private addresses allowed): a name no system resolver knows reaches the
    receiver only through the checked address, and the receiver still sees its name."""
    names.table["hooks.partner.test"] = ["127.0.0.1"]
    create_endpoint(url=f"http://hooks.partner.test:{receiver.port}/hooks")
    make_customer()

    run = run_worker()

    assert run.sent == 1 and len(receiver.requests) == 1
    assert receiver.requests[0].headers["host"] == f"hooks.partner.test:{receiver.port}"
    assert names.asked == ["hooks.partner.test"]  # once per connection, by us


def test_a_name_that_stops_resolving_is_retried(clock, names, receiver):
    create_endpoint(url=f"http://gone.partner.test:{receiver.port}/hooks")
    make_customer()

    run = run_worker()

    delivery = Delivery.objects.get(channel="webhook")
    assert run.retrying == 1 and delivery.status == "pending"
    assert "ConnectError" in delivery.last_error


def test_sandbox_still_takes_and_reaches_a_loopback_receiver(clock, receiver):
    create_endpoint(url=receiver.url)
    make_customer()

    assert run_worker().sent == 1 and len(receiver.requests) == 1
