"""Read paths of eSIM profiles: how a customer installs one."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from simrenew.esims import qr
from simrenew.esims.identifiers import ios_install_url, lpa_qr_payload, parse_activation_code
from simrenew.esims.models import USABLE_STATUSES, EsimProfile
from simrenew.esims.services import ProfileStateConflict

# Only a profile in a customer's hands may be installed (its QR link is signed for that customer).
INSTALLABLE = USABLE_STATUSES
BACKUP_REMINDER = (
    "Back up your phone before you install an eSIM, and keep it on Wi-Fi: an eSIM can usually be "
    "downloaded only once, so do not delete it afterwards."
)


@dataclass(frozen=True, slots=True)
class InstallInstructions:
    profile: EsimProfile
    activation_code: str  # SGP.22: 1$<SM-DP+ address>$<Matching ID>
    lpa_string: str  # what the QR code holds: LPA:<activation code>
    smdp_address: str
    matching_id: str
    confirmation_code_required: bool
    qr_svg_data_uri: str
    ios_install_url: str
    ios_steps: list[str]
    android_steps: list[str]
    backup_reminder: str


def _ios_steps(smdp_address: str, matching_id: str, confirmation: bool) -> list[str]:
    steps = [
        "Back up your iPhone and connect it to Wi-Fi.",
        "On an iPhone with iOS 17.4 or later, open the install link on the phone itself and tap Allow; "
        "otherwise go on with the QR code.",
        "Open Settings > Mobile Data (Cellular) > Add eSIM > Use QR Code, and scan the QR code shown on "
        "another screen.",
        f"No camera at hand: tap Enter Details Manually and type the SM-DP+ address {smdp_address} and the "
        f"activation code {matching_id}.",
    ]
    if confirmation:
        steps.append("Enter the confirmation code you were given separately when the phone asks for it.")
    steps += [
        "Give the eSIM a label (e.g. Travel), choose it for mobile data, and keep your main line for calls "
        "if you like.",
        "Turn on Data Roaming for this eSIM when you are abroad.",
    ]
    return steps


def _android_steps(activation_code: str, confirmation: bool) -> list[str]:
    steps = [
        "Back up your phone and connect it to Wi-Fi.",
        "Open Settings > Network & internet > SIMs > Add SIM (on Samsung: Settings > Connections > "
        "SIM manager > Add eSIM).",
        "Choose Download a SIM / Scan QR code, and scan the QR code shown on another screen.",
        f"No camera at hand: choose Need help? > Enter it manually and type the whole activation code "
        f"{activation_code}.",
    ]
    if confirmation:
        steps.append("Enter the confirmation code you were given separately when the phone asks for it.")
    steps += [
        "Name the eSIM, turn it on, and choose it for mobile data.",
        "Turn on Roaming for this eSIM when you are abroad.",
    ]
    return steps


def install_instructions(profile: EsimProfile) -> InstallInstructions:
    """Everything a phone needs to install the profile: QR, manual entry, the iOS link and the steps.

    Raises ProfileStateConflict (409) when the profile is not in a customer's hands."""
    if profile.status not in INSTALLABLE or profile.customer_id is None:
        raise ProfileStateConflict(
            f"eSIM {profile.pk} is {profile.status}, not assigned to a customer, so it cannot be installed."
        )
    code = parse_activation_code(profile.activation_code)
    lpa = lpa_qr_payload(code)
    svg = qr.qr_svg(lpa)
    return InstallInstructions(
        profile=profile,
        activation_code=code.as_string(),
        lpa_string=lpa,
        smdp_address=code.smdp_address,
        matching_id=code.matching_id,
        confirmation_code_required=code.confirmation_code_required,
        qr_svg_data_uri="data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"),
        ios_install_url=ios_install_url(code),
        ios_steps=_ios_steps(code.smdp_address, code.matching_id, code.confirmation_code_required),
        android_steps=_android_steps(code.as_string(), code.confirmation_code_required),
        backup_reminder=BACKUP_REMINDER,
    )
