"""The personal code of a confirmed registration: a signed token of its public id and its
event's slug, shown as a QR code. It carries no personal data, cannot be guessed, and is
neither the management link nor usable as one (each has its own salt)."""

from __future__ import annotations

import base64
import hashlib
import io
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


def _qr(code: str):  # type: ignore[no-untyped-def]
    import segno  # pure Python; imported here, since serving most pages never needs it

    return segno.make_qr(code, error="m")


def qr_svg_data_uri(code: str) -> str:
    """The QR code as an SVG data URI, for an <img> (CSP: img-src data:)."""
    return str(_qr(code).svg_data_uri(scale=6, border=4, dark="#000", light="#fff"))


def qr_png(code: str, scale: int = 6) -> bytes:
    """The QR code as a PNG, for e-mails (clients show no SVG)."""
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_png_data_uri(code: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(code)).decode()
