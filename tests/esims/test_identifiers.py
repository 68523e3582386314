from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from simrenew.esims.identifiers import (
    ActivationCode,
    canonical_iccid,
    iccid_wire_form,
    ios_install_url,
    lpa_qr_payload,
    normalize_msisdn,
    parse_activation_code,
    validate_eid,
    validate_iccid,
)
from simrenew.kit.errors import ValidationFailed

# --- ICCID -------------------------------------------------------------------

PUBLISHED_VALID_ICCIDS = [
    # smartjac.biz knowledge base, "Calculations: ICCID checksum": the worked example
    # serial 896588081210001114 whose Luhn check digit the article computes as 6.
    pytest.param("8965880812100011146", id="smartjac-kb-worked-example"),
    # osmocom/pysim tests/card_sanitizer/: card backups named after the cards' ICCIDs.
    pytest.param("89445310150011013678", id="pysim-card-sanitizer-20-digits"),
    pytest.param("8949440000001155314", id="pysim-card-sanitizer-19-digits"),
    pytest.param("8988211000000467343", id="pysim-card-sanitizer-sysmocom"),
]


@pytest.mark.parametrize("iccid", PUBLISHED_VALID_ICCIDS)
def test_published_iccids_are_accepted(iccid: str) -> None:
    assert validate_iccid(iccid) == iccid


def test_spaces_in_an_iccid_are_ignored() -> None:
    assert validate_iccid(" 8965 8808 1210 0011 146 ") == "8965880812100011146"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # The smartjac worked example with a wrong check digit (6 is right).
        pytest.param("8965880812100011145", "Luhn", id="smartjac-wrong-check-digit"),
        pytest.param("89445310150011013677", "Luhn", id="pysim-wrong-check-digit"),
        pytest.param("896588081210001114", "19 or 20 digits; this one has 18", id="too-short"),
        pytest.param("894453101500110136781", "19 or 20 digits; this one has 21", id="too-long"),
        # A Luhn-valid 19-digit number that is not a telecom card number (MII 89).
        pytest.param("7965880812100011147", "starts with 89", id="not-telecom-prefix"),
        # How some modems print a 19-digit ICCID padded to 20 nibbles.
        pytest.param("8901260487759545390F", "only digits", id="modem-f-padding"),
        pytest.param("", "Enter the ICCID", id="empty"),
    ],
)
def test_invalid_iccids_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_iccid(value)
    assert message in refused.value.detail
    assert refused.value.errors[0].field == "iccid"


digits = st.text(alphabet="0123456789", min_size=16, max_size=17)


@given(body=digits)
def test_any_89_prefix_with_its_luhn_digit_is_valid(body: str) -> None:
    prefix = "89" + body  # 18 or 19 digits
    iccid = prefix + luhn.calc_check_digit(prefix)
    assert validate_iccid(iccid) == iccid


@given(body=digits, data=st.data())
def test_changing_any_single_digit_makes_an_iccid_invalid(body: str, data: st.DataObject) -> None:
    prefix = "89" + body
    iccid = prefix + luhn.calc_check_digit(prefix)
    position = data.draw(st.integers(min_value=0, max_value=len(iccid) - 1), label="position")
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != iccid[position]]), label="digit")
    mistyped = iccid[:position] + replacement + iccid[position + 1 :]
    with pytest.raises(ValidationFailed):
        validate_iccid(mistyped)


# --- ICCID as an SM-DP+ writes it (SGP.22 ES2+) ----------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        # The modem-style value the plain validator refuses above: ES2+ allows it.
        pytest.param("8901260487759545390F", "8901260487759545390", id="upper-f-padding"),
        pytest.param("8949440000001155314f", "8949440000001155314", id="lower-f-padding"),
        pytest.param("8949440000001155314", "8949440000001155314", id="19-digits"),
        pytest.param("89445310150011013678", "89445310150011013678", id="20-digits"),
        pytest.param(" 8949 4400 0000 1155 314F ", "8949440000001155314", id="spaces-and-padding"),
    ],
)
def test_an_smdp_iccid_becomes_bare_digits(value: str, canonical: str) -> None:
    assert canonical_iccid(value) == canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # Padding only ever fills a 19-digit ICCID up to 20 characters.
        pytest.param("89445310150011013678F", "only digits", id="padded-20-digits"),
        pytest.param("894944000000115531F", "only digits", id="padded-18-digits"),
        pytest.param("8949440000001155315F", "Luhn", id="padded-wrong-check-digit"),
        pytest.param("F", "only digits", id="padding-alone"),
        pytest.param("894944000000115531FF", "only digits", id="double-padding"),
    ],
)
def test_a_malformed_smdp_iccid_is_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        canonical_iccid(value)
    assert message in refused.value.detail


