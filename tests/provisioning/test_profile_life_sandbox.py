"""A carrier connected to an SM-DP+ (here the sandbox twin, as `make run` has it): a partner gives a
customer an eSIM in one call and gets it ready to download; the worker hears how the download goes
and the eSIM becomes installed, or the customer is told it failed; a refusal creates nothing; an
eSIM not installed yet is cancelled at the SM-DP+."""

from __future__ import annotations

import pytest

from simrenew.esims.models import EsimProfile
from simrenew.notifications.models import OutboxMessage
from simrenew.provisioning import profiles
from simrenew.provisioning.models import DownloadProgress, ProfileOrder, SandboxProfile
from simrenew.provisioning.sandbox_smdp import DOWNLOAD_FAILS_EID, EMPTY_PROFILE_TYPE, SMDP_ADDRESS
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import make_customer
from tests.provisioning.helpers import connect_smdp

pytestmark = pytest.mark.django_db(transaction=True)  # the SM-DP+ is called outside any transaction


def events(event_type: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(event_type=event_type).order_by("id"))


def test_a_partner_gets_an_esim_ready_to_download_and_the_download_makes_it_installed(
    api: ApiClient, clock: TestClock
) -> None:
    connect_smdp(carrier="att")
    customer = make_customer()

    response = api.post("esims", {"customer_id": customer.pk, "carrier": "att"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["source"], body["msisdn"], body["network_state"]) == (
        "released",
        "smdp",
        None,
        None,
    )
    assert body["activation_code"].startswith(f"1${SMDP_ADDRESS}$")
    assert body["qr_svg_url"].endswith(".svg")
    order = ProfileOrder.objects.get()
    assert (order.status, order.esim_id, len(order.call_ids)) == ("done", body["id"], 2)
    assert SandboxProfile.objects.get(iccid=body["iccid"]).state == "released"

    clock.advance(seconds=20)
    assert profiles.record_sandbox_downloads() == 3

    esim = EsimProfile.objects.get(pk=body["id"])
    assert esim.status == "installed"
    assert list(DownloadProgress.objects.filter(esim=esim).values_list("point", "status")) == [
        (1, "Executed-Success"),
        (3, "Executed-Success"),
        (4, "Executed-Success"),
    ]
    assert [m.payload["esim_id"] for m in events("esim.installed")] == [esim.pk]
    assert profiles.record_sandbox_downloads() == 0  # each point is reported once


def test_a_download_that_fails_tells_the_customer_and_keeps_the_esim_for_support(
    api: ApiClient, clock: TestClock
) -> None:
    connect_smdp(carrier="att")
    customer = make_customer(locale="zh-hans")

    body = api.post("esims", {"customer_id": customer.pk, "carrier": "att", "eid": DOWNLOAD_FAILS_EID}).json()
    clock.advance(minutes=1)
    profiles.record_sandbox_downloads()

    esim = EsimProfile.objects.get(pk=body["id"])
    assert (esim.status, esim.eid) == ("download_failed", DOWNLOAD_FAILS_EID)
    [failed] = events("esim.download_failed")
    assert (failed.customer_id, failed.payload["notification_point"]) == (customer.pk, 3)
    assert "8.2.10/4.2" in failed.payload["reason"]
    assert api.get(f"esims/{esim.pk}").json()["status"] == "download_failed"


def test_an_sm_dp_with_no_profile_of_the_type_left_gives_a_409_and_no_esim(api: ApiClient, clock: TestClock) -> None:
    connect_smdp(carrier="att", profile_type=EMPTY_PROFILE_TYPE)
    customer = make_customer()

    response = api.post("esims", {"customer_id": customer.pk, "carrier": "att"})

    assert_problem(response, status=409, type="/problems/smdp-refused")
    assert "no sandbox-empty profile left" in response.json()["detail"]
    assert response.json()["code"] == "8.2.5/3.7"
    assert not EsimProfile.objects.exists()
    assert ProfileOrder.objects.get().status == "refused"


def test_a_bad_eid_is_refused_before_the_sm_dp_is_asked(api: ApiClient, clock: TestClock) -> None:
    connect_smdp(carrier="att")
    customer = make_customer()

    response = api.post(
        "esims", {"customer_id": customer.pk, "carrier": "att", "eid": "8904903200000000000000000000001"}
    )

    assert_problem(response, status=422, type="/problems/validation-error", fields=["eid"])
    assert not ProfileOrder.objects.exists()


def test_an_esim_not_installed_yet_is_cancelled_at_the_sm_dp_and_one_installed_is_retired(
    api: ApiClient, clock: TestClock
) -> None:
    connect_smdp(carrier="att")
    customer = make_customer()
    waiting = api.post("esims", {"customer_id": customer.pk, "carrier": "att"}).json()
    installed = api.post("esims", {"customer_id": customer.pk, "carrier": "att"}).json()
    clock.advance(seconds=20)
    SandboxProfile.objects.filter(iccid=waiting["iccid"]).update(next_point=0)  # this one is never downloaded
    profiles.record_sandbox_downloads()

    cancelled = api.delete(f"esims/{waiting['id']}")
    retired = api.delete(f"esims/{installed['id']}")

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert SandboxProfile.objects.get(iccid=waiting["iccid"]).state == "unavailable"
    assert (retired.status_code, retired.json()["status"]) == (200, "retired")
    assert api.delete(f"esims/{waiting['id']}").json()["status"] == "cancelled"  # repeating changes nothing
