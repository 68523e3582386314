"""A customer adds an eSIM of a carrier whose eSIMs come from its SM-DP+ (the sandbox twin): it is
ordered before the payment and shown ready to install with a number still to come; once the
SM-DP+ reports the installation the install page says so instead of showing the code again. A
declined payment gives the profile back to the SM-DP+."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from simrenew.esims.models import EsimProfile
from simrenew.provisioning import profiles
from simrenew.provisioning.models import ProfileOrder, SandboxProfile
from tests.factories import make_card, make_customer, make_plan
from tests.provisioning.helpers import connect_smdp

pytestmark = pytest.mark.django_db(transaction=True)  # the SM-DP+ is called outside any transaction


def key_of(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f-]+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def customer(clock):
    connect_smdp(carrier="verizon")
    return make_customer()


def buy(client, customer, *, card: str = "4242424242424242"):  # type: ignore[no-untyped-def]
    plan = make_plan(carrier="verizon")
    method = make_card(customer=customer, number=card)
    client.force_login(customer.user)
    html = client.get(reverse("portal:add_esim")).content.decode()
    return client.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": method.pk, "auto_renew": "on", "key": key_of(html)},
    )


def test_an_esim_ordered_from_the_sm_dp_is_installed_and_the_page_says_so(client, customer, clock):
    done = buy(client, customer)

    assert done.status_code == 302
    esim = EsimProfile.objects.get(customer=customer)
    assert (esim.status, esim.source, esim.msisdn) == ("released", "smdp", "")
    html = client.get(done["Location"]).content.decode()
    assert '<img class="qr"' in html and "number to come from the carrier" in html
    dashboard = client.get(reverse("portal:dashboard")).content.decode()
    assert '<span class="number">number to come from the carrier</span>' in dashboard  # until the carrier gives one

    clock.advance(seconds=30)
    profiles.record_sandbox_downloads()

    html = client.get(done["Location"]).content.decode()
    assert 'data-esim-status="installed"' in html and "You do not need to scan its code again." in html
    assert '<img class="qr"' not in html


def test_a_declined_payment_gives_the_profile_back_to_the_sm_dp(client, customer, clock):
    declined = buy(client, customer, card="4000000000009995")

    assert declined.status_code == 402
    esim = EsimProfile.objects.get(customer=customer)
    assert esim.status == "cancelled"
    assert ProfileOrder.objects.get().status == "cancelled"
    assert SandboxProfile.objects.get(iccid=esim.iccid).state == "available"  # back in the SM-DP+'s pool
