"""`simrenew reconcile` settles a renewal whose gateway answer was lost."""

from __future__ import annotations

import io

from django.core.management import call_command

from simrenew.payments.models import SandboxCharge
from tests.factories import make_card, make_subscription, renew


def test_reconcile_finds_the_lost_charge_and_appends_exactly_one_period(clock):
    subscription = make_subscription()
    lost_answer = make_card(customer=subscription.customer, number="4000000000000408")
    attempt = renew(subscription, payment_method=lost_answer)
    assert attempt.status == "unknown"
    assert subscription.periods.count() == 1

    out = io.StringIO()
    call_command("reconcile", stdout=out)
    assert "nothing due" in out.getvalue()  # not looked up before its time

    clock.advance(minutes=6)
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    call_command("reconcile", stdout=io.StringIO())

    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert subscription.periods.count() == 2
    assert SandboxCharge.objects.filter(idempotency_key=attempt.idempotency_key).count() == 1
    assert "1 succeeded" in out.getvalue()
