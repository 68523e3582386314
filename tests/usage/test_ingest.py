"""Usage ingestion: deduplicated, charged to the period each record falls in, bad records refused with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simrenew.subscriptions.models import Period
from simrenew.subscriptions.queries import view
from simrenew.usage.models import UsageRecord
from simrenew.usage.services import IncomingUsage, ingest
from tests.factories import make_esim, make_plan, make_subscription, renew, valid_iccid

MB = 1024 * 1024
FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def usage(iccid: str, record_id: str, *, mb: int = 100, at: datetime, source: str = "att-cdr") -> IncomingUsage:
    return IncomingUsage(source=source, record_id=record_id, iccid=iccid, bytes=mb * MB, occurred_at=at)


def used_mb(subscription) -> list[int]:
    return [p.used_bytes // MB for p in Period.objects.filter(subscription=subscription).order_by("number")]


def test_used_data_comes_off_what_is_left(clock):
    subscription = make_subscription(plan=make_plan(data_mb=10_240))
    iccid = subscription.esim.iccid

    report = ingest([usage(iccid, "r1", mb=512, at=clock.now()), usage(iccid, "r2", mb=256, at=clock.now())])

    assert (report.accepted, report.duplicates, report.rejected) == (2, 0, [])
    assert view(subscription).data_left_mb == 10_240 - 768
    assert UsageRecord.objects.filter(period__subscription=subscription).count() == 2


def test_a_record_sent_twice_in_one_batch_counts_once(clock):
    subscription = make_subscription()
    iccid = subscription.esim.iccid
    record = usage(iccid, "dup", mb=300, at=clock.now())

    report = ingest([record, record, usage(iccid, "dup", mb=999, at=clock.now())])

    assert (report.accepted, report.duplicates) == (1, 2)
    assert used_mb(subscription) == [300]


def test_a_record_sent_again_in_a_later_batch_counts_once(clock):
    subscription = make_subscription()
    iccid = subscription.esim.iccid
    ingest([usage(iccid, "r1", mb=300, at=clock.now())])
    clock.advance(hours=1)

    report = ingest(
        [usage(iccid, "r1", mb=300, at=clock.now() - timedelta(hours=1)), usage(iccid, "r2", at=clock.now())]
    )

    assert (report.accepted, report.duplicates) == (1, 1)
    assert used_mb(subscription) == [400]
    assert UsageRecord.objects.count() == 2


def test_the_same_record_id_from_another_source_is_another_record(clock):
    subscription = make_subscription()
    iccid = subscription.esim.iccid

    report = ingest(
        [usage(iccid, "42", at=clock.now(), source="att-cdr"), usage(iccid, "42", at=clock.now(), source="sgw")]
    )

    assert (report.accepted, report.duplicates) == (2, 0)
    assert used_mb(subscription) == [200]


def test_a_late_record_is_charged_to_the_past_period_it_happened_in(clock):
    subscription = make_subscription(plan=make_plan(data_mb=5000))
    renew(subscription)
    subscription.refresh_from_db()
    clock.set(FIRST_END + timedelta(days=2))  # the second period is running

    report = ingest([usage(subscription.esim.iccid, "late", mb=700, at=FIRST_END - timedelta(hours=3))])

    assert report.accepted == 1
    assert used_mb(subscription) == [700, 0]
    assert view(subscription).data_left_mb == 5000
    assert UsageRecord.objects.get().period.number == 1


def test_records_out_of_order_each_land_in_their_own_period(clock):
    subscription = make_subscription(plan=make_plan(data_mb=5000))
    renew(subscription)
    subscription.refresh_from_db()
    clock.set(FIRST_END + timedelta(days=1))
    iccid = subscription.esim.iccid

    report = ingest(
        [
            usage(iccid, "c", mb=30, at=FIRST_END + timedelta(hours=5)),
            usage(iccid, "a", mb=10, at=FIRST_END - timedelta(days=20)),
            usage(iccid, "d", mb=40, at=FIRST_END),  # the boundary belongs to the new period
            usage(iccid, "b", mb=20, at=FIRST_END - timedelta(microseconds=1)),
        ]
    )

    assert report.accepted == 4
    assert used_mb(subscription) == [30, 70]
    assert view(subscription).data_left_mb == 5000 - 70


def test_usage_outside_any_paid_period_is_kept_but_charged_to_none(clock):
    subscription = make_subscription()
    before_it_started = clock.now() - timedelta(days=1)

    report = ingest([usage(subscription.esim.iccid, "early", at=before_it_started)])

    assert report.accepted == 1
    assert UsageRecord.objects.get().period is None
    assert used_mb(subscription) == [0]


def test_bad_records_are_refused_with_reasons_and_the_good_ones_are_kept(clock):
    subscription = make_subscription()
    iccid = subscription.esim.iccid
    now = clock.now()
    unknown = valid_iccid(999_999)

    report = ingest(
        [
            usage(iccid, "good", mb=10, at=now),
            usage(unknown, "stranger", at=now),
            IncomingUsage(source="att-cdr", record_id="negative", iccid=iccid, bytes=-1, occurred_at=now),
            IncomingUsage(source="att-cdr", record_id="naive", iccid=iccid, bytes=1, occurred_at=datetime(2026, 1, 15)),
            usage(iccid, "future", at=now + timedelta(minutes=6)),
            usage(iccid, "", at=now),
            usage(iccid, "slightly-ahead", mb=5, at=now + timedelta(minutes=4)),  # clocks drift a little
        ]
    )

    assert report.accepted == 2
    assert [(r.index, r.record_id) for r in report.rejected] == [
        (1, "stranger"),
        (2, "negative"),
        (3, "naive"),
        (4, "future"),
        (5, ""),
    ]
    reasons = [r.reason for r in report.rejected]
    assert reasons[0] == f"unknown ICCID {unknown}"
    assert "negative" in reasons[1]
    assert "UTC offset" in reasons[2]
    assert "future" in reasons[3]
    assert "required" in reasons[4]
    assert used_mb(subscription) == [15]


def test_usage_of_an_esim_without_a_subscription_is_recorded_unassigned(clock):
    esim = make_esim()

    report = ingest([usage(esim.iccid, "r", at=clock.now())])

    assert report.accepted == 1
    assert UsageRecord.objects.get().esim_id == esim.pk


def test_an_empty_batch_is_fine(clock):
    report = ingest([])

    assert (report.accepted, report.duplicates, report.rejected) == (0, 0, [])


def test_after_cancelling_now_and_buying_again_on_the_same_esim_usage_counts_against_the_new_plan(clock):
    from simrenew.payments.charging import run_charge
    from simrenew.subscriptions.cancellation import cancel
    from simrenew.subscriptions.models import Subscription
    from simrenew.subscriptions.renewals import begin_subscription

    old = make_subscription(plan=make_plan(data_mb=1000))
    clock.advance(days=5)
    cancel(old, when="now")
    bigger = make_plan(data_mb=20_000)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=old.esim,
            plan=bigger,
            payment_method=old.payment_method,
            auto_renew=True,
            promo_code=None,
            idempotency_key="second-plan",
        )
    )
    new = Subscription.objects.get(pk=attempt.subscription_id)
    clock.advance(hours=2)

    ingest([usage(old.esim.iccid, "after-switch", mb=500, at=clock.now())])

    assert used_mb(old) == [0]
    assert used_mb(new) == [500]
    assert view(new).data_left_mb == 19_500
