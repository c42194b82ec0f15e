"""Organiser and admin accounts: creation, passwords, sign-in checks."""

from __future__ import annotations

import functools

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from . import clock
from .db import transaction
from .extensions import db
from .models import Role, User

MIN_PASSWORD_LENGTH = 12


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@functools.cache
def _dummy_hash(method: str) -> str:
    """Checked when the e-mail is unknown, so that a miss costs as long as a wrong password."""
    return generate_password_hash("not-a-real-password", method=method)


class AccountError(ValueError):
    """A French message for the command line or the admin page."""


def normalise(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
        )


def find(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == normalise(email))).first()


def new_user(email: str, password: str, role: Role) -> User:
    """Add an account to the current transaction."""
    check_password(password)
    if find(email) is not None:
        raise AccountError(f"Un compte existe déjà pour {normalise(email)}.")
    user = User(
        email=normalise(email),
        password_hash=_hash(password),
        role=role,
        created_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    return user


def create_user(email: str, password: str, role: Role) -> User:
    """Create an account (the command line's way; the admin page audits it too)."""
    with transaction():
        return new_user(email, password, role)


def set_password(user: User, password: str) -> None:
    check_password(password)
    with transaction():
        user.password_hash = _hash(password)


def set_active(user: User, active: bool) -> None:
    with transaction():
        user.active = active


def authenticate(email: str, password: str) -> User | None:
    """The active account with this e-mail and password, or None, whichever part is wrong."""
    user = find(email)
    if user is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    with transaction():
        user.last_sign_in_at = clock.now()
    return user
