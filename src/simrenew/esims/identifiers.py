"""eSIM identifiers: ICCID, EID, MSISDN and the SGP.22 activation code.

Every way into the system (API, portal, CSV import, admin) goes through these
functions, so a bad identifier is refused with the same words everywhere.
Checksums come from python-stdnum and phone numbers from phonenumbers; nothing
here re-implements them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import DomainNameValidator
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from simrenew.kit.errors import ValidationFailed

IOS_INSTALL_BASE_URL = "https://esimsetup.apple.com/esim_qrcode_provisioning"
LPA_PREFIX = "LPA:"
# The activation_code column is 255 characters wide.
ACTIVATION_CODE_MAX_LENGTH = 255

_MATCHING_ID_RE = re.compile(r"[0-9A-Z-]+")
_OID_RE = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
_PHONE_CHARS_RE = re.compile(r"[0-9+\-(). ]+")
_fqdn_validator = DomainNameValidator(accept_idna=False)


def _without_spaces(value: str) -> str:
    return "".join(value.split())


def validate_iccid(value: str) -> str:
    """Return the ICCID as bare digits: 19 or 20 digits, starting 89, Luhn-valid (ITU-T E.118)."""
    iccid = _without_spaces(value)
    if not iccid:
        raise ValidationFailed.on("iccid", "Enter the ICCID: 19 or 20 digits starting with 89.")
    if not iccid.isascii() or not iccid.isdigit():
        raise ValidationFailed.on("iccid", f"An ICCID has only digits; {iccid!r} has other characters.")
    if len(iccid) not in (19, 20):
        raise ValidationFailed.on("iccid", f"An ICCID has 19 or 20 digits; this one has {len(iccid)}.")
    if not iccid.startswith("89"):
        raise ValidationFailed.on(
            "iccid", f"An ICCID starts with 89 (the telecom prefix); this one starts with {iccid[:2]}."
        )
    if not luhn.is_valid(iccid):
        raise ValidationFailed.on(
            "iccid", "The ICCID's last digit does not match its Luhn check digit; look for a mistyped digit."
        )
    return iccid


def canonical_iccid(value: str) -> str:
    """The ICCID as bare digits, however an SM-DP+ wrote it (SGP.22 sends a 19-digit ICCID padded
    with a trailing ``F`` to 20 characters, as it sits nibble-swapped in EF.ICCID)."""
    iccid = _without_spaces(value)
    if len(iccid) == 20 and iccid[-1] in "Ff":
        iccid = iccid[:-1]
    return validate_iccid(iccid)


def iccid_wire_form(iccid: str) -> str:
    """The ICCID as ES2+ messages usually carry it: 20 characters, a 19-digit one padded with ``F``.
    An SM-DP+'s own spelling is echoed back as it came; this is for ICCIDs we write first."""
    digits = validate_iccid(iccid)
    return digits + "F" if len(digits) == 19 else digits


def validate_eid(value: str) -> str:
    """Return the EID as bare digits: 32 digits whose ISO 7064 mod 97-10 check holds (SGP.29)."""
    eid = _without_spaces(value)
    if not eid:
        raise ValidationFailed.on("eid", "Enter the EID: 32 digits.")
    if not eid.isascii() or not eid.isdigit():
        raise ValidationFailed.on("eid", f"An EID has only digits; {eid!r} has other characters.")
    if len(eid) != 32:
        raise ValidationFailed.on("eid", f"An EID has 32 digits; this one has {len(eid)}.")
    if not mod_97_10.is_valid(eid):
        raise ValidationFailed.on(
            "eid", "The EID's check digits do not match (ISO 7064 mod 97-10); look for a mistyped digit."
        )
    return eid


