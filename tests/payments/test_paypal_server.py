"""The local PayPal itself, driven by PayPal's official SDK (paypal-server-sdk) as our adapter will
drive it: a buyer links PayPal on the approval page, a renewal is charged to the vault id once however
often it is sent, a declined buyer is refused, refunds stop at what was paid, webhooks are verified by
PayPal's own check, and anything outside PayPal's published API is refused and recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from paypalserversdk.configuration import Configuration, Server
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.payment_token_request import PaymentTokenRequest
from paypalserversdk.models.payment_token_request_payment_source import PaymentTokenRequestPaymentSource
from paypalserversdk.models.paypal_payment_token_usage_type import PaypalPaymentTokenUsageType
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest
from paypalserversdk.models.setup_token_request import SetupTokenRequest
from paypalserversdk.models.setup_token_request_payment_source import SetupTokenRequestPaymentSource
from paypalserversdk.models.vault_experience_context import VaultExperienceContext
from paypalserversdk.models.vault_paypal_wallet_request import VaultPaypalWalletRequest
from paypalserversdk.models.vault_token_request import VaultTokenRequest
from paypalserversdk.models.vault_token_request_type import VaultTokenRequestType
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from tests.payments.paypal_server import BUYER_EMAIL, CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, PayPalServer

RETURN_URL = "https://simrenew.example/paypal/return"
CANCEL_URL = "https://simrenew.example/paypal/cancel"


class LocalPayPal(Configuration):
    """The SDK's configuration, pointed at the local PayPal instead of api-m.paypal.com."""

    def __init__(self, base_uri: str, **options: Any) -> None:
        super().__init__(**options)
        self.base_uri = base_uri

    def get_base_uri(self, server: Server = Server.DEFAULT) -> str:
        return self.base_uri


@pytest.fixture
def paypal() -> Iterator[PayPalServer]:
    """PayPal on 127.0.0.1. Fails the test if any request was not one of PayPal's published API."""
    with PayPalServer() as server:
        yield server
    assert server.violations == [], server.violations


@pytest.fixture
def sdk(paypal: PayPalServer) -> PaypalServersdkClient:
    credentials = ClientCredentialsAuthCredentials(o_auth_client_id=CLIENT_ID, o_auth_client_secret=CLIENT_SECRET)
    return PaypalServersdkClient(config=LocalPayPal(paypal.url, client_credentials_auth_credentials=credentials))


