"""The whole life of an eSIM ordered from an SM-DP+ over ES2+, against a local SM-DP+ that speaks
the protocol over HTTPS with client certificates (tests/provisioning/servers.py, certificates made
here with trustme) and checks every request it gets; the SM-DP+ calls simrenew back over real HTTP
(live_server) at the standard path.

Order and confirm → ready to download; each notification point recorded, installation makes it
installed; a failure tells the customer and support orders a replacement; out of stock → 409 and
nothing; SM-DP+ down → 503 with Retry-After and nothing, the same request later succeeds; a
confirmation that fails or is lost → the reserved profile is cancelled; an eSIM not installed is
cancelled on DELETE, refused while a plan uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from simrenew.esims.models import EsimProfile
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.charging import run_charge
from simrenew.provisioning import profiles
from simrenew.provisioning.es2plus import X_ADMIN_PROTOCOL
from simrenew.provisioning.models import DownloadProgress, ProfileOrder, SmdpConnection
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_subscription
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import make_card, make_customer, make_plan
from tests.provisioning.helpers import connect_smdp
from tests.provisioning.servers import SMDP_ID, Es2PlusServer, SmdpPki, connection_for, es2plus_server, smdp_pki

pytestmark = pytest.mark.django_db(transaction=True)  # the SM-DP+ is called outside any transaction

HDPI = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"


@pytest.fixture
def pki(tmp_path: Path) -> SmdpPki:
    return smdp_pki(tmp_path)


@pytest.fixture
def smdp(pki: SmdpPki, clock: TestClock) -> Iterator[Es2PlusServer]:
    with es2plus_server(pki, profiles={"test-profile": 3}) as server:
        template = connection_for(server, pki)
        fields = {
            f.name: getattr(template, f.name) for f in SmdpConnection._meta.fields if f.name not in ("id", "carrier")
        }
        connect_smdp(carrier="att", **{k: v for k, v in fields.items() if k not in ("created_at", "updated_at")})
        yield server
        assert not server.violations, server.violations  # every request we sent was valid ES2+


def plan_on(esim: EsimProfile) -> Subscription:
    """A month of data bought for the eSIM."""
    assert esim.customer is not None
    card = make_card(customer=esim.customer)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim,
            plan=make_plan(),
            payment_method=card,
            auto_renew=True,
            promo_code=None,
            idempotency_key=f"first-{esim.pk}",
        )
    )
    assert attempt.status == "succeeded", attempt.failure_message
    return Subscription.objects.get(pk=attempt.subscription_id)


def order_esim(api: ApiClient, **extra: Any) -> Any:
    customer = extra.pop("customer", None) or make_customer()
    return api.post("esims", {"customer_id": customer.pk, "carrier": "att", **extra})


def test_an_esim_is_ordered_confirmed_and_installed_point_by_point(
    api: ApiClient, smdp: Es2PlusServer, live_server: Any
) -> None:
    response = order_esim(api)

    assert response.status_code == 201, response.content
    body = response.json()
    [download], [confirm] = smdp.calls("downloadOrder"), smdp.calls("confirmOrder")
    assert download.body["profileType"] == "test-profile" and "eid" not in download.body
    assert download.headers["x-admin-protocol"] == X_ADMIN_PROTOCOL
    assert confirm.body["releaseFlag"] is True
    assert download.body["header"]["functionCallIdentifier"] != confirm.body["header"]["functionCallIdentifier"]
    order = smdp.order(body["iccid"])
    assert confirm.body["iccid"] == order.iccid_wire  # echoed as the SM-DP+ wrote it (F-padded)
    assert len(body["iccid"]) == 19 and body["iccid"] == order.iccid  # stored canonically
    assert body["activation_code"] == f"1$smdp.test.example${order.matching_id}"
    assert body["status"] == "released"

    url = live_server.url + HDPI
    for point in (1, 3):
        answer = smdp.notify(url, body["iccid"], point)
        assert (answer.status_code, answer.headers["X-Admin-Protocol"], answer.content) == (204, X_ADMIN_PROTOCOL, b"")
        assert EsimProfile.objects.get(pk=body["id"]).status == "released"
    assert smdp.notify(url, body["iccid"], 4).status_code == 204

    esim = EsimProfile.objects.get(pk=body["id"])
    assert esim.status == "installed"
    assert list(DownloadProgress.objects.filter(esim=esim).values_list("point", flat=True)) == [1, 3, 4]
    assert OutboxMessage.objects.filter(event_type="esim.installed", payload__esim_id=esim.pk).count() == 1
    assert api.get(f"esims/{esim.pk}").json()["status"] == "installed"


def test_the_customers_eid_reaches_both_calls(api: ApiClient, smdp: Es2PlusServer) -> None:
    eid = "89049032000000000000000000000163"
    body = order_esim(api, eid=eid).json()
    assert smdp.calls("downloadOrder")[0].body["eid"] == eid
    assert smdp.calls("confirmOrder")[0].body["eid"] == eid
    assert body["eid"] == eid


def test_a_failed_download_tells_the_customer_in_their_language_and_support_replaces_it(
    api: ApiClient, smdp: Es2PlusServer, live_server: Any
) -> None:
    customer = make_customer(locale="zh-hans")
    body = order_esim(api, customer=customer).json()
    subscription = plan_on(EsimProfile.objects.get(pk=body["id"]))
    url = live_server.url + HDPI

    answer = smdp.notify(url, body["iccid"], 3, "Failed")
    assert answer.status_code == 204
    assert smdp.notify(url, body["iccid"], 3, "Failed").status_code == 204  # another call, same point: recorded

    failed = EsimProfile.objects.get(pk=body["id"])
    assert failed.status == "download_failed"
    [notice] = OutboxMessage.objects.filter(event_type="esim.download_failed")
    assert (notice.customer_id, notice.payload["notification_point"]) == (customer.pk, 3)

    replacement = profiles.order_replacement(failed)

    assert replacement.status == "released" and replacement.customer_id == customer.pk
    assert replacement.iccid != failed.iccid
    subscription.refresh_from_db()
    assert subscription.esim_id == replacement.pk  # the plan moved to the new eSIM
    assert EsimProfile.objects.get(pk=failed.pk).status == "cancelled"
    [cancel] = smdp.calls("cancelOrder")
    assert cancel.body["finalProfileStatusIndicator"] == "Unavailable"


def test_no_profile_of_the_type_left_is_a_409_naming_the_reason_and_creates_nothing(
    api: ApiClient, smdp: Es2PlusServer
) -> None:
    for _ in range(3):
        assert order_esim(api).status_code == 201

    response = order_esim(api)

    problem = assert_problem(response, status=409, type="/problems/smdp-refused")
    assert problem["code"] == "8.2.5/3.7" and "no test-profile profile left" in problem["detail"]
    assert EsimProfile.objects.count() == 3
    assert ProfileOrder.objects.filter(status="refused").count() == 1


def test_an_sm_dp_that_does_not_answer_gives_a_503_with_retry_after_and_the_same_request_works_later(
    api: ApiClient, smdp: Es2PlusServer, pki: SmdpPki
) -> None:
    customer = make_customer()
    down = SmdpConnection.objects.get()
    real_url = down.base_url
    SmdpConnection.objects.filter(pk=down.pk).update(base_url="https://127.0.0.1:9")  # nothing listens there
    key = {"Idempotency-Key": "order-1"}

    response = api.post("esims", {"customer_id": customer.pk, "carrier": "att"}, headers=key)

    problem = assert_problem(response, status=503, type="/problems/smdp-unavailable")
    assert response["Retry-After"] == "30" and "try again in 30 seconds" in problem["detail"]
    assert not EsimProfile.objects.exists()
    SmdpConnection.objects.filter(pk=down.pk).update(base_url=real_url)
    again = api.post("esims", {"customer_id": customer.pk, "carrier": "att"}, headers=key)
    assert again.status_code == 201, again.content


def test_a_refused_confirmation_gives_the_reserved_profile_back(api: ApiClient, smdp: Es2PlusServer) -> None:
    smdp.fail_next("confirmOrder", "8.1.1", "3.8", message="EID refused")

    response = order_esim(api, eid="89049032000000000000000000000163")

    problem = assert_problem(response, status=409, type="/problems/smdp-refused")
    assert problem["code"] == "8.1.1/3.8"
    [cancel] = smdp.calls("cancelOrder")
    assert cancel.body["finalProfileStatusIndicator"] == "Available"
    assert cancel.body["iccid"] == smdp.calls("downloadOrder")[0].body.get("iccid", cancel.body["iccid"])
    assert smdp.order(cancel.body["iccid"]).state == "cancelled"
    assert not EsimProfile.objects.exists()
    assert ProfileOrder.objects.get().status == "cancelled"


def test_a_lost_confirmation_answer_is_a_503_and_the_profile_is_given_back(api: ApiClient, smdp: Es2PlusServer) -> None:
    smdp.lose_next("confirmOrder")

    response = order_esim(api)

    assert_problem(response, status=503, type="/problems/smdp-unavailable")
    assert [c.body["finalProfileStatusIndicator"] for c in smdp.calls("cancelOrder")] == ["Available"]
    assert not EsimProfile.objects.exists()


def test_a_cancel_the_sm_dp_cannot_take_now_is_sent_by_the_worker_later(
    api: ApiClient, smdp: Es2PlusServer, wall_clock: Any
) -> None:
    smdp.fail_next("confirmOrder", "8.2.1", "3.3")
    smdp.lose_next("cancelOrder", executed=False)

    assert order_esim(api).status_code == 409
    order = ProfileOrder.objects.get()
    assert order.status == "cancelling"
    assert profiles.finish_unsettled_orders() == 0  # not due yet: it backs off

    wall_clock.advance(minutes=5)
    assert profiles.finish_unsettled_orders() == 1
    assert ProfileOrder.objects.get().status == "cancelled"
    assert len(smdp.calls("cancelOrder")) == 2


def test_delete_cancels_an_esim_not_installed_and_is_refused_while_a_plan_uses_it(
    api: ApiClient, smdp: Es2PlusServer
) -> None:
    free = order_esim(api).json()
    used = order_esim(api).json()
    plan_on(EsimProfile.objects.get(pk=used["id"]))

    cancelled = api.delete(f"esims/{free['id']}")
    refused = api.delete(f"esims/{used['id']}")

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert smdp.calls("cancelOrder")[0].body["iccid"] == smdp.order(free["iccid"]).iccid_wire
    assert_problem(refused, status=409, type="/problems/profile-in-use")
    assert EsimProfile.objects.get(pk=used["id"]).status == "released"
    assert len(smdp.calls("cancelOrder")) == 1


def test_the_progress_endpoint_refuses_strangers_in_es2_words_never_html(
    api: ApiClient, smdp: Es2PlusServer, live_server: Any
) -> None:
    body = order_esim(api).json()
    url = live_server.url + HDPI

    unknown = smdp.notify(url, "8901260000000000014", 4)
    stranger = smdp.notify(url, body["iccid"], 4, requester_id="somebody-else")
    garbage = Client().post(HDPI, data=b"{not json", content_type="application/json")

    for answer, code in ((unknown, "8.2.1/3.9"), (stranger, "8.2.1/1.2")):
        assert answer.status_code == 200 and answer.headers["X-Admin-Protocol"] == X_ADMIN_PROTOCOL
        status = answer.json()["header"]["functionExecutionStatus"]
        assert status["status"] == "Failed"
        data = status["statusCodeData"]
        assert f"{data['subjectCode']}/{data['reasonCode']}" == code
    assert garbage.status_code == 200 and garbage.json()["header"]["functionExecutionStatus"]["status"] == "Failed"
    assert EsimProfile.objects.get(pk=body["id"]).status == "released"
    assert not DownloadProgress.objects.exists()
    assert SmdpConnection.objects.get().smdp_id == SMDP_ID


def test_behind_the_proxy_the_verified_certificate_must_be_the_sm_dps(
    api: ApiClient, smdp: Es2PlusServer, live_server: Any
) -> None:
    SmdpConnection.objects.update(client_subject="CN=smdp.test.example,O=Test SM-DP+")
    body = order_esim(api).json()
    url = live_server.url + HDPI

    wrong = smdp.notify(url, body["iccid"], 4, headers={"X-SSL-Client-S-DN": "CN=intruder"})
    right = smdp.notify(url, body["iccid"], 4, headers={"X-SSL-Client-S-DN": "CN=smdp.test.example,O=Test SM-DP+"})

    assert wrong.json()["header"]["functionExecutionStatus"]["status"] == "Failed"
    assert right.status_code == 204
    assert EsimProfile.objects.get(pk=body["id"]).status == "installed"


@pytest.mark.parametrize("point", [1, 2, 3, 4])
def test_a_failure_reported_at_any_notification_point_makes_the_download_failed(
    api: ApiClient, smdp: Es2PlusServer, live_server: Any, point: int
) -> None:
    body = order_esim(api).json()
    url = live_server.url + HDPI
    for earlier in range(1, point):
        if earlier != 2:  # point 2 is reported only when the confirmation fails
            assert smdp.notify(url, body["iccid"], earlier).status_code == 204

    assert smdp.notify(url, body["iccid"], point, "Failed").status_code == 204

    assert EsimProfile.objects.get(pk=body["id"]).status == "download_failed"
    assert DownloadProgress.objects.filter(point=point, status="Failed").count() == 1
    assert OutboxMessage.objects.filter(event_type="esim.download_failed").count() == 1
