"""One catalogue of failure codes: every code a test card, the wallet, reconciliation or
auto-renew can give has its words and its hard-decline flag in one place, and the words
are the same wherever a customer reads them."""

from __future__ import annotations

import pytest
from django.utils import translation

from simrenew.payments.failures import (
    CATALOGUE,
    HARD_DECLINES,
    OTHER_FAILURE,
    FailureCode,
    customer_message,
    failure_message,
    is_hard_decline,
)
from simrenew.payments.sandbox import DECLINE_BEHAVIOURS, TEST_CARDS


def test_codes_keep_the_values_stored_on_attempts_and_sent_by_the_api():
    assert {code.value for code in FailureCode} == {
        "card_declined",
        "insufficient_funds",
        "expired_card",
        "lost_card",
        "stolen_card",
        "processing_error",
        "paypal_declined",
        "authentication_required",
        "authentication_failed",
        "payment_not_completed",
        "wallet_insufficient_balance",
        "gateway_unreachable",
        "idempotency_key_reused",
        "no_payment_method",
    }


def test_every_code_has_words_and_every_declining_test_card_a_code():
    assert set(CATALOGUE) == set(FailureCode)
    assert all(failure.message for failure in CATALOGUE.values())
    declining = {behaviour for behaviour in TEST_CARDS.values() if behaviour in DECLINE_BEHAVIOURS}
    assert declining <= set(CATALOGUE)


def test_only_a_card_no_retry_alone_can_make_work_is_a_hard_decline():
    # Expired, lost or stolen: never again; 3-D Secure wanted: not without the cardholder there.
    assert {"expired_card", "lost_card", "stolen_card", "authentication_required"} == HARD_DECLINES
    assert is_hard_decline("stolen_card")
    assert not is_hard_decline("insufficient_funds")
    assert not is_hard_decline("do_not_honor")  # a gateway's own code: another try may work


def test_a_gateways_own_code_gets_the_general_words():
    assert failure_message("do_not_honor") == OTHER_FAILURE
    assert failure_message("lost_card") == failure_message(FailureCode.STOLEN_CARD)
    assert "lost or stolen" in failure_message("lost_card")


@pytest.mark.parametrize("code", list(FailureCode))
def test_every_message_reads_in_chinese_too(code):
    with translation.override("zh-hans"):
        chinese = customer_message(code)

    assert chinese != failure_message(code), f"translate {failure_message(code)!r} in the zh_Hans catalog"
