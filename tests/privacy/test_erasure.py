"""A customer's account deleted at their request: service ends with the cancel-now refunds, the
login is gone, nothing is sent to them again, and no personal value of theirs remains anywhere in
the database but on the invoices the law keeps, until their retention ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from django.test import Client

from simrenew.api.models import IdempotencyRecord
from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice, Refund
from simrenew.customers.models import Customer
from simrenew.customers.services import create_customer
from simrenew.esims.models import EsimProfile
from simrenew.kit.actors import Actor, ActorKind, acting_as
from simrenew.notifications import payloads
from simrenew.notifications.delivery import deliver_due, dispatch_pending
from simrenew.notifications.events import EventType
from simrenew.notifications.models import Delivery, OutboxMessage, SandboxSms
from simrenew.notifications.services import emit
from simrenew.payments.charging import run_charge
from simrenew.payments.models import PaymentMethod
from simrenew.privacy.erasure import AlreadyErased, erase_customer, finish_erasure
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_subscription
from simrenew.worker.runner import Worker
from tests.api.helpers import ApiClient, make_api_key
from tests.factories import make_card, make_customer, make_esim, make_plan
from tests.privacy.story import EMAIL, PHONE, customer_with_history, database_text, found

SUPPORT = Actor(ActorKind.STAFF, "support@simrenew.example", user_id=None)


def erase(customer: Customer, *, requested_by: str = "") -> object:
    with transaction.atomic():
        erasure = erase_customer(customer, requested_by=requested_by)
    finish_erasure(erasure)
    return erasure


def test_erasure_ends_service_now_and_refunds_the_month_paid_ahead(clock):
    story = customer_with_history()
    second_invoice = Invoice.objects.filter(customer=story.customer).order_by("id").last()

    erasure = erase(story.customer)

    subscription = Subscription.objects.get(pk=story.subscription.pk)
    assert subscription.state == "cancelled" and subscription.ended_at == clock.now()
    assert erasure.subscriptions_ended == (subscription.pk,)
    # The operator's default rule (unstarted): the month not started comes back in full; the running one is kept.
    [refund] = Refund.objects.filter(invoice__customer=story.customer)
    assert (refund.invoice_id, refund.amount_minor, refund.status) == (second_invoice.pk, 1500, "succeeded")
    assert EsimProfile.objects.get(pk=story.esim.pk).status == "retired"
    methods = PaymentMethod.every.filter(customer=story.customer)
    assert methods.count() == 2 and not methods.filter(removed_at__isnull=True).exists()
    assert set(methods.values_list("token", "last4", "paypal_email")) == {("", "", "")}


def test_the_login_is_gone_and_the_email_can_sign_up_again(clock):
    story = customer_with_history()
    assert authenticate(username=EMAIL, password="s3cret-Passw0rd") is not None

    erase(story.customer)

    assert authenticate(username=EMAIL, password="s3cret-Passw0rd") is None
    story.customer.user.refresh_from_db()
    assert not story.customer.user.is_active and not story.customer.user.has_usable_password()
    again = create_customer(email=EMAIL, name="Grace Hopper", password="an0ther-Passw0rd")
    assert again.pk != story.customer.pk


def test_nothing_is_sent_to_the_erased_person_afterwards(clock):
    story = customer_with_history()
    # Something still on its way when they ask: a notice not yet dispatched.
    emit(
        EventType.CANCELLED,
        customer=story.customer,
        subscription=story.subscription,
        data=payloads.subscription_cancelled(
            subscription_id=story.subscription.pk, when="period_end", service_ends_at=clock.now()
        ),
    )
    sms_before = SandboxSms.objects.count()
    to_them = Delivery.objects.filter(message__customer=story.customer, channel__in=["email", "sms"])
    sent_before = set(to_them.values_list("id", flat=True))

    erase(story.customer)
    # After the erasure a notice is still reported for the pseudonymous row (a late refund, say).
    emit(
        EventType.CANCELLED,
        customer=story.customer,
        subscription=story.subscription,
        data=payloads.subscription_cancelled(subscription_id=story.subscription.pk, when="now", service_ends_at=None),
    )
    dispatch_pending()
    deliver_due(worker_id="test")

    assert not Delivery.objects.filter(message__customer=story.customer, status="pending").exists()
    assert set(to_them.values_list("id", flat=True)) == sent_before  # nothing new planned for them
    assert SandboxSms.objects.count() == sms_before
    assert OutboxMessage.objects.filter(customer=story.customer, status="pending").count() == 0


def test_no_personal_value_remains_outside_the_invoices_until_their_retention_ends(clock, settings):
    settings.SIMRENEW_INVOICE_RETENTION_YEARS = 7
    story = customer_with_history()
    values = story.personal_values
    # Where else the person is copied: a partner's stored answer (an idempotent replay), the
    # console's own history of an edit, and a signed-in session.
    partner = ApiClient(make_api_key(scopes=("write",)))
    changed = partner.patch(
        f"/api/v1/customers/{story.customer.pk}", {"phone": PHONE}, headers={"Idempotency-Key": "phone-1"}
    )
    assert changed.status_code == 200 and IdempotencyRecord.objects.filter(key="phone-1").exists()
    staff = get_user_model().objects.create_superuser("ops", "ops@simrenew.example", "ops-Passw0rd")
    LogEntry.objects.log_actions(
        user_id=staff.pk, queryset=Customer.objects.filter(pk=story.customer.pk), action_flag=CHANGE
    )
    assert Client().login(username=EMAIL, password="s3cret-Passw0rd")
    assert found(values, database_text()) == values  # the story really stored each of them

    erasure = erase(story.customer)

    assert found(values, database_text(without=("billing.invoice",))) == {}
    kept = Invoice.objects.filter(customer=story.customer)
    assert {(i.billed_name, i.billed_email) for i in kept} == {(values["name"], values["email"])}
    # The worker leaves them alone until seven years after each was issued...
    last_issued = max(invoice.issued_at for invoice in kept)
    clock.set(last_issued.replace(year=last_issued.year + 7) - timedelta(minutes=1))
    Worker(worker_id="test").run_once()
    assert found(values, database_text()) != {}
    # ...then pseudonymizes them too.
    clock.advance(minutes=2)
    report = Worker(worker_id="test").run_once()
    assert report.invoices_pseudonymized == 2
    assert found(values, database_text()) == {}
    assert {i.billed_email for i in Invoice.objects.filter(customer=story.customer)} == {erasure.reference}


def test_the_audit_trail_records_who_asked_and_the_reference_without_the_erased_data(clock):
    story = customer_with_history()

    with acting_as(SUPPORT):
        erasure = erase(story.customer, requested_by="the customer's email of 5 December, ticket 4411")

    entry = AuditEntry.objects.get(action="erase")
    assert (entry.actor_label, entry.customer_id, entry.target_label) == (
        "support@simrenew.example",
        story.customer.pk,
        erasure.reference,
    )
    assert entry.after["reference"] == erasure.reference
    assert "ticket 4411" in entry.reason
    # The partner's earlier change is still there, who and what and when, without the person's values.
    earlier = AuditEntry.objects.get(action="change", customer_id=story.customer.pk)
    assert earlier.redacted_at is not None and earlier.actor_label.startswith("api_key:")
    assert found(story.personal_values, f"{earlier.before} {earlier.after} {earlier.target_label}") == {}


def test_a_customer_asking_themselves_is_named_by_the_reference_only(clock):
    story = customer_with_history()

    with acting_as(Actor.for_user(story.customer.user)):
        erasure = erase(story.customer)

    entry = AuditEntry.objects.get(action="erase")
    assert entry.actor_label == f"customer {erasure.reference}"
    assert entry.actor_kind == "customer"


def test_erasing_twice_is_refused_and_changes_nothing(clock):
    story = customer_with_history()
    erasure = erase(story.customer)
    entries = AuditEntry.objects.count()

    with pytest.raises(AlreadyErased, match=erasure.reference):
        erase(story.customer)

    customer = Customer.objects.get(pk=story.customer.pk)
    assert customer.erasure_reference == erasure.reference
    assert AuditEntry.objects.count() == entries


def test_the_audit_trail_still_refuses_any_other_rewrite(clock):
    story = customer_with_history()
    erase(story.customer)
    entry = AuditEntry.objects.get(action="erase")

    from django.db import DatabaseError

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    redacted = AuditEntry.objects.filter(redacted_at__isnull=False).first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=redacted.pk).update(reason="again", redacted_at=clock.now())


def test_a_first_purchase_whose_answer_is_lost_does_not_block_the_erasure(clock):
    customer = make_customer(email="pending@example.com")
    esim = make_esim(customer=customer)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim,
            plan=make_plan(),
            payment_method=make_card(customer=customer, number="4000000000000408"),  # answer lost
            auto_renew=True,
            promo_code=None,
            idempotency_key="pending-first",
        )
    )
    assert Subscription.objects.get(pk=attempt.subscription_id).state == "incomplete"

    erasure = erase(customer)

    assert erasure.subscriptions_ended == ()
    held = EsimProfile.objects.get(pk=esim.pk)
    assert held.status == "assigned" and held.customer_id == customer.pk  # released when that purchase ends
    assert Customer.objects.get(pk=customer.pk).email == f"{erasure.reference}@erased.invalid"
