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


def _absolute_sqlite(url: str) -> str:
    """`sqlite:///instance/x.db` is relative to the project folder, where the commands run
    (Flask-SQLAlchemy would otherwise resolve it under the instance folder)."""
    prefix = "sqlite:///"
    path = url.removeprefix(prefix)
    if not url.startswith(prefix) or path.startswith(("/", ":memory:")) or not path:
        return url
    return f"{prefix}{ROOT / path}"


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
        "JSQR_DIST": env.get("JSQR_DIST", str(ROOT / "node_modules/jsqr/dist")),
        # Registration
        "PENDING_HOLD_HOURS": int(env.get("PENDING_HOLD_HOURS", "24")),
        # per IP address: loose, a ministry's agents may all come through one proxy
        "REGISTRATION_RATE_LIMIT": env.get("REGISTRATION_RATE_LIMIT", "300 per minute"),
        # per e-mail address and IP address together
        "REGISTRATION_RATE_LIMIT_PER_ADDRESS": env.get(
            "REGISTRATION_RATE_LIMIT_PER_ADDRESS", "5 per minute; 20 per hour"
        ),
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
        # ProConnect (empty: no ProConnect button anywhere); see the README
        "PROCONNECT_ISSUER": env.get("PROCONNECT_ISSUER", "").strip(),
        "PROCONNECT_CLIENT_ID": env.get("PROCONNECT_CLIENT_ID", "").strip(),
        "PROCONNECT_CLIENT_SECRET": env.get("PROCONNECT_CLIENT_SECRET", "").strip(),
        # empty: PUBLIC_BASE_URL + /proconnect/retour and /proconnect/deconnexion/retour
        "PROCONNECT_REDIRECT_URI": env.get("PROCONNECT_REDIRECT_URI", "").strip(),
        "PROCONNECT_POST_LOGOUT_REDIRECT_URI": env.get(
            "PROCONNECT_POST_LOGOUT_REDIRECT_URI", ""
        ).strip(),
        # seconds each call to ProConnect may take
        "PROCONNECT_TIMEOUT": float(env.get("PROCONNECT_TIMEOUT", "5")),
        # werkzeug's password hashing; the tests use a cheap one
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "scrypt"),
    }
    config["SQLALCHEMY_DATABASE_URI"] = _absolute_sqlite(config["SQLALCHEMY_DATABASE_URI"])
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        config["SQLALCHEMY_DATABASE_URI"] = config["SQLALCHEMY_DATABASE_URI"].replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    config.update(_operations(env, app_env))
    return config


def _operations(env: dict[str, str], app_env: str) -> dict[str, Any]:
    """Logs, and what a dead Redis or database may cost a request."""
    log_format = env.get("LOG_FORMAT", "").strip().lower()
    if log_format not in {"", "json", "text"}:
        raise ConfigError(f"LOG_FORMAT vaut json ou text : {log_format!r}")
    redis_timeout = float(env.get("RATELIMIT_STORAGE_TIMEOUT", "0.5"))
    config: dict[str, Any] = {
        # json or text; empty: json in production, text elsewhere
        "LOG_FORMAT": log_format,
        # the tests keep quiet unless asked: a line per request would bury their failures
        "LOG_LEVEL": env.get("LOG_LEVEL", "").strip().upper()
        or ("WARNING" if app_env == "test" else "INFO"),
        # Redis down: each process counts in its own memory meanwhile, with a warning,
        # rather than answer 500; Redis is tried again now and then.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "inscriptions"),
        # Passed to redis.Redis (the memory storage ignores them): a dead Redis costs this.
        "RATELIMIT_STORAGE_OPTIONS": {
            "socket_connect_timeout": redis_timeout,
            "socket_timeout": redis_timeout,
        },
    }
    # A pooled connection idle this long is tested before use (db.ping_when_idle).
    config["DATABASE_PING_AFTER_IDLE"] = float(env.get("DATABASE_PING_AFTER_IDLE", "1"))
    if env.get("DATABASE_URL", "").startswith("postgresql"):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"connect_timeout": int(env.get("DATABASE_CONNECT_TIMEOUT", "5"))},
        }
    return config
