"""Notification preferences: email on and SMS off until the customer says otherwise; SMS needs a phone."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from simrenew.customers.models import NotificationKind, NotificationPreference
from simrenew.customers.services import (
    Channels,
    notification_preferences,
    set_notification_preferences,
    update_customer,
    wants_notification,
)
from simrenew.kit.errors import ValidationFailed
from tests.factories import make_customer


def test_every_kind_goes_by_email_only_until_chosen_otherwise(clock):
    customer = make_customer()

    assert notification_preferences(customer) == {kind: Channels(email=True, sms=False) for kind in NotificationKind}
    assert wants_notification(customer, NotificationKind.RECEIPT, "email")
    assert not wants_notification(customer, NotificationKind.RECEIPT, "sms")


def test_choices_are_stored_per_kind_and_others_keep_the_defaults(clock):
    customer = update_customer(make_customer(), phone="+1 212 555 0100")

    set_notification_preferences(
        customer,
        {
            NotificationKind.LOW_DATA: Channels(email=False, sms=True),
            NotificationKind.RECEIPT: Channels(email=False, sms=False),
        },
    )
    set_notification_preferences(customer, {NotificationKind.LOW_DATA: Channels(email=True, sms=True)})

    chosen = notification_preferences(customer)
    assert chosen[NotificationKind.LOW_DATA] == Channels(email=True, sms=True)
    assert chosen[NotificationKind.RECEIPT] == Channels(email=False, sms=False)
    assert chosen[NotificationKind.EXPIRY_REMINDER] == Channels(email=True, sms=False)
    assert NotificationPreference.objects.filter(customer=customer).count() == 2
    assert wants_notification(customer, NotificationKind.LOW_DATA, "sms")
    assert NotificationPreference.objects.get(customer=customer, kind="low_data").updated_at == clock.now()


def test_without_a_phone_nobody_is_texted(clock):
    customer = update_customer(make_customer(), phone="+1 212 555 0100")
    set_notification_preferences(customer, {NotificationKind.PAYMENT_FAILED: Channels(email=True, sms=True)})

    update_customer(customer, phone="")

    assert not wants_notification(customer, NotificationKind.PAYMENT_FAILED, "sms")
    with pytest.raises(ValidationFailed) as refused:
        set_notification_preferences(customer, {NotificationKind.LOW_DATA: Channels(email=True, sms=True)})
    assert [error.field for error in refused.value.errors] == ["phone"]


def test_unknown_kinds_are_refused(clock):
    customer = make_customer()

    with pytest.raises(ValidationFailed):
        set_notification_preferences(customer, {"horoscope": Channels()})
    with pytest.raises(ValueError, match="unknown notification kind"):
        wants_notification(customer, "horoscope", "email")


def test_one_row_per_customer_and_kind(clock):
    customer = make_customer()
    NotificationPreference.objects.create(customer=customer, kind="receipt", updated_at=clock.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationPreference.objects.create(customer=customer, kind="receipt", updated_at=clock.now())
