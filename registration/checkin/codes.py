"""The personal code of a confirmed registration: a signed token of its public id and its
event's slug, shown as a QR code. It carries no personal data, cannot be guessed, and is
neither the management link nor usable as one (each has its own salt)."""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import zlib
from email.message import EmailMessage
from typing import Any, Protocol

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from ..models import Status

SALT = "checkin-code"


class Coded(Protocol):
    """What a code names: a registration, by its public id, and its status."""

    @property
    def public_id(self) -> str: ...

    @property
    def status(self) -> Status: ...


class InvalidCode(Exception):
    """Not a code this service signed: forged, damaged, or signed with another key."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def checkin_code(public_id: str, event_slug: str) -> str:
    """The code of a registration; the same every time (it is derived, never stored)."""
    return _serializer().dumps([public_id, event_slug])


def code_for(registration: Coded, event_slug: str) -> str | None:
    """Only a confirmed registration has a code: it is its ticket at the door."""
    if registration.status != Status.CONFIRMED:
        return None
    return checkin_code(registration.public_id, event_slug)


def read_code(code: str) -> tuple[str, str]:
    """(public id, event slug) of a code; InvalidCode if this service did not sign it."""
    try:
        value = _serializer().loads(code.strip())
    except BadSignature:
        raise InvalidCode(code) from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise InvalidCode(code)
    return value[0], value[1]


# The messages that announce or recall a held seat carry its code (when it is confirmed).
WITH_CODE = frozenset({"confirmed", "promoted", "reminder", "review_accepted"})


def code_in_message(kind: str, params: dict[str, Any] | None) -> str | None:
    """The code a queued message carries: its registration's, if it was confirmed then."""
    registration = (params or {}).get("registration") or {}
    if kind not in WITH_CODE or registration.get("status") != Status.CONFIRMED.value:
        return None
    assert params is not None
    return checkin_code(registration["public_id"], params["event"])


def content_id(code: str) -> str:
    """The Content-ID of the code's image in an e-mail (without its angle brackets)."""
    return f"code-accueil.{hashlib.sha256(code.encode()).hexdigest()[:20]}@inscriptions"


def mail_context(kind: str, params: dict[str, Any] | None) -> dict[str, str]:
    """What the e-mail templates show of the code: nothing, or the code, its image's
    Content-ID and the ticket's address."""
    code = code_in_message(kind, params)
    if code is None or params is None:
        return {}
    from ..mail import external_url

    ticket = external_url("tickets.ticket", slug=params["event"], token=params["manage_token"])
    return {"checkin_code": code, "checkin_cid": content_id(code), "ticket_url": ticket}


def attach_to_email(message: EmailMessage, kind: str, params: dict[str, Any] | None) -> None:
    """The code's PNG, inline in the HTML part (multipart/related), for `cid:` to show it."""
    code = code_in_message(kind, params)
    html = message.get_body(("html",)) if code else None
    if code is None or html is None:
        return
    html.add_related(
        qr_png(code),
        maintype="image",
        subtype="png",
        cid=f"<{content_id(code)}>",
        disposition="inline",
        filename="code-accueil.png",
    )


BORDER = 4  # modules: the light quiet zone the QR standard asks for around a code
SCALE = 6  # pixels a module, in the SVG's own size and in the PNG

_DARK_RUN = re.compile(rb"\x00+")
# What a data URI must not hold as such; the path data holds none of it.
_URI_ESCAPES = str.maketrans({" ": "%20", "#": "%23", "'": "%27", "<": "%3C", ">": "%3E"})


def qr_modules(code: str) -> list[bytes]:
    """The code's QR code, a row of bytes a row of modules, quiet zone included: 0 for a
    dark module, 255 for a light one (an 8-bit grayscale image at a pixel a module)."""
    # zxing-cpp's encoder is C++: the SVG takes about 0.5 ms against 6.5 ms with segno
    # (pure Python, mostly its mask evaluation). Imported here, since serving most pages
    # never needs it.
    import zxingcpp

    barcode = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape
    pixels = bytes(image)  # type: ignore[call-overload]  # a buffer; its stub does not say
    light = b"\xff" * (width + 2 * BORDER)
    margin = b"\xff" * BORDER
    rows = [margin + pixels[i : i + width] + margin for i in range(0, height * width, width)]
    return [light] * BORDER + rows + [light] * BORDER


def qr_svg_data_uri(code: str) -> str:
    """The QR code as an SVG data URI, for an <img> (CSP: img-src data:): one path, a
    horizontal stroke a run of dark modules, on a white square."""
    rows = qr_modules(code)
    # The pen moves from the end of a run to the start of the next one; the strokes run
    # along the middle of the rows (y + 0.5), one module thick.
    path = ["M0,.5"]
    x = y = 0
    for row_y, row in enumerate(rows):
        for run in _DARK_RUN.finditer(row):
            start, end = run.span()
            path.append(f"m{start - x},{row_y - y}h{end - start}")
            x, y = end, row_y
    head, tail = _svg_frame(len(rows))
    return head + "".join(path) + tail


@functools.cache
def _svg_frame(size: int) -> tuple[str, str]:
    """The data URI of a QR code `size` modules wide, before and after its path data,
    escaped once: the path data (digits, "m", "h", "," and "-") needs no escaping."""
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{size * SCALE}' height='{size * SCALE}'"
        f" viewBox='0 0 {size} {size}' shape-rendering='crispEdges'>"
        f"<path fill='#fff' d='M0,0h{size}v{size}h-{size}z'/><path stroke='#000' d='"
    )
    tail = "'/></svg>"
    return "data:image/svg+xml," + head.translate(_URI_ESCAPES), tail.translate(_URI_ESCAPES)


def qr_png(code: str, scale: int = SCALE) -> bytes:
    """The QR code as a PNG, for e-mails (clients show no SVG): black and white, a bit a
    pixel (0 dark), each module `scale` pixels square."""
    rows = qr_modules(code)
    size = len(rows) * scale
    row_bytes = (size + 7) // 8
    padding = "1" * (row_bytes * 8 - size)  # a line fills whole bytes
    bits = {0: "0" * scale, 255: "1" * scale}
    # Each line starts with its filter type, 0 (none); deflate shrinks the repeats.
    lines = [
        (b"\x00" + int("".join([bits[v] for v in row]) + padding, 2).to_bytes(row_bytes, "big"))
        * scale
        for row in rows
    ]
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(b"".join(lines))),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
