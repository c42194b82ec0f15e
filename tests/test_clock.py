"""The one clock, frozen by FROZEN_NOW; the settings that start it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registration import clock, create_app
from registration.config import ConfigError, parse_frozen_now


def test_frozen_now_needs_an_offset():
    assert parse_frozen_now("2023-05-20T10:00:00+02:00") == datetime(2023, 5, 20, 8, tzinfo=UTC)
    assert parse_frozen_now("") is None
    assert parse_frozen_now(None) is None
    with pytest.raises(ConfigError):
        parse_frozen_now("2023-05-20T10:00:00")
    with pytest.raises(ConfigError):
        parse_frozen_now("demain")


def test_clock_is_frozen_by_the_setting(app):
    with app.app_context():
        assert clock.now() == datetime(2023, 5, 20, 8, tzinfo=UTC)
        assert clock.now().tzinfo is UTC
        assert clock.frozen() == datetime.fromisoformat("2023-05-20T10:00:00+02:00")
        app.config["FROZEN_NOW"] = None
        assert clock.frozen() is None
        assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
        assert clock.now().tzinfo is UTC


def test_outside_an_app_the_clock_is_the_real_one():
    assert clock.frozen() is None
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_simulated_date_notice_shows_only_when_frozen(make_app, event):
    frozen = make_app().test_client().get(event.url).get_data(as_text=True)
    assert "Date simulée" in frozen and "samedi 20 mai 2023 à 10h00" in frozen
    real = make_app(FROZEN_NOW=None).test_client().get(event.url)
    text = real.get_data(as_text=True)
    assert "Date simulée" not in text
    assert "Inscriptions closes" in text  # the real clock is past the 2023 deadline


def test_production_without_a_secret_key_stops_with_a_message(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as stop:
        create_app()
    assert "SECRET_KEY est obligatoire" in str(stop.value.code)


def test_a_malformed_frozen_now_stops_start_up_with_a_message(monkeypatch):
    monkeypatch.setenv("FROZEN_NOW", "2023-05-20T10:00:00")
    with pytest.raises(SystemExit) as stop:
        create_app()
    assert "FROZEN_NOW" in str(stop.value.code) and "décalage" in str(stop.value.code)
