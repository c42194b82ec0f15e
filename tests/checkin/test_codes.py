"""The QR code of a check-in code (registration.checkin.codes): its modules, the SVG of the
pages and the PNG of the e-mails, each decoded back to the code."""

from __future__ import annotations

import pytest

from registration.checkin import codes

from .qr import decode, has_quiet_zone, png_pixels, svg_modules

CODES = [
    "abc",
    # What checkin_code gives: a public id and an event's slug, signed (QR version 6).
    "WyIxMTk2M2QxMGNhY2NjMGU0N2I4MGMwNWFjM2I1MWQwZCIsImxhLWRpbnVtLWVuLWFjdGlvbiJd"
    ".OLx9HTSpjRLyttKsQ-gNcnd2nmc",
    "x" * 300,
]


@pytest.mark.parametrize("code", CODES)
def test_the_modules_decode_to_the_code_inside_a_quiet_zone(code):
    rows = codes.qr_modules(code)
    assert {len(row) for row in rows} == {len(rows)}
    assert set(b"".join(rows)) == {0, 255}
    assert has_quiet_zone(rows, codes.BORDER)
    assert decode(rows) == code


@pytest.mark.parametrize("code", CODES)
def test_the_svg_draws_the_modules_and_decodes_to_the_code(code):
    uri = codes.qr_svg_data_uri(code)
    assert not set(uri) & set(" #'\"<>")  # escaped, for the URI and for the HTML attribute
    drawn = svg_modules(uri)
    assert drawn == codes.qr_modules(code)
    assert has_quiet_zone(drawn, 4)
    assert decode(drawn) == code


@pytest.mark.parametrize("code", CODES)
def test_the_png_draws_the_modules_at_scale_and_decodes_to_the_code(code):
    pixels = png_pixels(codes.qr_png(code))
    scaled = [
        bytes(value for value in row for _ in range(codes.SCALE))
        for row in codes.qr_modules(code)
        for _ in range(codes.SCALE)
    ]
    assert pixels == scaled
    assert has_quiet_zone(pixels, 4, scale=6)
    assert decode(pixels) == code
