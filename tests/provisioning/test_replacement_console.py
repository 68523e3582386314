"""Support sees an eSIM whose download failed and, as an admin, orders a replacement from the
console: a new eSIM from the carrier's SM-DP+, the customer's plan moved to it, the old one
cancelled, all in the audit trail. Releasing an SM-DP+ eSIM not installed cancels it there."""

from __future__ import annotations

import pytest

from simrenew.audit.models import AuditEntry
from simrenew.esims.models import EsimProfile
from simrenew.provisioning import profiles
from simrenew.provisioning.models import SandboxProfile
from simrenew.provisioning.sandbox_smdp import DOWNLOAD_FAILS_EID
from simrenew.subscriptions.models import Subscription
from tests.conftest import TestClock
from tests.customers.console_helpers import staff_client
from tests.factories import make_customer
from tests.provisioning.helpers import connect_smdp

pytestmark = pytest.mark.django_db(transaction=True)


def failed_download(clock: TestClock) -> EsimProfile:
    connect_smdp(carrier="att")
    esim = profiles.obtain_esim(customer=make_customer(), carrier_code="att", eid=DOWNLOAD_FAILS_EID)
    clock.advance(minutes=1)
    profiles.record_sandbox_downloads()
    esim.refresh_from_db()
    assert esim.status == "download_failed"
    return esim


def act(client, action: str, *profiles_: EsimProfile) -> str:  # type: ignore[no-untyped-def]
    response = client.post(
        "/admin/esims/esimprofile/",
        {"action": action, "_selected_action": [p.pk for p in profiles_]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_an_admin_orders_a_replacement_for_a_failed_download(clock: TestClock) -> None:
    failed = failed_download(clock)
    support = staff_client("support")
    listing = support.get("/admin/esims/esimprofile/", {"status__exact": "download_failed"}).content.decode()
    assert failed.iccid in listing and "order_replacement_selected" not in listing  # support reads, admins act

    html = act(staff_client("admin"), "order_replacement_selected", failed)

    replacement = EsimProfile.objects.exclude(pk=failed.pk).get()
    assert f"Replaced eSIM {failed.iccid} by {replacement.iccid}" in html
    assert (replacement.status, replacement.customer_id) == ("released", failed.customer_id)
    assert EsimProfile.objects.get(pk=failed.pk).status == "cancelled"
    assert SandboxProfile.objects.get(iccid=failed.iccid).state == "unavailable"
    entry = AuditEntry.objects.get(action="replace")
    assert entry.target_id == str(failed.pk) and replacement.iccid in entry.reason


def test_releasing_an_esim_not_installed_cancels_it_at_the_sm_dp(clock: TestClock) -> None:
    connect_smdp(carrier="att")
    esim = profiles.obtain_esim(customer=make_customer(), carrier_code="att")

    html = act(staff_client("admin"), "release_selected", esim)

    assert "Released 1 profile(s)." in html
    assert EsimProfile.objects.get(pk=esim.pk).status == "cancelled"
    assert SandboxProfile.objects.get(iccid=esim.iccid).state == "unavailable"
    assert not Subscription.objects.exists()