def test_wire_form_pads_a_19_digit_iccid_and_leaves_a_20_digit_one() -> None:
    assert iccid_wire_form("8949440000001155314") == "8949440000001155314F"
    assert iccid_wire_form("89445310150011013678") == "89445310150011013678"
    assert canonical_iccid(iccid_wire_form("8949440000001155314")) == "8949440000001155314"


# --- EID -----------------------------------------------------------------------

PUBLISHED_VALID_EIDS = [
    pytest.param("89049032123451234512345678901235", id="commonly-cited-example"),
    # Infineon optiga-connect-iot wiki, "How to verify an EID" (examples after SGP.02 Annex J).
    pytest.param("89034011560010000000000000000121", id="infineon-wiki-worked-example"),
    pytest.param("89001012012341234012345678901224", id="infineon-wiki-example-1"),
    pytest.param("89001567010203040506070809101152", id="infineon-wiki-example-2"),
    pytest.param("89044011112233441122334411223321", id="infineon-wiki-example-3"),
    # osmocom/pysim tests/pySim-shell_test/euicc/get_eid.ok (a sysmoEUICC1 card).
    pytest.param("89049044900000000000000000102355", id="pysim-get-eid"),
]


@pytest.mark.parametrize("eid", PUBLISHED_VALID_EIDS)
def test_published_eids_are_accepted(eid: str) -> None:
    assert validate_eid(eid) == eid


def test_an_eid_written_in_groups_is_accepted() -> None:
    # As the Infineon wiki prints it.
    assert validate_eid("8900 1012 0123 4123 4012 3456 7890 1224") == "89001012012341234012345678901224"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("89049032123451234512345678901234", "check digits", id="last-digit-changed"),
        pytest.param("89049032123451234512345678901253", "check digits", id="check-digits-swapped"),
        pytest.param("8904903212345123451234567890123", "32 digits; this one has 31", id="too-short"),
        pytest.param("8904903212345123451234567890123X", "only digits", id="letter"),
        pytest.param("", "Enter the EID", id="empty"),
    ],
)
def test_invalid_eids_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_eid(value)
    assert message in refused.value.detail
    assert refused.value.errors[0].field == "eid"


# --- MSISDN --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("+1 212 555 0100", "+12125550100"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("+12125550100", "+12125550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+86 138 0013 8000", "+8613800138000"),
    ],
)
def test_international_numbers_become_e164(value: str, e164: str) -> None:
    assert normalize_msisdn(value) == e164


def test_a_bare_national_number_is_refused_with_an_example() -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalize_msisdn("212 555 0100")
    assert "international format" in refused.value.detail
    assert "+1 212 555 0100" in refused.value.detail
    assert refused.value.errors[0].field == "msisdn"


def test_a_caller_that_knows_the_country_may_pass_a_default_region() -> None:
    assert normalize_msisdn("(212) 555-0100", default_region="US") == "+12125550100"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("+1 212 555 010", "not a valid phone number"),
        ("+1 800 FLOWERS", "only digits"),
        ("+1 212 555 0100 ext. 7", "only digits"),
        ("", "Enter the phone number"),
    ],
)
def test_invalid_numbers_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalize_msisdn(value)
    assert message in refused.value.detail


# --- Activation code -------------------------------------------------------------
# Examples in the style of GSMA SGP.22 section 4.1, as used by the test suite of
# laf0rge/onomondo-ipa (tests/activation_code/activation_code_test.c).

SGP22_EXAMPLE = "1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"


