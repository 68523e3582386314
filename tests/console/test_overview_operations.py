"""What an operator must see at a glance on the console: whether a worker is alive (nothing
scheduled happens without one), eSIM stock per carrier, suspended subscriptions and when their
numbers are released, refunds still owed; on the customer page, the wallet and saved methods;
and human names in the sidebar."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.test import Client
from django.urls import reverse

from simrenew.billing.models import Invoice, Refund, RefundStatus
from simrenew.billing.refunds import refund_for_operator
from simrenew.console import queries
from simrenew.console.queries import RefundsOwed, Stock
from simrenew.console.roles import Role
from simrenew.esims.models import EsimProfile
from simrenew.kit.clock import system_now
from simrenew.payments.services import remove_payment_method
from simrenew.worker import heartbeat
from simrenew.worker.models import WorkerHeartbeat
from tests.customers.console_helpers import staff_client
from tests.factories import make_card, make_carrier, make_esim, make_plan, make_subscription, make_wallet, renew

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def overview_html(client: Client) -> str:
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    return page.content.decode()


def test_the_overview_warns_when_no_worker_ticked_for_five_minutes(clock):
    clock.set(START)
    admin = staff_client(Role.ADMIN)

    never = overview_html(admin)
    assert 'data-worker="stale"' in never and "No worker has ever run against this database." in never

    heartbeat.started("box:1:abc")
    alive = overview_html(admin)
    assert 'data-worker="alive"' in alive and "Worker alive" in alive and "No worker has ticked" not in alive

    six_minutes_ago = system_now() - timedelta(minutes=6)
    WorkerHeartbeat.objects.update(last_tick_at=six_minutes_ago)
    silent = overview_html(admin)
    assert 'data-worker="stale"' in silent and 'role="alert"' in silent
    assert "No worker has ticked for 5 minutes." in silent
    assert f"The last tick was at {six_minutes_ago:%-d %b %Y, %H:%M:%S} UTC (6\xa0minutes ago)" in silent


def test_esim_stock_per_carrier_shows_empty_and_low_carriers_too(clock):
    clock.set(START)
    make_carrier(code="verizon")  # none in stock
    for _ in range(12):
        make_esim(carrier="att")
    for _ in range(3):
        make_esim(carrier="tmobile")
    make_subscription(plan=make_plan(carrier="tmobile"))  # its eSIM is assigned, not in stock

    stock = queries.overview().esim_stock

    assert stock == [Stock("AT&T", 12), Stock("T-Mobile", 3), Stock("Verizon", 0)]
    assert [s.carrier for s in queries.overview().low_stock] == ["T-Mobile", "Verizon"]
    html = overview_html(staff_client(Role.ADMIN))
    assert re.search(r'data-stock="Verizon"><th scope="row">Verizon</th><td class="num">0 <span[^>]*>low<', html)
    assert "?status__exact=available" in html


def test_suspended_subscriptions_show_when_their_numbers_are_released(clock, settings):
    settings.SIMRENEW_RETENTION_DAYS = 30
    clock.set(START)
    lapsing = make_subscription(auto_renew=False)  # one month, not renewed
    renew(make_subscription())  # paid for a second month: still in service
    ended = lapsing.paid_through
    assert ended is not None

    clock.set(ended + timedelta(days=2))
    suspended = queries.overview().suspended

    assert suspended.total == 1
    [shown] = suspended.soonest
    assert (shown.subscription_id, shown.ended_at, shown.released_at) == (lapsing.pk, ended, ended + timedelta(days=30))
    html = overview_html(staff_client(Role.SUPPORT))
    row = re.search(rf'<tr data-suspended="{lapsing.pk}">.*?</tr>', html)
    assert row is not None
    assert lapsing.esim.msisdn in row.group() and f"{ended + timedelta(days=30):%-d %b %Y, %H:%M} UTC" in row.group()
    assert reverse("admin:customers_customer_change", args=[lapsing.customer_id]) in row.group()
    assert "a number is released 30 days after its service ended" in html

    clock.set(ended + timedelta(days=31))  # past the window, and no worker terminated it yet
    late = re.search(rf'<tr data-suspended="{lapsing.pk}">.*?</tr>', overview_html(staff_client(Role.SUPPORT)))
    assert late is not None and ">overdue<" in late.group()


def test_refunds_owed_are_those_pending_or_failed(clock):
    clock.set(START)
    subscriptions = [make_subscription() for _ in range(3)]
    invoices = [Invoice.objects.get(subscription=s) for s in subscriptions]
    with transaction.atomic():
        waiting = refund_for_operator(invoice=invoices[0], amount_minor=700, reason="goodwill", to_wallet=False)
        refused = refund_for_operator(invoice=invoices[1], amount_minor=400, reason="goodwill", to_wallet=False)
        paid = refund_for_operator(invoice=invoices[2], amount_minor=100, reason="goodwill", to_wallet=False)
    Refund.objects.filter(pk=refused.pk).update(status=RefundStatus.FAILED, failure_message="card closed")
    Refund.objects.filter(pk=paid.pk).update(status=RefundStatus.SUCCEEDED, completed_at=START)
    assert waiting.status == RefundStatus.PENDING

    owed = queries.overview().refunds_owed

    assert owed == [RefundsOwed("failed", "USD", 1, 400), RefundsOwed("pending", "USD", 1, 700)]
    html = overview_html(staff_client(Role.FINANCE))
    assert re.search(r'data-refunds="pending">.*?<td class="num">1</td><td class="num">\$7\.00</td>', html)
    assert "?status__exact=failed" in html


def test_a_refused_refund_is_no_longer_owed_once_a_newer_try_for_its_invoice_is_paid(clock):
    clock.set(START)
    invoice = Invoice.objects.get(subscription=make_subscription())
    with transaction.atomic():
        refused = refund_for_operator(invoice=invoice, amount_minor=400, reason="goodwill", to_wallet=False)
    Refund.objects.filter(pk=refused.pk).update(status=RefundStatus.FAILED, failure_message="card closed")
    assert queries.overview().refunds_owed == [RefundsOwed("failed", "USD", 1, 400)]
    with transaction.atomic():  # asked again, and paid this time
        again = refund_for_operator(invoice=invoice, amount_minor=400, reason="goodwill", to_wallet=False)
    Refund.objects.filter(pk=again.pk).update(status=RefundStatus.SUCCEEDED, completed_at=START)

    assert queries.overview().refunds_owed == []


def test_the_customer_page_shows_the_wallet_balance_and_every_saved_method(clock):
    clock.set(START)
    subscription = make_subscription()
    customer = subscription.customer
    make_wallet(customer=customer, balance_minor=1250)
    old_card = make_card(customer=customer, number="5555555555554444")
    remove_payment_method(old_card)

    page = staff_client(Role.SUPPORT).get(reverse("admin:customers_customer_change", args=[customer.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    section = html[html.index('id="console-wallet"') : html.index('id="console-esims"')]
    assert "<td data-wallet-balance>$12.50</td>" in section
    assert "•••• 4242" in section and "•••• 4444" in section and "wallet balance" in section
    assert section.index("•••• 4242") < section.index("•••• 4444")  # usable first, removed last
    assert "removed 2026-03-01" in section


def test_the_sidebar_names_models_as_people_say_them(clock):
    html = staff_client(Role.ADMIN).get(reverse("admin:console_apps")).content.decode()

    for name in ("Deliveries", "Sandbox SMS", "eSIM profiles", "API keys", "Top-up packs"):
        assert f">{name}<" in html, name
    assert "Deliverys" not in html and "Smss" not in html


def test_the_overview_counts_what_the_esim_world_leaves_for_an_operator(clock, wall_clock):
    """Failed line orders (their lines wait), orders unfinished after an hour, SM-DP+ orders lost and
    failed downloads, each linking to its list."""
    from simrenew.provisioning.models import Line, LineOrder, ProfileOrder
    from tests.factories import make_customer, make_esim

    esim = make_esim(customer=make_customer())
    now = clock.now()
    line = Line.objects.create(esim=esim, carrier=esim.carrier, created_at=now)
    for sequence, status, sent_at in [
        (1, "failed", wall_clock.now),
        (2, "in_progress", wall_clock.now - timedelta(hours=2)),
        (3, "queued", None),
    ]:
        LineOrder.objects.create(
            line=line,
            sequence=sequence,
            change="suspend",
            action="modify",
            external_id=f"simrenew-{line.pk}-{sequence}",
            body={},
            status=status,
            sent_at=sent_at,
            next_attempt_at=wall_clock.now,
            created_at=now,
        )
    ProfileOrder.objects.create(
        carrier=esim.carrier, customer=esim.customer, profile_type="t", status="lost", created_at=now, updated_at=now
    )
    EsimProfile.objects.filter(pk=esim.pk).update(status="download_failed")

    figures = queries.overview().provisioning
    html = staff_client("support").get("/admin/").content.decode()

    assert (figures.line_orders_failed, figures.line_orders_stuck) == (1, 1)
    assert (figures.profile_orders_lost, figures.downloads_failed) == (1, 1)
    assert 'data-provisioning="line_orders_failed" class="console-low"' in html
    assert "?needs_operator=yes" in html and "?status__exact=download_failed" in html