def normalize_msisdn(value: str, *, default_region: str | None = None) -> str:
    """Return the number in E.164 (``+12125550100``).

    Numbers must be written internationally (``+1 212 555 0100``). A bare
    national number is refused unless the caller passes ``default_region``
    (an ISO 3166 code such as ``"US"``): the service sells plans on carriers
    of more than one country over time, and silently reading ``2125550100``
    as American would turn a foreign number into a wrong US one.
    """
    raw = value.strip()
    if not raw:
        raise ValidationFailed.on("msisdn", "Enter the phone number in international format, e.g. +1 212 555 0100.")
    if not _PHONE_CHARS_RE.fullmatch(raw):
        raise ValidationFailed.on(
            "msisdn", "A phone number may contain only digits, spaces, '+', '-', '(', ')' and '.'."
        )
    if not raw.startswith("+") and default_region is None:
        raise ValidationFailed.on(
            "msisdn",
            f"Write {raw!r} in international format with + and the country code, e.g. +1 212 555 0100.",
        )
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed.on("msisdn", f"{raw!r} cannot be read as a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed.on("msisdn", f"{raw!r} is not a valid phone number for its country code.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class ActivationCode:
    """An SGP.22 activation code (section 4.1): ``1$<SM-DP+ address>$<Matching ID>[$<OID>[$1]]``."""

    smdp_address: str
    matching_id: str
    smdp_oid: str = ""
    confirmation_code_required: bool = False

    def as_string(self) -> str:
        """The canonical activation code, without the ``LPA:`` prefix used in QR codes."""
        parts = ["1", self.smdp_address, self.matching_id]
        if self.smdp_oid or self.confirmation_code_required:
            parts.append(self.smdp_oid)
        if self.confirmation_code_required:
            parts.append("1")
        return "$".join(parts)

    def __str__(self) -> str:
        return self.as_string()


_AC_SHAPE = "1$<SM-DP+ address>$<Matching ID>, optionally followed by $<SM-DP+ OID> and $1"


def _validate_smdp_address(address: str) -> str:
    problem = f"The SM-DP+ address {address!r} is not a host name such as smdp.example.com."
    if not address:
        raise ValidationFailed.on("activation_code", "The activation code has no SM-DP+ address.")
    if len(address) > 253 or address.endswith("."):
        raise ValidationFailed.on("activation_code", problem)
    try:
        _fqdn_validator(address)
    except DjangoValidationError:
        raise ValidationFailed.on("activation_code", problem) from None
    if address.rsplit(".", 1)[-1].isdigit():  # an IP address, not a domain name
        raise ValidationFailed.on("activation_code", problem)
    return address


def _validate_matching_id(matching_id: str) -> str:
    if not matching_id:
        raise ValidationFailed.on(
            "activation_code", "The activation code has no Matching ID; inventory profiles need one."
        )
    if not _MATCHING_ID_RE.fullmatch(matching_id):
        raise ValidationFailed.on(
            "activation_code",
            f"The Matching ID {matching_id!r} may contain only upper-case letters A-Z, digits and '-' "
            "(SGP.22 section 4.1.1).",
        )
    return matching_id


def parse_activation_code(value: str) -> ActivationCode:
    """Parse an activation code as issued by an SM-DP+ or read from a QR code (``LPA:`` is optional)."""
    text = value.strip()
    if text[: len(LPA_PREFIX)].upper() == LPA_PREFIX:
        text = text[len(LPA_PREFIX) :]
    if not text:
        raise ValidationFailed.on("activation_code", f"Enter the activation code: {_AC_SHAPE}.")
    parts = text.split("$")
    if parts[0] != "1":
        raise ValidationFailed.on(
            "activation_code", f"An activation code starts with '1$' (SGP.22 format 1): {_AC_SHAPE}."
        )
    if len(parts) < 3:
        raise ValidationFailed.on("activation_code", f"The activation code is incomplete; expected {_AC_SHAPE}.")
    if len(parts) > 5:
        raise ValidationFailed.on(
            "activation_code", f"The activation code has too many '$'-separated parts; expected {_AC_SHAPE}."
        )
    smdp_address = _validate_smdp_address(parts[1])
    matching_id = _validate_matching_id(parts[2])
    smdp_oid = parts[3] if len(parts) >= 4 else ""
    if smdp_oid and not _OID_RE.fullmatch(smdp_oid):
        raise ValidationFailed.on(
            "activation_code",
            f"The SM-DP+ OID {smdp_oid!r} is not a dotted object identifier like 1.3.6.1.4.1.31746.",
        )
    confirmation_code_required = False
    if len(parts) == 5:
        if parts[4] != "1":
            raise ValidationFailed.on(
                "activation_code",
                f"The last part of the activation code must be '1' (confirmation code required), not {parts[4]!r}.",
            )
        confirmation_code_required = True
    code = ActivationCode(
        smdp_address=smdp_address,
        matching_id=matching_id,
        smdp_oid=smdp_oid,
        confirmation_code_required=confirmation_code_required,
    )
    if len(code.as_string()) > ACTIVATION_CODE_MAX_LENGTH:
        raise ValidationFailed.on(
            "activation_code", f"The activation code is longer than {ACTIVATION_CODE_MAX_LENGTH} characters."
        )
    return code


def _as_code(code: ActivationCode | str) -> ActivationCode:
    return code if isinstance(code, ActivationCode) else parse_activation_code(code)


def lpa_qr_payload(code: ActivationCode | str) -> str:
    """What the QR code holds: ``LPA:`` followed by the activation code (SGP.22 section 4.1)."""
    return LPA_PREFIX + _as_code(code).as_string()


def ios_install_url(code: ActivationCode | str) -> str:
    """Apple's direct-install link (iOS 17.4+): the whole ``LPA:1$...`` string, percent-encoded."""
    return f"{IOS_INSTALL_BASE_URL}?carddata={quote(lpa_qr_payload(code), safe='')}"
