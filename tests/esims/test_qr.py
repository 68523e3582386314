from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import segno

from simrenew.esims.qr import (
    PNG_PIXELS_PER_MODULE,
    QUIET_ZONE_MODULES,
    activation_qr_png,
    activation_qr_svg,
    qr_png,
    qr_svg,
)

PAYLOAD = "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(png: bytes) -> tuple[int, int]:
    # The IHDR chunk comes first: length, type, then width and height.
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_svg_is_well_formed_xml_with_a_white_background() -> None:
    svg = qr_svg(PAYLOAD)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.attrib["width"]) == int(root.attrib["height"])
    assert b"#fff" in svg


def test_png_is_square_with_quiet_zone_and_phone_friendly_size() -> None:
    png = qr_png(PAYLOAD)
    assert png.startswith(PNG_SIGNATURE)
    symbol = segno.make(PAYLOAD, error="m", micro=False, boost_error=False)
    modules = symbol.symbol_size(scale=1, border=0)[0]
    width, height = _png_size(png)
    assert width == height == (modules + 2 * QUIET_ZONE_MODULES) * PNG_PIXELS_PER_MODULE
    assert width >= 250


def test_error_correction_is_level_m() -> None:
    assert segno.make(PAYLOAD, error="m", micro=False, boost_error=False).error == "M"


def test_activation_qr_encodes_the_lpa_payload() -> None:
    code = "1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"
    assert activation_qr_svg(code) == qr_svg(PAYLOAD)
    assert activation_qr_png(code) == qr_png(PAYLOAD)
