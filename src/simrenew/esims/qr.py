"""QR codes for eSIM activation, drawn with segno.

Error correction M (15 %) survives a scratched or glare-covered screen without
making the symbol dense; the 4-module quiet zone is what ISO/IEC 18004 asks
for; 10 pixels per module gives roughly 300-500 px for a typical activation
code, comfortable for a phone camera held at arm's length from another screen.
"""

from __future__ import annotations

import io

import segno

from simrenew.esims.identifiers import ActivationCode, lpa_qr_payload

ERROR_LEVEL = "m"
QUIET_ZONE_MODULES = 4
PNG_PIXELS_PER_MODULE = 10
SVG_UNITS_PER_MODULE = 10


def _symbol(payload: str) -> segno.QRCode:
    # boost_error=False keeps the promised level M rather than letting segno raise it.
    return segno.make(payload, error=ERROR_LEVEL, micro=False, boost_error=False)


def qr_svg(payload: str) -> bytes:
    """An SVG document (UTF-8) with dark modules on a white background."""
    buffer = io.BytesIO()
    _symbol(payload).save(
        buffer,
        kind="svg",
        scale=SVG_UNITS_PER_MODULE,
        border=QUIET_ZONE_MODULES,
        dark="#000",
        light="#fff",
        title="eSIM activation code",
    )
    return buffer.getvalue()


def qr_png(payload: str) -> bytes:
    """A PNG image with dark modules on a white background."""
    buffer = io.BytesIO()
    _symbol(payload).save(
        buffer,
        kind="png",
        scale=PNG_PIXELS_PER_MODULE,
        border=QUIET_ZONE_MODULES,
        dark="#000",
        light="#fff",
    )
    return buffer.getvalue()


def activation_qr_svg(code: ActivationCode | str) -> bytes:
    """The activation QR code (``LPA:1$...``) as SVG."""
    return qr_svg(lpa_qr_payload(code))


def activation_qr_png(code: ActivationCode | str) -> bytes:
    """The activation QR code (``LPA:1$...``) as PNG."""
    return qr_png(lpa_qr_payload(code))
