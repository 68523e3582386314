"""The database side of the worker fault stories, run as its own process so that it
shares the database the `simrenew` processes use (never pytest's in-memory one).

    python -m tests.worker.scenario seed --at ISO --count N [--card NUMBER=COUNT ...] [--webhooks URL]
    python -m tests.worker.scenario report

`seed` freezes the test clock at `--at` and creates N live subscriptions in their
first period, due for auto-renew now (benchmarks.seed), then gives COUNT of them,
picked at random, the test card NUMBER instead of a good one. `--webhooks` adds two
endpoints for "subscription.renewed": one at URL (unreachable, so its deliveries are
retried) and one without a signing secret (so its deliveries die at once).

`report` prints, as one JSON object, what the books say: for each subscription its
periods, the successful charges in the sandbox gateway's own ledger per period
number, its auto-renewal attempts and the notices it was sent; and across all of
them every place where money and invoices disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

GOOD_CARD = "4242424242424242"
KEY_PREFIX = "auto-renew:"


def seed(*, at: datetime, count: int, cards: dict[str, int], webhooks_url: str | None, rng_seed: int) -> dict[str, Any]:
    from django.db import transaction

    from benchmarks.seed import seed_subscriptions
    from simrenew.kit import clock
    from simrenew.payments.models import PaymentMethod, SandboxToken
    from simrenew.payments.sandbox import TEST_CARDS
    from simrenew.subscriptions.models import Subscription
    from simrenew.webhooks.models import WebhookEndpoint

    # One transaction: a worker already running sees all of it at once, cards and webhooks included.
    with transaction.atomic():
        clock.set_now(at)
        ids = seed_subscriptions(count, ends_in=timedelta(days=2), due=True)
        shuffled = list(ids)
        random.Random(rng_seed).shuffle(shuffled)
        by_card: dict[str, list[int]] = {}
        for number, how_many in cards.items():
            chosen, shuffled = shuffled[:how_many], shuffled[how_many:]
            token = SandboxToken.objects.create(
                token=f"tok_sandbox_test_{number}",
                behaviour=TEST_CARDS[number],
                brand="visa",
                last4=number[-4:],
                created_at=at,
            )
            customers = Subscription.objects.filter(pk__in=chosen).values("customer_id")
            PaymentMethod.objects.filter(customer_id__in=customers).update(token=token.token, last4=number[-4:])
            by_card[number] = sorted(chosen)
        by_card[GOOD_CARD] = sorted(shuffled)
        if webhooks_url:
            for url, secret in (
                (webhooks_url, "whsec_dGhlIHVucmVhY2hhYmxlIG9uZQ=="),
                ("https://example.com/hooks", ""),
            ):
                WebhookEndpoint.objects.create(
                    url=url, secret=secret, event_types=["subscription.renewed"], created_at=at
                )
    return {"subscriptions": len(ids), "by_card": {number: len(chosen) for number, chosen in by_card.items()}}


def report() -> dict[str, Any]:
    from simrenew.billing.models import Invoice
    from simrenew.kit import clock
    from simrenew.notifications.models import OutboxMessage
    from simrenew.payments.models import PaymentAttempt, SandboxCharge, SandboxToken
    from simrenew.subscriptions.models import Period, Subscription

    behaviours = dict(SandboxToken.objects.values_list("token", "behaviour"))
    periods: dict[int, list[int]] = defaultdict(list)
    for subscription_id, number in Period.objects.order_by("number").values_list("subscription_id", "number"):
        periods[subscription_id].append(number)

    ledger = {
        charge.idempotency_key: charge
        for charge in SandboxCharge.objects.filter(idempotency_key__startswith=KEY_PREFIX)
    }
    paid_charges: dict[int, Counter[int]] = defaultdict(Counter)
    declined_charges: Counter[int] = Counter()
    for key, charge in ledger.items():
        _, subscription_id, period_number, *_ = key.split(":")
        if charge.status == "succeeded":
            paid_charges[int(subscription_id)][int(period_number)] += 1
        else:
            declined_charges[int(subscription_id)] += 1

    attempts = list(PaymentAttempt.objects.filter(purpose="auto_renewal").order_by("id"))
    by_subscription: dict[int, list[PaymentAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_subscription[attempt.subscription_id or 0].append(attempt)
    invoices = {invoice.payment_attempt_id: invoice for invoice in Invoice.objects.filter(payment_attempt__in=attempts)}
    invoiced_periods = set(Period.objects.filter(invoice__in=invoices.values()).values_list("invoice_id", flat=True))

    notices: dict[int, list[dict[str, Any]]] = defaultdict(list)
    renewed_notices: Counter[int] = Counter()
    for message in OutboxMessage.objects.filter(
        event_type__in=["subscription.renewal_failed", "subscription.renewed"]
    ).order_by("id"):
        if message.event_type == "subscription.renewed":
            renewed_notices[message.subscription_id or 0] += 1
        else:
            payload = message.payload
            notices[message.subscription_id or 0].append(
                {key: payload.get(key) for key in ("failure_code", "action", "next_retry_at")}
            )

    money_problems: list[str] = []
    for attempt in attempts:
        charge = ledger.get(attempt.idempotency_key)
        invoice = invoices.get(attempt.pk)
        if attempt.status == "succeeded":
            if charge is None or charge.status != "succeeded":
                money_problems.append(f"attempt {attempt.pk} succeeded but the gateway has no successful charge")
            elif charge.amount_minor != attempt.amount_minor or charge.currency != attempt.currency:
                money_problems.append(f"attempt {attempt.pk} for {attempt.amount_minor} charged {charge.amount_minor}")
            if invoice is None:
                money_problems.append(f"attempt {attempt.pk} succeeded without an invoice")
            elif invoice.total_minor != attempt.amount_minor or invoice.currency != attempt.currency:
                money_problems.append(
                    f"invoice {invoice.number} says {invoice.total_minor}, paid {attempt.amount_minor}"
                )
            elif invoice.pk not in invoiced_periods:
                money_problems.append(f"invoice {invoice.number} pays for no period")
        else:
            # An open attempt may still learn that it was paid (reconciliation); a failed one never will.
            if attempt.status == "failed" and charge is not None and charge.status == "succeeded":
                money_problems.append(f"attempt {attempt.pk} failed but the gateway took the money")
            if invoice is not None:
                money_problems.append(f"attempt {attempt.pk} is {attempt.status} but has invoice {invoice.number}")
    attempt_keys = {attempt.idempotency_key for attempt in attempts}
    money_problems.extend(
        f"the gateway charged key {key} that no attempt knows" for key in ledger if key not in attempt_keys
    )

    system_now = clock.system_now()
    subscriptions = []
    for subscription in Subscription.objects.select_related("payment_method").order_by("id"):
        tried = by_subscription.get(subscription.pk, [])
        subscriptions.append(
            {
                "id": subscription.pk,
                "card": behaviours.get(subscription.payment_method.token if subscription.payment_method else "", ""),
                "state": subscription.state,
                "periods": periods.get(subscription.pk, []),
                "renewal_due_at": subscription.renewal_due_at.isoformat() if subscription.renewal_due_at else None,
                "live_claim": bool(subscription.claim_expires_at and subscription.claim_expires_at > system_now),
                "paid_charges": {str(n): c for n, c in sorted(paid_charges[subscription.pk].items())},
                "declined_charges": declined_charges[subscription.pk],
                "attempts": dict(Counter(attempt.status for attempt in tried)),
                "failure_codes": [attempt.failure_code for attempt in tried if attempt.status == "failed"],
                # Attempts settled after the moment they were made: by reconciliation, once the clock had moved.
                "settled_later": sum(1 for a in tried if a.completed_at is not None and a.completed_at > a.created_at),
                "renewal_failed_notices": notices.get(subscription.pk, []),
                "renewed_notices": renewed_notices[subscription.pk],
            }
        )
    return {
        "now": clock.now().isoformat(),
        "subscriptions": subscriptions,
        "money_problems": money_problems,
        "invoice_number_gaps": _gaps(Invoice.objects.values_list("number", flat=True)),
        "open_attempts": sum(1 for attempt in attempts if attempt.status in ("pending", "unknown")),
    }


def _gaps(numbers: Iterable[str]) -> list[int]:
    """The numbers missing from the run SR-00000001, SR-00000002, … (invoice numbers are gapless)."""
    issued = {int(number.removeprefix("SR-")) for number in numbers}
    return sorted(set(range(1, max(issued, default=0) + 1)) - issued)[:20]


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
    import django

    django.setup()
    parser = argparse.ArgumentParser(prog="python -m tests.worker.scenario")
    verbs = parser.add_subparsers(dest="verb", required=True)
    seeding = verbs.add_parser("seed")
    seeding.add_argument("--at", required=True, type=datetime.fromisoformat)
    seeding.add_argument("--count", required=True, type=int)
    seeding.add_argument("--card", action="append", default=[], help="NUMBER=COUNT")
    seeding.add_argument("--webhooks", default=None)
    seeding.add_argument("--random-seed", type=int, default=4)
    verbs.add_parser("report")
    options = parser.parse_args(argv)
    if options.verb == "seed":
        cards = {number: int(count) for number, count in (card.split("=") for card in options.card)}
        at = options.at.astimezone(UTC)
        result = seed(
            at=at, count=options.count, cards=cards, webhooks_url=options.webhooks, rng_seed=options.random_seed
        )
    else:
        result = report()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