@pytest.mark.parametrize(
    ("value", "expected", "canonical"),
    [
        (SGP22_EXAMPLE, ActivationCode("SMDP.EXAMPLE.COM", "04386-AGYFT-A74Y8-3F815"), SGP22_EXAMPLE),
        (
            SGP22_EXAMPLE + "$$1",
            ActivationCode("SMDP.EXAMPLE.COM", "04386-AGYFT-A74Y8-3F815", confirmation_code_required=True),
            SGP22_EXAMPLE + "$$1",
        ),
        (
            SGP22_EXAMPLE + "$1.3.6.1.4.1.31746$1",
            ActivationCode("SMDP.EXAMPLE.COM", "04386-AGYFT-A74Y8-3F815", "1.3.6.1.4.1.31746", True),
            SGP22_EXAMPLE + "$1.3.6.1.4.1.31746$1",
        ),
        (
            SGP22_EXAMPLE + "$1.3.6.1.4.1.31746",
            ActivationCode("SMDP.EXAMPLE.COM", "04386-AGYFT-A74Y8-3F815", "1.3.6.1.4.1.31746"),
            SGP22_EXAMPLE + "$1.3.6.1.4.1.31746",
        ),
        # Pasted from a QR code: the LPA: prefix is dropped.
        (
            "LPA:" + SGP22_EXAMPLE,
            ActivationCode("SMDP.EXAMPLE.COM", "04386-AGYFT-A74Y8-3F815"),
            SGP22_EXAMPLE,
        ),
        (" 1$rsp.truphone.com$QRF-SPEEDTEST \n", ActivationCode("rsp.truphone.com", "QRF-SPEEDTEST"), None),
        # An empty trailing OID adds nothing.
        (SGP22_EXAMPLE + "$", ActivationCode("SMDP.EXAMPLE.COM", "04386-AGYFT-A74Y8-3F815"), SGP22_EXAMPLE),
    ],
)
def test_activation_codes_are_parsed(value: str, expected: ActivationCode, canonical: str | None) -> None:
    code = parse_activation_code(value)
    assert code == expected
    assert code.as_string() == (canonical or value.strip())
    assert parse_activation_code(code.as_string()) == code


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("xyz14390lojij", "starts with '1$'", id="garbage"),
        pytest.param("", "Enter the activation code", id="empty"),
        pytest.param("LPA:", "Enter the activation code", id="only-prefix"),
        pytest.param("1$", "incomplete", id="no-address"),
        pytest.param("1$SMDP.EXAMPLE.COM", "incomplete", id="no-matching-id-part"),
        pytest.param("1$SMDP.EXAMPLE.COM$$1.3.6.1.4.1.31746", "no Matching ID", id="empty-matching-id"),
        pytest.param("2$SMDP.EXAMPLE.COM$ABC", "starts with '1$'", id="format-2"),
        pytest.param("1$SMDP.EXAMPLE.COM$abc-123", "upper-case", id="lower-case-matching-id"),
        pytest.param("1$SMDP.EXAMPLE.COM$ABC_123", "upper-case", id="underscore-in-matching-id"),
        pytest.param("1$smdp_example$ABC", "not a host name", id="bad-host"),
        pytest.param("1$10.0.0.1$ABC", "not a host name", id="ip-address"),
        pytest.param("1$localhost$ABC", "not a host name", id="single-label"),
        pytest.param("1$$ABC", "no SM-DP+ address", id="empty-address"),
        pytest.param(SGP22_EXAMPLE + "$1.3.6$2", "must be '1'", id="bad-confirmation-flag"),
        pytest.param(SGP22_EXAMPLE + "$abc", "object identifier", id="bad-oid"),
        pytest.param(SGP22_EXAMPLE + "$1.3.6$1$X", "too many", id="too-many-parts"),
        pytest.param("1$SMDP.EXAMPLE.COM$" + "A" * 250, "longer than 255", id="too-long"),
    ],
)
def test_bad_activation_codes_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_activation_code(value)
    assert message in refused.value.detail
    assert refused.value.errors[0].field == "activation_code"


def test_activation_code_is_immutable() -> None:
    code = parse_activation_code(SGP22_EXAMPLE)
    with pytest.raises(AttributeError):
        code.matching_id = "OTHER"  # type: ignore[misc]


def test_qr_payload_is_the_code_prefixed_with_lpa() -> None:
    assert lpa_qr_payload(SGP22_EXAMPLE) == "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"
    assert lpa_qr_payload(parse_activation_code(SGP22_EXAMPLE + "$$1")) == "LPA:" + SGP22_EXAMPLE + "$$1"


def test_ios_link_carries_the_whole_lpa_string_percent_encoded() -> None:
    url = ios_install_url(SGP22_EXAMPLE)
    assert url == (
        "https://esimsetup.apple.com/esim_qrcode_provisioning"
        "?carddata=LPA%3A1%24SMDP.EXAMPLE.COM%2404386-AGYFT-A74Y8-3F815"
    )
    parts = urlsplit(url)
    assert parse_qs(parts.query) == {"carddata": ["LPA:" + SGP22_EXAMPLE]}