class WebhookEndpoint:
    """Our webhook endpoint as far as PayPal can tell: it answers 200 and keeps what it was sent."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Keep(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(({name.lower(): value for name, value in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.received = received
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Keep)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/webhooks/paypal"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def endpoint(paypal: PayPalServer) -> Iterator[WebhookEndpoint]:
    receiving = WebhookEndpoint()
    paypal.webhook_url = receiving.url
    yield receiving
    receiving.close()


# ---------------------------------------------------------------- arrange, as our adapter will


def access_token(paypal: PayPalServer) -> str:
    """What the SDK does first, for the calls it cannot make (verify-webhook-signature)."""
    answer = httpx.post(
        f"{paypal.url}/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def start_linking(sdk: PaypalServersdkClient, *, request_id: str = "link-1") -> Any:
    """A setup token for a PayPal wallet the merchant may charge later (usage_type MERCHANT)."""
    wallet = VaultPaypalWalletRequest(
        usage_type=PaypalPaymentTokenUsageType.MERCHANT,
        experience_context=VaultExperienceContext(brand_name="simrenew", return_url=RETURN_URL, cancel_url=CANCEL_URL),
    )
    request = SetupTokenRequest(payment_source=SetupTokenRequestPaymentSource(paypal=wallet))
    return sdk.vault.create_setup_token({"body": request, "paypal_request_id": request_id}).body


def finish_linking(sdk: PaypalServersdkClient, setup_token_id: str, *, request_id: str = "token-1") -> Any:
    source = PaymentTokenRequestPaymentSource(
        token=VaultTokenRequest(id=setup_token_id, mtype=VaultTokenRequestType.SETUP_TOKEN)
    )
    request = PaymentTokenRequest(payment_source=source)
    return sdk.vault.create_payment_token({"body": request, "paypal_request_id": request_id}).body


def link_paypal(sdk: PaypalServersdkClient, paypal: PayPalServer, *, email: str = BUYER_EMAIL) -> str:
    """The whole linking: setup token, the buyer agrees, payment token; its id, the vault id. (Each
    buyer's own request ids: with the same ones PayPal would answer the first buyer's tokens again.)"""
    setup = start_linking(sdk, request_id=f"link-{email}")
    paypal.approve(setup.id, email)
    return str(finish_linking(sdk, setup.id, request_id=f"token-{email}").id)


def charge(
    sdk: PaypalServersdkClient, vault_id: str, *, value: str = "25.00", key: str = "renewal-1", request_id: str = ""
) -> Any:
    """A renewal charged to the saved PayPal, without the buyer: the order with the vault id."""
    unit = PurchaseUnitRequest(amount=AmountWithBreakdown(currency_code="EUR", value=value), custom_id=key)
    request = OrderRequest(
        intent=CheckoutPaymentIntent.CAPTURE,
        purchase_units=[unit],
        payment_source=PaymentSource(paypal=PaypalWallet(vault_id=vault_id)),
    )
    return sdk.orders.create_order({"body": request, "paypal_request_id": request_id or key})


def issues_of(refused: ErrorException) -> list[str]:
    return [detail.issue for detail in refused.details or []]


# ---------------------------------------------------------------- the stories


def test_the_buyer_links_paypal_on_the_approval_page_and_the_setup_token_becomes_a_payment_token(
    paypal: PayPalServer, sdk: PaypalServersdkClient
):
    setup = start_linking(sdk)
    assert setup.status == "PAYER_ACTION_REQUIRED"
    approve = next(link.href for link in setup.links if link.rel == "approve")
    assert approve == f"{paypal.url}/checkoutnow?token={setup.id}"

    page = httpx.get(approve)
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "<title>Log in to your PayPal account</title>" in page.text
    assert '<label for="email">' in page.text and f'value="{BUYER_EMAIL}"' in page.text
    assert ">Agree and Continue</button>" in page.text and ">Cancel</button>" in page.text
    assert "src=" not in page.text and "<link" not in page.text and "url(" not in page.text  # nothing fetched

    agreed = httpx.post(f"{paypal.url}/checkoutnow/{setup.id}/approve", data={"email": "ana@example.com"})
    assert agreed.status_code == 302
    assert agreed.headers["location"].startswith(f"{RETURN_URL}?approval_token_id={setup.id}&approval_session_id=")
    assert sdk.vault.get_setup_token(setup.id).body.status == "APPROVED"

    token = finish_linking(sdk, setup.id)
    assert token.customer.id == setup.customer.id
    assert token.payment_source.paypal.email_address == "ana@example.com"
    assert sdk.vault.get_payment_token(token.id).body.id == token.id

    with pytest.raises(ErrorException) as again:  # a setup token makes one payment token
        finish_linking(sdk, setup.id, request_id="token-2")
    assert again.value.response_code == 422
    assert issues_of(again.value) == ["SETUP_TOKEN_ALREADY_TOKENIZED"]


def test_a_setup_token_the_buyer_did_not_approve_does_not_become_a_payment_token(
    paypal: PayPalServer, sdk: PaypalServersdkClient
):
    setup = start_linking(sdk)
    cancelled = httpx.post(f"{paypal.url}/checkoutnow/{setup.id}/cancel")
    assert cancelled.status_code == 302
    assert cancelled.headers["location"] == f"{CANCEL_URL}?approval_token_id={setup.id}"

    with pytest.raises(ErrorException) as refused:
        finish_linking(sdk, setup.id)
    assert refused.value.response_code == 422
    assert issues_of(refused.value) == ["PAYER_ACTION_REQUIRED"]
    assert paypal.payment_tokens == {}


def test_an_order_with_the_vault_id_completes_at_once_with_one_capture(
    paypal: PayPalServer, sdk: PaypalServersdkClient
):
    vault_id = link_paypal(sdk, paypal)

    answer = charge(sdk, vault_id, key="renewal-7")

    assert answer.status_code == 201
    order = answer.body
    assert order.status == "COMPLETED"
    capture = order.purchase_units[0].payments.captures[0]
    assert (capture.status, capture.amount.value, capture.amount.currency_code) == ("COMPLETED", "25.00", "EUR")
    assert capture.custom_id == "renewal-7" and capture.final_capture is True
    assert order.payment_source.paypal.attributes.vault.id == vault_id
    assert [taken["id"] for taken in paypal.captures_of(vault_id)] == [capture.id]
    seen = sdk.payments.get_captured_payment({"capture_id": capture.id}).body
    assert seen.supplementary_data.related_ids.order_id == order.id


def test_the_same_paypal_request_id_charges_once(paypal: PayPalServer, sdk: PaypalServersdkClient):
    vault_id = link_paypal(sdk, paypal)
    first = charge(sdk, vault_id, key="renewal-8")

    again = charge(sdk, vault_id, key="renewal-8")

    assert (first.status_code, again.status_code) == (201, 200)  # PayPal's answer to an idempotent request
    assert again.body.id == first.body.id
    assert len(paypal.captures_of(vault_id)) == 1

    paypal.lose_answer()  # charged, but the answer never came back: the retry finds the same order
    with pytest.raises(httpx.HTTPError):
        body = {
            "intent": "CAPTURE",
            "purchase_units": [{"amount": {"currency_code": "EUR", "value": "25.00"}, "custom_id": "renewal-9"}],
            "payment_source": {"paypal": {"vault_id": vault_id}},
        }
        headers = {"Authorization": f"Bearer {access_token(paypal)}", "PayPal-Request-Id": "renewal-9"}
        httpx.post(f"{paypal.url}/v2/checkout/orders", json=body, headers=headers)
    retried = charge(sdk, vault_id, key="renewal-9")
    assert retried.status_code == 200
    assert len(paypal.captures_of(vault_id)) == 2

    with pytest.raises(ErrorException) as reused:  # the same id for another charge is refused
        charge(sdk, vault_id, value="30.00", key="renewal-10", request_id="renewal-8")
    assert reused.value.response_code == 422
    assert issues_of(reused.value) == ["DUPLICATE_REQUEST_ID"]
    assert len(paypal.captures_of(vault_id)) == 2


def test_a_declined_buyer_is_refused_and_a_refused_one_gets_a_declined_capture(
    paypal: PayPalServer, sdk: PaypalServersdkClient
):
    declined = link_paypal(sdk, paypal, email="declined@example.com")
    with pytest.raises(ErrorException) as refused:
        charge(sdk, declined)
    assert refused.value.response_code == 422
    assert issues_of(refused.value) == ["INSTRUMENT_DECLINED"]
    assert paypal.captures_of(declined) == [] and paypal.orders == {}

    refusing = link_paypal(sdk, paypal, email="refused@example.com")
    order = charge(sdk, refusing, key="renewal-11").body
    assert order.status == "COMPLETED"  # the order's status is not the money's
    assert order.purchase_units[0].payments.captures[0].status == "DECLINED"
    assert paypal.captures_of(refusing) == []
    assert [event.resource["id"] for event in paypal.events_of("PAYMENT.CAPTURE.DENIED")] == [
        order.purchase_units[0].payments.captures[0].id
    ]


def test_a_refund_may_be_partial_but_never_beyond_what_is_left(paypal: PayPalServer, sdk: PaypalServersdkClient):
    capture = charge(sdk, link_paypal(sdk, paypal)).body.purchase_units[0].payments.captures[0]

    partial = sdk.payments.refund_captured_payment(
        {
            "capture_id": capture.id,
            "body": RefundRequest(amount=Money(currency_code="EUR", value="10.00")),
            "paypal_request_id": "refund-1",
            "prefer": "return=representation",
        }
    )
    assert partial.status_code == 201
    assert (partial.body.status, partial.body.amount.value) == ("COMPLETED", "10.00")
    assert sdk.payments.get_captured_payment({"capture_id": capture.id}).body.status == "PARTIALLY_REFUNDED"

    with pytest.raises(ErrorException) as beyond:
        sdk.payments.refund_captured_payment(
            {
                "capture_id": capture.id,
                "body": RefundRequest(amount=Money(currency_code="EUR", value="15.01")),
                "paypal_request_id": "refund-2",
            }
        )
    assert beyond.value.response_code == 422
    assert issues_of(beyond.value) == ["REFUND_AMOUNT_EXCEEDED"]

    rest = sdk.payments.refund_captured_payment({"capture_id": capture.id, "paypal_request_id": "refund-3"}).body
    assert sdk.payments.get_refund({"refund_id": rest.id}).body.amount.value == "15.00"
    assert sdk.payments.get_captured_payment({"capture_id": capture.id}).body.status == "REFUNDED"
    refunded = paypal.events_of("PAYMENT.CAPTURE.REFUNDED")
    assert [event.resource["amount"]["value"] for event in refunded] == ["10.00", "15.00"]
    up = {link["rel"]: link["href"] for link in refunded[0].resource["links"]}["up"]
    assert up == f"{paypal.url}/v2/payments/captures/{capture.id}"


def verify(paypal: PayPalServer, headers: dict[str, str], body: bytes, *, webhook_id: str = WEBHOOK_ID) -> str:
    """What our endpoint asks PayPal of a delivery it received (the SDK has no call for it)."""
    answer = httpx.post(
        f"{paypal.url}/v1/notifications/verify-webhook-signature",
        headers={"Authorization": f"Bearer {access_token(paypal)}"},
        json={
            "auth_algo": headers["paypal-auth-algo"],
            "cert_url": headers["paypal-cert-url"],
            "transmission_id": headers["paypal-transmission-id"],
            "transmission_sig": headers["paypal-transmission-sig"],
            "transmission_time": headers["paypal-transmission-time"],
            "webhook_id": webhook_id,
            "webhook_event": json.loads(body),
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["verification_status"])


def test_paypal_confirms_the_webhooks_it_sent_and_nothing_else(
    paypal: PayPalServer, sdk: PaypalServersdkClient, endpoint: WebhookEndpoint
):
    charge(sdk, link_paypal(sdk, paypal), key="renewal-12")
    assert paypal.send_events() == [200]
    headers, body = endpoint.received[0]
    event = json.loads(body)
    assert (event["event_type"], event["resource_type"], event["event_version"]) == (
        "PAYMENT.CAPTURE.COMPLETED",
        "capture",
        "1.0",
    )
    assert event["id"].startswith("WH-") and event["resource"]["custom_id"] == "renewal-12"
    assert event["resource"]["supplementary_data"]["related_ids"]["order_id"] in paypal.orders
    assert headers["paypal-auth-algo"] == "SHA256withRSA"
    assert headers["paypal-cert-url"].startswith("https://api.paypal.com/")

    assert verify(paypal, headers, body) == "SUCCESS"
    assert verify(paypal, headers, body, webhook_id="ANOTHERWEBHOOK0001") == "FAILURE"
    assert (
        verify(paypal, {**headers, "paypal-transmission-id": "f00dbabe-0000-11f0-8000-000000000000"}, body) == "FAILURE"
    )
    assert verify(paypal, {**headers, "paypal-transmission-sig": headers["paypal-transmission-sig"][::-1]}, body) == (
        "FAILURE"
    )

    def richer(payload: dict[str, Any]) -> dict[str, Any]:
        payload["resource"]["amount"]["value"] = "0.01"
        return payload

    assert paypal.deliver(paypal.events[0], tamper=richer) == 200
    forged_headers, forged_body = endpoint.received[1]
    assert json.loads(forged_body)["resource"]["amount"]["value"] == "0.01"
    assert verify(paypal, forged_headers, forged_body) == "FAILURE"
    assert paypal.deliver(paypal.events[0], webhook_id="ANOTHERWEBHOOK0001") == 200
    assert verify(paypal, *endpoint.received[2]) == "FAILURE"  # signed for another webhook than ours


def test_a_buyer_who_unlinks_paypal_leaves_a_vault_id_that_cannot_be_charged(
    paypal: PayPalServer, sdk: PaypalServersdkClient
):
    vault_id = link_paypal(sdk, paypal)

    paypal.delete_token_at_paypal(vault_id)

    assert [event.resource["id"] for event in paypal.events_of("VAULT.PAYMENT-TOKEN.DELETED")] == [vault_id]
    with pytest.raises(ErrorException) as gone:
        sdk.vault.get_payment_token(vault_id)
    assert gone.value.response_code == 404
    with pytest.raises(ErrorException) as refused:
        charge(sdk, vault_id)
    assert refused.value.response_code == 422
    assert paypal.captures_of(vault_id) == []

    other = link_paypal(sdk, paypal, email="bo@example.com")  # we unlink it ourselves: the same event
    customer = paypal.payment_tokens[other]["customer"]["id"]
    listed = sdk.vault.list_customer_payment_tokens({"customer_id": customer}).body
    assert [token.id for token in listed.payment_tokens] == [other]
    assert sdk.vault.delete_payment_token(other).status_code == 204
    assert [event.resource["id"] for event in paypal.events_of("VAULT.PAYMENT-TOKEN.DELETED")] == [vault_id, other]


def test_a_dispute_names_the_capture_and_the_renewal_it_is_about(paypal: PayPalServer, sdk: PaypalServersdkClient):
    capture = charge(sdk, link_paypal(sdk, paypal), key="renewal-13").body.purchase_units[0].payments.captures[0]

    dispute = paypal.open_dispute(capture.id)
    paypal.resolve_dispute(dispute["dispute_id"], outcome="RESOLVED_BUYER_FAVOUR")

    opened, resolved = paypal.events_of("CUSTOMER.DISPUTE.CREATED"), paypal.events_of("CUSTOMER.DISPUTE.RESOLVED")
    assert opened[0].resource["disputed_transactions"] == [
        {
            "seller_transaction_id": capture.id,
            "create_time": capture.create_time,
            "transaction_status": "COMPLETED",
            "gross_amount": {"currency_code": "EUR", "value": "25.00"},
            "seller": {"merchant_id": "SRENEWLPAYPAL"},
            "custom": "renewal-13",
        }
    ]
    assert opened[0].resource["reason"] == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"
    assert resolved[0].resource["status"] == "RESOLVED"
    assert resolved[0].resource["dispute_outcome"]["outcome_code"] == "RESOLVED_BUYER_FAVOUR"


def test_a_buyer_present_order_is_captured_only_once_approved(paypal: PayPalServer, sdk: PaypalServersdkClient):
    unit = PurchaseUnitRequest(amount=AmountWithBreakdown(currency_code="EUR", value="9.90"))
    order = sdk.orders.create_order({"body": OrderRequest(intent=CheckoutPaymentIntent.CAPTURE, purchase_units=[unit])})
    assert order.body.status == "CREATED"
    assert {link.rel for link in order.body.links} >= {"self", "approve", "capture"}

    with pytest.raises(ErrorException) as early:
        sdk.orders.capture_order({"id": order.body.id, "paypal_request_id": "capture-1"})
    assert issues_of(early.value) == ["ORDER_NOT_APPROVED"]

    paypal.approve(order.body.id)
    captured = sdk.orders.capture_order({"id": order.body.id, "paypal_request_id": "capture-2"}).body
    assert captured.status == "COMPLETED"
    assert captured.purchase_units[0].payments.captures[0].amount.value == "9.90"


def test_paypal_answers_faults_it_was_told_to(paypal: PayPalServer, sdk: PaypalServersdkClient):
    vault_id = link_paypal(sdk, paypal)
    paypal.fail_with(503)

    with pytest.raises(ApiException) as down:
        charge(sdk, vault_id)

    assert down.value.response_code == 503
    assert paypal.captures_of(vault_id) == []
    assert charge(sdk, vault_id).status_code == 201  # the same request id: never carried out before


def test_a_request_outside_paypals_published_api_is_refused_and_recorded(paypal: PayPalServer):
    authorized = {"Authorization": f"Bearer {access_token(paypal)}"}

    no_currency = httpx.post(
        f"{paypal.url}/v2/checkout/orders",
        headers=authorized,
        json={"intent": "CAPTURE", "purchase_units": [{"amount": {"value": "25"}}]},
    )
    no_request_id = httpx.post(
        f"{paypal.url}/v3/vault/setup-tokens",
        headers=authorized,
        json={"payment_source": {"paypal": {"usage_type": "MERCHANT"}}},
    )
    unknown_query = httpx.get(f"{paypal.url}/v2/checkout/orders/5O190127TN364715T?expand=all", headers=authorized)
    no_such_path = httpx.post(f"{paypal.url}/v2/checkout/orders/5O190127TN364715T/charge", headers=authorized)
    vault_charge_without_request_id = httpx.post(
        f"{paypal.url}/v2/checkout/orders",
        headers=authorized,
        json={
            "intent": "CAPTURE",
            "purchase_units": [{"amount": {"currency_code": "EUR", "value": "25.00"}}],
            "payment_source": {"paypal": {"vault_id": "8kk8451t"}},
        },
    )

    assert no_currency.status_code == 400
    assert no_currency.json()["name"] == "INVALID_REQUEST"
    assert no_currency.json()["details"][0]["field"] == "/purchase_units/0/amount"
    assert no_currency.json()["details"][0]["issue"] == "MISSING_REQUIRED_PARAMETER"
    assert no_request_id.status_code == 400
    assert no_request_id.json()["details"][0]["field"] == "PayPal-Request-Id"
    assert unknown_query.status_code == 400
    assert no_such_path.status_code == 404
    assert vault_charge_without_request_id.status_code == 400
    assert vault_charge_without_request_id.json()["details"][0]["issue"] == "PAYPAL_REQUEST_ID_REQUIRED"
    assert len(paypal.violations) == 5, paypal.violations
    assert "currency_code" in paypal.violations[0]
    paypal.violations.clear()  # seen: the fixture checks the rest of the test made none

    assert httpx.get(f"{paypal.url}/v2/checkout/orders/5O190127TN364715T").status_code == 401
    wrong_secret = httpx.post(
        f"{paypal.url}/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "guess")
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
