"""Organiser and admin accounts: creation, passwords, sign-in checks, sessions."""

from __future__ import annotations

import functools
import re
import threading

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from . import clock
from .db import transaction
from .extensions import db
from .models import AuditEntry, Role, User

MIN_PASSWORD_LENGTH = 12
# zxcvbn's score 3: at least 10^8 guesses for its attacker model (common-password lists,
# dictionaries, names, keyboard walks, repeats, sequences, dates, l33t). With sign-ins
# limited per account and IP (views/auth.py), that is years of online guessing.
MIN_PASSWORD_SCORE = 3
# zxcvbn reads the first 72 characters at most; a longer password is at least as strong.
ZXCVBN_MAX_LENGTH = 72
# zxcvbn's lists are English: French words and this service's own names, guessed first.
FRENCH_GUESSES = (
    "motdepasse",
    "mot de passe",
    "azerty",
    "azertyuiop",
    "qsdfghjklm",
    "bonjour",
    "soleil",
    "doudou",
    "chouchou",
    "loulou",
    "coucou",
    "jetaime",
    "marseille",
    "paris",
    "france",
    "republique",
    "inscription",
    "inscriptions",
    "evenement",
    "organisateur",
    "administrateur",
    "numerique",
    "dinum",
    "gouv",
)
# zxcvbn keeps the user's words in a module-level dictionary: one check at a time.
_zxcvbn_lock = threading.Lock()
TOO_EASY = (
    "Ce mot de passe est trop facile à deviner : il figure parmi les mots de passe "
    "courants, répète ou suit des caractères, ou reprend l’adresse e-mail. Choisissez "
    "par exemple une phrase de plusieurs mots."
)


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@functools.cache
def _dummy_hash(method: str) -> str:
    """Checked when the e-mail is unknown, so that a miss costs as long as a wrong password."""
    return generate_password_hash("not-a-real-password", method=method)


class AccountError(ValueError):
    """A French message for the command line or the admin page; `field` names the form
    field it belongs to."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def normalise(email: str) -> str:
    return email.strip().lower()


def _email_words(email: str) -> list[str]:
    """The address, its local part (with and without separators) and every word of it."""
    address = normalise(email)
    local, _, domain = address.partition("@")
    words = [address, local, re.sub(r"[._+-]+", "", local), domain, *re.split(r"[._+@-]+", address)]
    return [word for word in words if word]


def check_password(password: str, email: str = "") -> None:
    """AccountError unless the password is long enough and hard to guess."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères.",
            "password",
        )
    from zxcvbn import zxcvbn  # 20-40 ms to import: only where a password is set

    with _zxcvbn_lock:
        result = zxcvbn(
            password[:ZXCVBN_MAX_LENGTH], user_inputs=[*_email_words(email), *FRENCH_GUESSES]
        )
    if result["score"] < MIN_PASSWORD_SCORE:
        raise AccountError(TOO_EASY, "password")


def find(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == normalise(email))).first()


def new_user(email: str, password: str, role: Role) -> User:
    """Add an account to the current transaction."""
    check_password(password, email)
    if find(email) is not None:
        raise AccountError(f"Un compte existe déjà pour {normalise(email)}.", "email")
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


def _audit(user: User, action: str, actor: str) -> None:
    db.session.add(AuditEntry(at=clock.now(), actor=actor, action=action, details=user.email))


def set_password(user: User, password: str, actor: str) -> None:
    """A new password (the command line's way): every session of the account ends."""
    check_password(password, user.email)
    with transaction():
        user.password_hash = _hash(password)  # the model ends the sessions
        _audit(user, "user-mot-de-passe", actor)


def change_password(user: User, current: str, new: str) -> None:
    """The account's owner changes their password: every session ends, this one included
    (the caller signs the person in again). AccountError names the field at fault."""
    if not check_password_hash(user.password_hash, current):
        raise AccountError("Le mot de passe actuel est incorrect.", "current_password")
    if new == current:
        raise AccountError(
            "Le nouveau mot de passe doit être différent de l’actuel.", "new_password"
        )
    try:
        check_password(new, user.email)
    except AccountError as error:
        raise AccountError(error.message, "new_password") from None
    with transaction():
        user.password_hash = _hash(new)  # the model ends the sessions
        _audit(user, "user-mot-de-passe", user.email)


def set_active(user: User, active: bool) -> None:
    """Disabling an account ends its sessions (the model does it)."""
    with transaction():
        user.active = active


def end_sessions(user: User) -> None:
    """Sign the account out everywhere: every session and remember-me cookie."""
    with transaction():
        user.end_sessions()


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


def authenticate_verified(email: str) -> User | None:
    """The active account with this address, which ProConnect verified, or None: an
    unknown or disabled account is refused, and no account is ever created here."""
    user = find(email)
    if user is None or not user.active:
        return None
    with transaction():
        user.last_sign_in_at = clock.now()
    return user


def session_user(session_id: str) -> User | None:
    """The account a session or remember-me cookie stands for ("id:version", see
    User.get_id), or None once that version has moved on or the account is disabled."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None  # older sessions held the id alone: they end too
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user
