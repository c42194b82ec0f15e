"""French dates in Europe/Paris, and the one clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registration import clock
from registration.config import ConfigError, parse_frozen_now
from registration.dates import date_fr, datetime_fr, time_fr


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2023, 6, 1, 12, 0, tzinfo=UTC), "jeudi 1er juin 2023 à 14h00"),
        (datetime(2023, 5, 26, 16, 0, tzinfo=UTC), "vendredi 26 mai 2023 à 18h00"),
        (datetime(2024, 1, 1, 8, 5, tzinfo=UTC), "lundi 1er janvier 2024 à 09h05"),
        # 23:30 UTC on 31 July is already 1 August in Paris
        (datetime(2023, 7, 31, 23, 30, tzinfo=UTC), "mardi 1er août 2023 à 01h30"),
    ],
)
def test_french_datetime_in_paris(moment, text):
    assert datetime_fr(moment) == text


def test_date_and_time_parts():
    moment = datetime(2023, 6, 2, 12, 0, tzinfo=UTC)
    assert date_fr(moment) == "vendredi 2 juin 2023"
    assert time_fr(moment) == "14h00"


def test_frozen_now_needs_an_offset():
    assert parse_frozen_now("2023-05-20T10:00:00+02:00") == datetime(2023, 5, 20, 8, tzinfo=UTC)
    assert parse_frozen_now("") is None
    with pytest.raises(ConfigError):
        parse_frozen_now("2023-05-20T10:00:00")
    with pytest.raises(ConfigError):
        parse_frozen_now("demain")


def test_clock_is_frozen_by_the_setting(app):
    with app.app_context():
        assert clock.now() == datetime(2023, 5, 20, 8, tzinfo=UTC)
        assert clock.now().tzinfo is UTC
        app.config["FROZEN_NOW"] = None
        assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_simulated_date_notice_shows_only_when_frozen(make_app):
    frozen = make_app().test_client().get("/agenda/la-dinum-en-action/").get_data(as_text=True)
    assert "Date simulée" in frozen and "samedi 20 mai 2023 à 10h00" in frozen
    real = make_app(FROZEN_NOW=None).test_client().get("/agenda/la-dinum-en-action/")
    text = real.get_data(as_text=True)
    assert "Date simulée" not in text
    assert "Inscriptions closes" in text  # the real clock is past the 2023 deadline


def test_production_without_a_secret_key_stops_with_a_message(monkeypatch):
    from registration import create_app

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as stop:
        create_app()
    assert "SECRET_KEY est obligatoire" in str(stop.value.code)
