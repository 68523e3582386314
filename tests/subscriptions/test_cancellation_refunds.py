"""Cancelling now pays back what the customer will not get, under the operator's policy
(SIMRENEW_CANCEL_REFUND_POLICY): a month running with a year paid ahead is the story of the walk
that found US$349 kept."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from simrenew.billing.models import Invoice, Refund
from simrenew.billing.refunds import request_refund
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.models import SandboxRefund, Wallet
from simrenew.subscriptions.cancellation import (
    QUOTE_HONOURED_FOR,
    RefundPart,
    RefundPolicy,
    cancel,
    cancel_now_refund,
    cancellation_refund_key,
    cancellation_refunds,
    finish_cancellation_refunds,
    unused_share_minor,
)
from simrenew.subscriptions.models import Period, Subscription
from simrenew.worker.runner import Worker
from tests.factories import make_plan, make_subscription, make_wallet, renew

MONTH_PRICE = 2500
YEAR_PRICE = 34900


def month_with_a_year_paid_ahead(*, pay_year_with_wallet: bool = False) -> Subscription:
    """$25 month running since Jan 15 12:00 UTC (to Feb 15, 31 days), $349 year from Feb 15 paid ahead."""
    subscription = make_subscription(plan=make_plan(price_minor=MONTH_PRICE, name="AT&T 1 month"))
    year = make_plan(period_unit="year", price_minor=YEAR_PRICE, data_mb=102_400, name="AT&T 1 year")
    method = make_wallet(customer=subscription.customer, balance_minor=40_000) if pay_year_with_wallet else None
    paid = renew(subscription, plan=year, payment_method=method) if method else renew(subscription, plan=year)
    assert paid.status == "succeeded", paid.failure_message
    subscription.refresh_from_db()
    return subscription


def invoice_of(subscription: Subscription, number: int) -> Invoice:
    return Period.objects.get(subscription=subscription, number=number).invoice


def cancel_now(subscription: Subscription) -> list[Refund]:
    """What the portal and the API do: cancel and write the refunds in one transaction, then ask the gateway."""
    with transaction.atomic():
        cancel(subscription, when="now")
    return finish_cancellation_refunds(subscription.pk)


def cancelled_event() -> dict[str, object]:
    [event] = OutboxMessage.objects.filter(event_type="subscription.cancelled")
    return dict(event.payload)


def test_by_default_the_year_not_started_goes_back_to_the_card_in_full_and_the_running_month_is_kept(clock):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)

    quote = cancel_now_refund(subscription)

    assert quote.policy == RefundPolicy.UNSTARTED
    assert [(line.period.number, line.part, line.amount_minor) for line in quote.periods] == [
        (1, RefundPart.RUNNING, 0),
        (2, RefundPart.UNSTARTED, YEAR_PRICE),
    ]
    assert not quote.periods[1].to_wallet

    [refund] = cancel_now(subscription)

    assert (refund.invoice_id, refund.amount_minor, refund.status) == (
        invoice_of(subscription, 2).pk,
        YEAR_PRICE,
        "succeeded",
    )
    assert refund.idempotency_key == cancellation_refund_key(subscription.pk, refund.invoice_id)
    [at_gateway] = SandboxRefund.objects.all()  # the gateway's own books
    assert (at_gateway.amount_minor, at_gateway.idempotency_key) == (YEAR_PRICE, refund.idempotency_key)
    assert invoice_of(subscription, 2).status == "refunded"
    assert invoice_of(subscription, 1).refunded_minor == 0
    event = cancelled_event()
    assert (event["refund_policy"], event["refund_minor"], event["refund_unused_minor"]) == ("unstarted", YEAR_PRICE, 0)
    assert (event["refund_to_wallet_minor"], event["refund_currency"]) == (0, "USD")
    assert OutboxMessage.objects.filter(event_type="payment.refunded").count() == 1


def test_under_the_none_policy_cancelling_now_refunds_nothing(clock, settings):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "none"
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)

    assert cancel_now_refund(subscription).total_minor == 0
    assert cancel_now(subscription) == []

    assert not Refund.objects.exists()
    assert not SandboxRefund.objects.exists()
    assert (cancelled_event()["refund_policy"], cancelled_event()["refund_minor"]) == ("none", 0)


def test_under_the_prorata_policy_the_unused_part_of_the_running_month_is_refunded_too_rounded_up(clock, settings):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)  # 21 of the month's 31 days unused: 2500 x 21 / 31 = 1693.5… → 1694

    refunds = cancel_now(subscription)

    assert [(r.invoice_id, r.amount_minor, r.status) for r in refunds] == [
        (invoice_of(subscription, 1).pk, 1694, "succeeded"),
        (invoice_of(subscription, 2).pk, YEAR_PRICE, "succeeded"),
    ]
    assert sorted(SandboxRefund.objects.values_list("amount_minor", flat=True)) == [1694, YEAR_PRICE]
    assert invoice_of(subscription, 1).status == "partially_refunded"
    event = cancelled_event()
    assert (event["refund_minor"], event["refund_unused_minor"]) == (1694 + YEAR_PRICE, 1694)


def test_the_unused_share_is_rounded_in_the_customers_favour_and_never_exceeds_what_was_paid(clock):
    start = clock.now()
    end = start + timedelta(days=3)

    assert unused_share_minor(paid_minor=1000, starts_at=start, ends_at=end, at=start + timedelta(days=2)) == 334
    assert unused_share_minor(paid_minor=1000, starts_at=start, ends_at=end, at=start) == 1000
    assert unused_share_minor(paid_minor=1000, starts_at=start, ends_at=end, at=start - timedelta(days=1)) == 1000
    assert unused_share_minor(paid_minor=1000, starts_at=start, ends_at=end, at=end) == 0


def test_a_period_paid_from_the_wallet_goes_back_to_the_wallet_at_once(clock):
    subscription = month_with_a_year_paid_ahead(pay_year_with_wallet=True)
    wallet = Wallet.objects.get(customer=subscription.customer)
    assert wallet.balance_minor == 40_000 - YEAR_PRICE
    clock.advance(days=10)
    assert cancel_now_refund(subscription).periods[1].to_wallet

    with transaction.atomic():
        cancel(subscription, when="now")

    [refund] = cancellation_refunds(subscription.pk)
    assert (refund.amount_minor, refund.to_wallet, refund.status) == (YEAR_PRICE, True, "succeeded")
    wallet.refresh_from_db()
    assert wallet.balance_minor == 40_000
    assert not SandboxRefund.objects.exists()  # nothing went through the gateway


def test_cancelling_twice_or_retrying_the_refund_pays_back_once(clock):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)

    cancel_now(subscription)
    clock.advance(minutes=5)
    again = cancel_now(subscription)
    with transaction.atomic():  # the same key asked again, as a retried request would
        replay = request_refund(
            invoice=invoice_of(subscription, 2),
            amount_minor=YEAR_PRICE,
            reason="retried",
            idempotency_key=cancellation_refund_key(subscription.pk, invoice_of(subscription, 2).pk),
        )

    assert [r.pk for r in again] == [replay.pk] == [Refund.objects.get().pk]
    assert SandboxRefund.objects.count() == 1
    assert invoice_of(subscription, 2).refunded_minor == YEAR_PRICE
    assert OutboxMessage.objects.filter(event_type="subscription.cancelled").count() == 1


def test_a_crash_after_the_cancellation_committed_leaves_a_pending_refund_that_the_reconciler_finishes(
    clock, wall_clock
):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    with transaction.atomic():
        cancel(subscription, when="now")
    # The process died here: the gateway was never asked.
    [pending] = cancellation_refunds(subscription.pk)
    assert pending.status == "pending"
    assert not SandboxRefund.objects.exists()

    wall_clock.advance(minutes=2)  # retries are scheduled on the system clock (billing.refunds)
    call_command("reconcile", stdout=open(os.devnull, "w"))  # noqa: SIM115
    call_command("reconcile", stdout=open(os.devnull, "w"))  # noqa: SIM115

    [done] = cancellation_refunds(subscription.pk)
    assert (done.status, done.amount_minor) == ("succeeded", YEAR_PRICE)
    assert SandboxRefund.objects.count() == 1
    assert invoice_of(subscription, 2).status == "refunded"


def test_the_worker_finishes_a_refund_whose_gateway_call_was_lost(clock, wall_clock):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    with transaction.atomic():
        cancel(subscription, when="now")
    wall_clock.advance(minutes=2)  # retries are scheduled on the system clock (billing.refunds)

    Worker(worker_id="test-worker").run_once(scan=False)

    assert [r.status for r in cancellation_refunds(subscription.pk)] == ["succeeded"]
    assert SandboxRefund.objects.count() == 1


def test_the_refund_shown_is_the_refund_made_when_confirmed_soon_after(clock, settings):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    shown = cancel_now_refund(subscription)
    clock.advance(minutes=20)  # the customer read the page, then confirmed
    too_old = clock.now() - QUOTE_HONOURED_FOR - timedelta(seconds=1)
    assert cancel_now_refund(subscription, as_of=too_old).as_of == clock.now()  # worked out afresh

    with transaction.atomic():
        cancel(subscription, when="now", refund_as_of=shown.as_of)

    assert [r.amount_minor for r in cancellation_refunds(subscription.pk)] == [1694, YEAR_PRICE]
    subscription.refresh_from_db()
    assert cancel_now_refund(subscription).periods == ()  # cancelled now: nothing more to refund


def test_cancelling_at_period_end_refunds_nothing_and_the_year_still_runs(clock):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)

    with transaction.atomic():
        cancel(subscription, when="period_end")

    assert not Refund.objects.exists()
    assert cancelled_event()["refund_minor"] == 0


SIMRENEW = str(Path(sys.executable).with_name("simrenew"))


@pytest.mark.parametrize("value", ["sometimes", "pro-rata", " "])
def test_a_misspelt_refund_policy_refuses_to_start_and_says_what_to_set(tmp_path: Path, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "simrenew.settings",
        "SIMRENEW_SANDBOX": "1",
        "SIMRENEW_VAR_DIR": str(tmp_path),
        "SIMRENEW_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SIMRENEW_CANCEL_REFUND_POLICY": value,
    }

    started = subprocess.run([SIMRENEW, "check"], env=env, capture_output=True, text=True, timeout=120)

    assert started.returncode == 1
    assert "SIMRENEW_CANCEL_REFUND_POLICY" in started.stderr
    assert "none, unstarted, prorata" in started.stderr
    assert "Traceback" not in started.stderr


def test_each_policy_value_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}
    env |= {"SIMRENEW_SANDBOX": "1", "SIMRENEW_VAR_DIR": str(tmp_path)}
    code = "import simrenew.settings as s; print(s.SIMRENEW_CANCEL_REFUND_POLICY)"
    for value, expected in [("PRORATA", "prorata"), (" none ", "none")]:
        shown = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "SIMRENEW_CANCEL_REFUND_POLICY": value},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.stdout.strip() == expected, shown.stderr
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert unset.stdout.strip() == "unstarted"
    assert [policy.value for policy in RefundPolicy] == ["none", "unstarted", "prorata"]


def test_the_cancellation_email_says_what_is_refunded_and_where(clock):
    from simrenew.notifications.rendering import render_email

    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    cancel_now(subscription)
    [message] = OutboxMessage.objects.filter(event_type="subscription.cancelled")

    email = render_email(message, subscription.customer)

    assert "We are refunding $349.00 to the card or PayPal account you paid with" in email.text
    assert "Amount being refunded" in email.text
    assert "wallet" not in email.text


def refusing_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The payment provider refuses every refund (a closed card, say), until `monkeypatch.undo()`."""
    from simrenew.payments.gateway import RefundResult
    from simrenew.payments.sandbox import SandboxGateway

    def refuse(self: object, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        return RefundResult(False, failure_message="Card closed")

    monkeypatch.setattr(SandboxGateway, "refund", refuse)


def test_a_refused_cancellation_refund_is_asked_for_again_under_a_new_key_when_cancelling_again(clock, monkeypatch):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    refusing_gateway(monkeypatch)
    [refused] = cancel_now(subscription)
    assert (refused.status, refused.failure_message) == ("failed", "Card closed")
    monkeypatch.undo()  # the card works again

    clock.advance(hours=1)
    refunds = cancel_now(subscription)  # the customer (or the partner's API call) confirms again

    base = cancellation_refund_key(subscription.pk, invoice_of(subscription, 2).pk)
    assert [(r.idempotency_key, r.status, r.amount_minor) for r in refunds] == [
        (base, "failed", YEAR_PRICE),
        (f"{base}_2", "succeeded", YEAR_PRICE),
    ]
    assert invoice_of(subscription, 2).refunded_minor == YEAR_PRICE
    assert cancel_now(subscription) == refunds  # paid now: asking again pays nothing more
    assert SandboxRefund.objects.count() == 1
    assert OutboxMessage.objects.filter(event_type="subscription.cancelled").count() == 1


def test_a_refund_key_still_pending_or_paid_is_never_asked_for_again(clock):
    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    [paid] = cancel_now(subscription)
    with transaction.atomic():
        replay = request_refund(
            invoice=invoice_of(subscription, 2),
            amount_minor=YEAR_PRICE,
            reason="retried",
            idempotency_key=paid.idempotency_key,
        )

    assert replay.pk == paid.pk
    assert Refund.objects.count() == 1


def test_which_periods_run_is_decided_now_whatever_moment_the_quote_showed(clock, settings):
    subscription = month_with_a_year_paid_ahead()
    month_end = Period.objects.get(subscription=subscription, number=1).ends_at
    clock.set(month_end - timedelta(minutes=10))
    shown = cancel_now_refund(subscription)  # the month has 10 minutes left; the year has not started
    assert [(line.part, line.amount_minor) for line in shown.periods] == [
        (RefundPart.RUNNING, 0),
        (RefundPart.UNSTARTED, YEAR_PRICE),
    ]
    clock.advance(minutes=20)  # confirmed 20 minutes later: the month is over, the year runs

    owed = cancel_now_refund(subscription, as_of=shown.as_of)

    # Under `unstarted` the running year is kept: it is not refunded in full as "not started".
    assert [(line.period.number, line.part, line.amount_minor) for line in owed.periods] == [(2, RefundPart.RUNNING, 0)]
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    [year] = cancel_now_refund(subscription, as_of=shown.as_of).periods
    # Its share is worked out now (it was not running at the quoted moment).
    assert year.amount_minor == unused_share_minor(
        paid_minor=YEAR_PRICE, starts_at=year.period.starts_at, ends_at=year.period.ends_at, at=clock.now()
    )


def test_cancelling_now_gives_back_the_promotion_of_a_period_it_made_free_and_not_started(clock):
    from simrenew.catalog.models import PromotionRedemption
    from tests.factories import make_promotion

    subscription = make_subscription(plan=make_plan(price_minor=MONTH_PRICE, name="AT&T 1 month"))
    promotion = make_promotion(code="FREEMONTH", percent_off=100)
    paid = renew(subscription, promo_code="FREEMONTH")
    assert paid.status == "succeeded", paid.failure_message
    assert invoice_of(subscription, 2).total_minor == 0
    assert PromotionRedemption.objects.filter(promotion=promotion).count() == 1
    clock.advance(days=10)

    assert cancel_now(subscription) == []  # nothing was paid, so nothing is refunded

    promotion.refresh_from_db()
    assert promotion.redemptions_count == 0
    assert not PromotionRedemption.objects.filter(promotion=promotion).exists()


def test_a_lost_refund_is_asked_about_again_with_a_growing_wait_not_every_tick(clock, wall_clock, monkeypatch):
    from simrenew.payments.sandbox import SandboxGateway

    subscription = month_with_a_year_paid_ahead()
    clock.advance(days=10)
    with transaction.atomic():
        cancel(subscription, when="now")
    asked: list[str] = []

    def down(self: object, *, charge_id: str, amount_minor: int, idempotency_key: str) -> None:
        asked.append(idempotency_key)
        raise ConnectionError("the payment provider does not answer")

    monkeypatch.setattr(SandboxGateway, "refund", down)
    worker = Worker(worker_id="test-worker")
    wall_clock.advance(minutes=2)  # retries are scheduled on the system clock (billing.refunds)

    worker.run_once(scan=False)
    worker.run_once(scan=False)  # the next tick, a second later: not asked again
    wall_clock.advance(seconds=61)
    worker.run_once(scan=False)  # a minute later: asked again, then the wait doubles
    wall_clock.advance(seconds=61)
    worker.run_once(scan=False)
    assert len(asked) == 2
    wall_clock.advance(seconds=60)
    monkeypatch.undo()  # the gateway is back
    worker.run_once(scan=False)

    assert [r.status for r in cancellation_refunds(subscription.pk)] == ["succeeded"]
    assert SandboxRefund.objects.count() == 1
