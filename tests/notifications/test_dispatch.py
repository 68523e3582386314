"""Planning deliveries: each new event becomes one delivery per channel and recipient,
as the customer chose, plus one per partner endpoint that wants it."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from simrenew.customers.models import NotificationKind
from simrenew.customers.services import Channels, set_notification_preferences, update_customer, wants_notification
from simrenew.notifications.delivery import dispatch_pending
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.services import emit
from simrenew.webhooks.services import create_endpoint
from tests.factories import make_customer, make_subscription
from tests.notifications.helpers import receipt_payload, stored_as_is, texting_customer


def planned(message: OutboxMessage) -> set[tuple[str, str]]:
    return {(d.channel, d.recipient) for d in Delivery.objects.filter(message=message)}


def receipt_event(customer) -> OutboxMessage:
    return emit("subscription.renewed", customer=customer, data=receipt_payload(invoice="SR-1"))


def test_a_receipt_goes_by_email_only_to_a_customer_who_never_chose(clock):
    subscription = make_subscription()
    customer = subscription.customer

    assert dispatch_pending() == 2  # customer.created and subscription.created

    created = OutboxMessage.objects.get(event_type="subscription.created")
    assert planned(created) == {("email", customer.email)}
    assert planned(OutboxMessage.objects.get(event_type="customer.created")) == set()  # partners only: none yet
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"dispatched"}
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.next_attempt_at == clock.now() and delivery.attempts == 0


def test_a_customer_who_wants_receipts_by_sms_and_not_by_email_gets_a_text_only(clock):
    customer = texting_customer(phone="+1 212 555 0100", email=False, kinds=(NotificationKind.RECEIPT,))
    event = receipt_event(customer)

    dispatch_pending()

    assert planned(event) == {("sms", "+12125550100")}


def test_sms_is_never_planned_for_a_customer_without_a_phone_number(clock):
    customer = texting_customer(kinds=(NotificationKind.RECEIPT,))
    update_customer(customer, phone="")  # removed their number after choosing SMS
    event = receipt_event(customer)

    dispatch_pending()

    assert planned(event) == {("email", customer.email)}


def test_each_kind_follows_its_own_choice(clock):
    customer = update_customer(make_customer(), phone="+12125550100")
    set_notification_preferences(
        customer,
        {
            NotificationKind.LOW_DATA: Channels(email=True, sms=True),
            NotificationKind.RECEIPT: Channels(email=False, sms=False),
        },
    )
    low_data = stored_as_is("usage.threshold_reached", customer=customer, data={"percent": 80})
    receipt = receipt_event(customer)

    dispatch_pending()

    assert planned(low_data) == {("email", customer.email), ("sms", "+12125550100")}
    assert planned(receipt) == set()


def test_planning_agrees_with_the_customers_own_rule_for_every_kind(clock):
    quiet = make_customer()
    set_notification_preferences(quiet, {kind: Channels(email=False, sms=False) for kind in NotificationKind})
    loud = texting_customer(kinds=tuple(NotificationKind))
    phoneless = make_customer()
    customers = [quiet, loud, phoneless, make_customer()]
    events = {
        (customer.pk, kind): stored_as_is(event_type, customer=customer, data={})
        for customer in customers
        for event_type, kind in [
            ("subscription.expiring", "expiry_reminder"),
            ("subscription.auto_renew_upcoming", "auto_renew_notice"),
            ("usage.threshold_reached", "low_data"),
            ("subscription.renewal_failed", "payment_failed"),
            ("subscription.suspended", "service_suspended"),
            ("subscription.renewed", "receipt"),
        ]
    }

    dispatch_pending()

    for customer in customers:
        for kind in NotificationKind.values:
            channels = {channel for channel, _ in planned(events[(customer.pk, kind)])}
            expected = {channel for channel in ("email", "sms") if wants_notification(customer, kind, channel)}
            assert channels == expected, (customer.name, kind)


def test_every_enabled_endpoint_that_wants_the_event_gets_its_own_delivery(clock):
    everything = create_endpoint(url="https://partner.example.com/all")
    renewals_only = create_endpoint(url="https://partner.example.com/renewals", event_types=["subscription.renewed"])
    switched_off = create_endpoint(url="https://partner.example.com/off")
    switched_off.enabled = False
    switched_off.save()
    customer = make_customer()
    renewal = receipt_event(customer)
    cancelled = stored_as_is("subscription.cancelled", customer=customer, data={"when": "now"})

    dispatch_pending()

    assert planned(renewal) == {
        ("email", customer.email),
        ("webhook", str(everything.pk)),
        ("webhook", str(renewals_only.pk)),
    }
    assert planned(cancelled) == {("email", customer.email), ("webhook", str(everything.pk))}
    assert Delivery.objects.get(message=renewal, recipient=str(everything.pk)).endpoint == everything
    assert not Delivery.objects.filter(endpoint=switched_off).exists()


def test_dispatching_costs_the_same_number_of_queries_for_five_events_or_fifty(clock):
    create_endpoint(url="https://partner.example.com/all")

    def queries_to_dispatch(count: int) -> tuple[int, int]:
        for n in range(count):
            customer = texting_customer(kinds=(NotificationKind.RECEIPT,)) if n % 2 else make_customer()
            receipt_event(customer)
        OutboxMessage.objects.filter(event_type="customer.created").update(status="dispatched")
        with CaptureQueriesContext(connection) as captured:
            assert dispatch_pending() == count
        statements = [query["sql"] for query in captured.captured_queries]
        inserts = sum(sql.startswith("INSERT") for sql in statements)
        return len(statements) - inserts, inserts

    few, many = queries_to_dispatch(5), queries_to_dispatch(50)

    assert few[0] == many[0]
    # One bulk INSERT, split only where the database limits the parameters of a statement (SQLite: 999).
    assert few[1] == 1 and many[1] <= 2


def test_a_batch_is_at_most_limit_events_and_the_rest_wait_for_the_next(clock):
    customer = make_customer()
    for _ in range(4):
        receipt_event(customer)

    assert dispatch_pending(limit=3) == 3
    assert dispatch_pending(limit=3) == 2  # the last receipt and customer.created
    assert dispatch_pending(limit=3) == 0


def test_bad_events_are_dispatched_without_stopping_the_batch(clock):
    endpoint = create_endpoint(url="https://partner.example.com/all")
    customer = make_customer()
    nobody = emit("subscription.renewed", customer=None, data=receipt_payload(invoice="SR-1"))
    unknown = stored_as_is("subscription.teleported", customer=customer, data={})  # from a later version
    odd_payload = OutboxMessage.objects.create(
        event_type="usage.threshold_reached",
        customer=customer,
        payload=["not", "a", "dict"],
        next_attempt_at=clock.now(),
        created_at=clock.now(),
    )
    fine = receipt_event(customer)

    dispatch_pending()

    assert planned(nobody) == {("webhook", str(endpoint.pk))}
    assert planned(unknown) == {("webhook", str(endpoint.pk))}  # partners asked for every event
    assert planned(odd_payload) == {("email", customer.email), ("webhook", str(endpoint.pk))}
    assert planned(fine) == {("email", customer.email), ("webhook", str(endpoint.pk))}
    assert not OutboxMessage.objects.filter(status="pending").exists()
