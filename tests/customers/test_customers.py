"""Creating customers: each field validated, the email unique whatever its case."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from simrenew.customers.models import Customer
from simrenew.customers.services import create_customer, update_customer
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.notifications.models import OutboxMessage


def fields_refused(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [error.field for error in excinfo.value.errors]


def test_a_customer_gets_a_login_named_by_their_email(clock):
    customer = create_customer(
        email="Ada.Lovelace@Example.COM",
        name="  Ada Lovelace ",
        locale="zh-hans",
        time_zone="Asia/Shanghai",
        phone="+86 138 0013 8000",
    )

    assert customer.email == "Ada.Lovelace@example.com"  # the domain is case-insensitive, the local part kept
    assert (customer.name, customer.locale, customer.time_zone) == ("Ada Lovelace", "zh-hans", "Asia/Shanghai")
    assert customer.phone == "+8613800138000"
    assert customer.created_at == clock.now()
    user = get_user_model().objects.get(pk=customer.user_id)
    assert user.username == "ada.lovelace@example.com"
    assert not user.has_usable_password()
    assert OutboxMessage.objects.get().event_type == "customer.created"


def test_a_password_given_at_sign_up_is_stored_hashed(clock):
    customer = create_customer(email="grace@example.com", name="Grace Hopper", password="correct horse battery")

    user = customer.user
    assert user.check_password("correct horse battery")
    assert "correct horse battery" not in user.password
    assert user.password.startswith("argon2")


@pytest.mark.parametrize("again", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@Example.com "])
def test_an_email_is_taken_whatever_its_case(clock, again):
    create_customer(email="ada@example.com", name="Ada")

    with pytest.raises(Conflict) as refused:
        create_customer(email=again, name="Another Ada")

    assert refused.value.code == "email_taken"
    assert refused.value.status == 409
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ada@"}, "email"),
        ({"locale": "fr"}, "locale"),
        ({"locale": "zh"}, "locale"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "EST5EDT "}, "time_zone"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 000 000 0000"}, "phone"),
        ({"name": "   "}, "name"),
    ],
)
def test_each_bad_field_is_named(clock, changes, field):
    details = {"email": "ada@example.com", "name": "Ada", "locale": "en", "time_zone": "UTC", "phone": ""} | changes

    with pytest.raises(ValidationFailed) as refused:
        create_customer(**details)

    assert fields_refused(refused) == [field]
    assert refused.value.status == 422
    assert not Customer.objects.exists()


def test_all_bad_fields_are_named_at_once(clock):
    with pytest.raises(ValidationFailed) as refused:
        create_customer(email="nope", name="", locale="de", time_zone="Nowhere", phone="555")

    assert fields_refused(refused) == ["email", "locale", "time_zone", "phone", "name"]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("+1 (212) 555-0100", "+12125550100"), ("+44 20 7946 0958", "+442079460958"), ("", "")],
)
def test_phone_numbers_are_stored_in_e164(clock, typed, stored):
    customer = create_customer(email="ada@example.com", name="Ada", phone=typed)

    assert customer.phone == stored


def test_a_customer_can_change_language_zone_and_phone(clock):
    customer = create_customer(email="ada@example.com", name="Ada")

    update_customer(customer, locale="zh-hans", time_zone="Europe/London", phone="+447946000000", name=" Ada L. ")

    customer.refresh_from_db()
    assert (customer.locale, customer.time_zone, customer.name) == ("zh-hans", "Europe/London", "Ada L.")
    with pytest.raises(ValidationFailed):
        update_customer(customer, time_zone="Europe/Atlantis")
