"""One search box on the console's customer list finds a customer by email, phone or ICCID."""

from __future__ import annotations

import pytest

from simrenew.customers.models import Customer
from tests.customers.console_helpers import staff_client
from tests.factories import make_customer, make_esim

pytestmark = pytest.mark.django_db


def found(term: str) -> list[str]:
    response = staff_client("support").get("/admin/customers/customer/", {"q": term})
    assert response.status_code == 200
    return [customer.email for customer in response.context["cl"].result_list]


def test_by_email_phone_in_any_format_and_iccid(clock):
    ada = make_customer(email="ada@example.com")
    Customer.objects.filter(pk=ada.pk).update(phone="+14155550100")
    grace = make_customer(email="grace@example.com")
    esim = make_esim(customer=grace)

    assert found("ADA@example.com") == ["ada@example.com"]
    assert found("+1 (415) 555-0100") == ["ada@example.com"]
    assert found("(415) 555-0100") == ["ada@example.com"]
    assert found(esim.iccid) == ["grace@example.com"]
    spaced = " ".join(esim.iccid[i : i + 4] for i in range(0, len(esim.iccid), 4))
    assert found(spaced) == ["grace@example.com"]
    assert found(esim.msisdn) == ["grace@example.com"]  # the eSIM's number finds its holder too
    assert found("nobody@example.com") == []
