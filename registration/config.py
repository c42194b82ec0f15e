"""Every setting comes from the environment (a `.env` file is read in development)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A setting is missing or malformed."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "oui"}


def parse_frozen_now(value: str | None) -> datetime | None:
    """FROZEN_NOW is an ISO 8601 datetime with an offset, or empty."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"FROZEN_NOW : date ISO 8601 illisible : {value!r}") from exc
    if moment.tzinfo is None:
        raise ConfigError(f"FROZEN_NOW doit porter un décalage horaire (ex. +02:00) : {value!r}")
    return moment


def load(
    env: dict[str, str] | None = None, instance_path: str | Path = ROOT / "instance"
) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if env is None else env)
    instance = Path(instance_path)
    app_env = env.get("APP_ENV", "production")
    dev = app_env in {"development", "test"}

    secret = env.get("SECRET_KEY", "")
    if not secret:
        if not dev:
            raise ConfigError("SECRET_KEY est obligatoire hors développement (APP_ENV=production).")
        secret = "dev-only-insecure-secret"

    mail_backend = env.get("MAIL_BACKEND", "file" if app_env == "development" else "smtp")
    config: dict[str, Any] = {
        "APP_ENV": app_env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": env.get(
            "DATABASE_URL", f"sqlite:///{instance / 'inscriptions.db'}"
        ),
        "CONTENT_DIR": env.get("CONTENT_DIR", str(ROOT / "content")),
        "SHOW_UNPUBLISHED": _bool(env.get("SHOW_UNPUBLISHED")),
        "FROZEN_NOW": parse_frozen_now(env.get("FROZEN_NOW")),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        "DSFR_DIST": env.get("DSFR_DIST", str(ROOT / "node_modules/@gouvfr/dsfr/dist")),
        # Registration
        "PENDING_HOLD_HOURS": int(env.get("PENDING_HOLD_HOURS", "24")),
        "REGISTRATION_RATE_LIMIT": env.get("REGISTRATION_RATE_LIMIT", "10 per minute"),
        "SIGNIN_RATE_LIMIT": env.get("SIGNIN_RATE_LIMIT", "5 per minute"),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), default=True),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Extra accepted e-mail domains of this deployment, one a line; empty: none
        "EXTRA_DOMAINS_FILE": env.get("EXTRA_DOMAINS_FILE", ""),
        # Mail (Flask-Mail's own keys, plus the backend and a timeout)
        "MAIL_BACKEND": mail_backend,
        "MAIL_FILE_DIR": env.get("MAIL_FILE_DIR", str(instance / "mail")),
        "MAIL_SERVER": env.get("MAIL_SERVER", "localhost"),
        "MAIL_PORT": int(env.get("MAIL_PORT", "25")),
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _bool(env.get("MAIL_USE_SSL")),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env.get(
            "MAIL_DEFAULT_SENDER", "Inscriptions <ne-pas-repondre@localhost>"
        ),
        "MAIL_TIMEOUT": float(env.get("MAIL_TIMEOUT", "3")),
        # Never silently drop mail (Flask-Mail does when TESTING): dev uses the file backend.
        "MAIL_SUPPRESS_SEND": False,
        "OUTBOX_MAX_ATTEMPTS": int(env.get("OUTBOX_MAX_ATTEMPTS", "8")),
        # Request size: the forms are a few kilobytes; anything larger answers 413.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(1024 * 1024))),
        "MAX_FORM_MEMORY_SIZE": int(env.get("MAX_FORM_MEMORY_SIZE", str(64 * 1024))),
        "MAX_FORM_PARTS": int(env.get("MAX_FORM_PARTS", "200")),
        # Cookies
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), default=not dev),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), default=not dev),
        "WTF_CSRF_TIME_LIMIT": None,
        # werkzeug's password hashing; the tests use a cheap one
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "scrypt"),
    }
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        config["SQLALCHEMY_DATABASE_URI"] = config["SQLALCHEMY_DATABASE_URI"].replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    return config
