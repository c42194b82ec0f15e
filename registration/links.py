"""Signed tokens for the links in e-mails: confirm an address, manage a registration."""

from __future__ import annotations

import functools
from typing import Protocol

from flask import current_app
from itsdangerous import (
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

from . import clock
from .registrations.exceptions import InvalidLink

EXPIRED_CONFIRMATION = (
    "Ce lien de confirmation a expiré. Inscrivez-vous de nouveau si des places restent."
)


class _ClockSigner(TimestampSigner):
    """Token ages are measured on the one clock, like every other deadline."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


# Built once per key: building a serializer costs as much as signing with it, and every
# registration, confirmation and e-mail signs two or three tokens.
@functools.lru_cache(maxsize=8)
def _confirm_serializer_for(secret: str | bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="confirm-address", signer=_ClockSigner)


@functools.lru_cache(maxsize=8)
def _manage_serializer_for(secret: str | bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="manage-registration")


def _confirm_serializer() -> URLSafeTimedSerializer:
    return _confirm_serializer_for(current_app.config["SECRET_KEY"])


def _manage_serializer() -> URLSafeSerializer:
    return _manage_serializer_for(current_app.config["SECRET_KEY"])


class Linked(Protocol):
    """What a link names: a registration, by its public id (a row, or what a message keeps
    of it)."""

    @property
    def public_id(self) -> str: ...


def confirm_token(registration: Linked) -> str:
    return _confirm_serializer().dumps(registration.public_id)


def manage_token(registration: Linked) -> str:
    return _manage_serializer().dumps(registration.public_id)


class ExpiredLink(InvalidLink):
    """A genuine confirmation link, past its hold time."""


def public_id_from_confirm_token(token: str) -> str:
    """The registration a confirmation link names; ExpiredLink or InvalidLink otherwise."""
    max_age = current_app.config["PENDING_HOLD_HOURS"] * 3600
    try:
        return str(_confirm_serializer().loads(token, max_age=max_age))
    except SignatureExpired:
        raise ExpiredLink(EXPIRED_CONFIRMATION) from None
    except BadSignature:
        raise InvalidLink("Ce lien de confirmation n’est pas valide.") from None


def public_id_from_manage_token(token: str) -> str:
    try:
        return str(_manage_serializer().loads(token))
    except BadSignature:
        raise InvalidLink("Ce lien n’est pas valide.") from None
