"""What `simrenew worker --status` shows: what is due, claimed, retrying and dead."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, ExpressionWrapper, OuterRef
from django.db.models.fields import DateTimeField

from simrenew.kit import clock
from simrenew.notifications import delivery
from simrenew.payments.models import OPEN_ATTEMPT_STATUSES, AttemptPurpose, AttemptStatus, PaymentAttempt
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.schedule import retry_offsets
from simrenew.subscriptions.status import due_for_auto_renew_q, lapsed_q, renews_automatically_q


def worker_status() -> dict[str, int]:
    now = clock.now()
    renewing = Subscription.objects.filter(renews_automatically_q(now))
    window_start = ExpressionWrapper(OuterRef("paid_through") - retry_offsets()[0], output_field=DateTimeField())
    failed_this_period = PaymentAttempt.objects.filter(
        subscription=OuterRef("pk"),
        purpose=AttemptPurpose.AUTO_RENEWAL,
        status=AttemptStatus.FAILED,
        created_at__gte=window_start,
    )
    unsettled = PaymentAttempt.objects.filter(status__in=OPEN_ATTEMPT_STATUSES)
    counts = {
        "renewals_due": Subscription.objects.filter(due_for_auto_renew_q(now)).count(),
        "renewals_due_next_24h": renewing.filter(
            renewal_due_at__gt=now, renewal_due_at__lte=now + timedelta(days=1)
        ).count(),
        "renewals_claimed": Subscription.objects.filter(claim_expires_at__gt=clock.system_now()).count(),
        "renewals_retrying": renewing.filter(renewal_due_at__gt=now).filter(Exists(failed_this_period)).count(),
        "renewals_waiting_for_customer": renewing.filter(renewal_due_at__isnull=True).count(),
        "lapsed_not_terminated": Subscription.objects.filter(lapsed_q(now)).count(),
        "payments_unsettled": unsettled.count(),
        "payments_to_reconcile_now": unsettled.filter(reconcile_after__lte=now).count(),
    }
    counts.update({f"deliveries_{name}": value for name, value in delivery.delivery_counts().items()})
    return counts
