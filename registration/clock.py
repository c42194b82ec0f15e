"""The one source of "now": the real clock, or the instant FROZEN_NOW sets."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_app_context


def frozen() -> datetime | None:
    """The simulated instant, when the clock is frozen."""
    return current_app.config.get("FROZEN_NOW") if has_app_context() else None


def now() -> datetime:
    """An aware datetime in UTC."""
    moment = frozen()
    return (moment or datetime.now(UTC)).astimezone(UTC)
