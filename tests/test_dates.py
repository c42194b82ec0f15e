"""French dates in Europe/Paris, checked against Babel's own `format_datetime`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from babel.dates import format_datetime

from registration.dates import (
    PARIS,
    date_fr,
    datetime_fr,
    short_datetime_fr,
    short_datetime_fr_at,
    time_fr,
)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2023, 6, 1, 12, 0, tzinfo=UTC), "jeudi 1er juin 2023 à 14h00"),
        (datetime(2023, 5, 26, 16, 0, tzinfo=UTC), "vendredi 26 mai 2023 à 18h00"),
        (datetime(2024, 1, 1, 8, 5, tzinfo=UTC), "lundi 1er janvier 2024 à 09h05"),
        # 23:30 UTC on 31 July is already 1 August in Paris
        (datetime(2023, 7, 31, 23, 30, tzinfo=UTC), "mardi 1er août 2023 à 01h30"),
        # and 22:30 UTC on 31 December, in winter time, is still 31 December
        (datetime(2023, 12, 31, 22, 30, tzinfo=UTC), "dimanche 31 décembre 2023 à 23h30"),
    ],
)
def test_french_datetime_in_paris(moment, text):
    assert datetime_fr(moment) == text


def test_date_and_time_parts():
    moment = datetime(2023, 6, 2, 12, 0, tzinfo=UTC)
    assert date_fr(moment) == "vendredi 2 juin 2023"
    assert time_fr(moment) == "14h00"


def test_the_first_of_the_month_is_written_1er_in_paris_time():
    # 22:30 UTC on 30 June is 1 July in Paris: "1er", although the UTC day is the 30th.
    assert date_fr(datetime(2023, 6, 30, 22, 30, tzinfo=UTC)) == "samedi 1er juillet 2023"
    # 23:30 in Paris on 1 July is still the 1st, though UTC says 21:30.
    assert date_fr(datetime(2023, 7, 1, 23, 30, tzinfo=PARIS)) == "samedi 1er juillet 2023"
    assert date_fr(datetime(2023, 7, 11, 12, 0, tzinfo=PARIS)) == "mardi 11 juillet 2023"


def test_short_datetime_for_tables_and_exports():
    assert short_datetime_fr(datetime(2023, 6, 1, 12, 0, tzinfo=UTC)) == "01/06/2023 14:00"
    assert short_datetime_fr(datetime(2024, 1, 9, 8, 5, tzinfo=UTC)) == "09/01/2024 09:05"


# --- Babel's own formatting as the reference ------------------------------------------------


def moments() -> list[datetime]:
    """Every 7 minutes across both clock changes of 2023 and 2024, and every 5 h 11 min
    across two years: both offsets, both sides of every Paris midnight."""
    found = []
    for change in ("2023-03-26", "2023-10-29", "2024-03-31", "2024-10-27"):
        start = datetime.fromisoformat(f"{change}T00:00:00+00:00") - timedelta(hours=3)
        found += [start + timedelta(minutes=7 * i) for i in range(60)]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    found += [start + timedelta(minutes=311 * i) for i in range(3400)]
    return found


def test_formats_are_babels():
    for moment in moments():
        day = "d'er'" if moment.astimezone(PARIS).day == 1 else "d"
        babel_date = format_datetime(moment, f"EEEE {day} MMMM y", tzinfo=PARIS, locale="fr_FR")
        assert date_fr(moment) == babel_date
        assert time_fr(moment) == format_datetime(moment, "HH'h'mm", tzinfo=PARIS, locale="fr_FR")
        short = format_datetime(moment, "dd/MM/y HH:mm", tzinfo=PARIS, locale="fr_FR")
        assert short_datetime_fr(moment) == short, moment


def test_short_datetime_of_a_timestamp():
    for moment in moments():
        seconds = int(moment.timestamp())
        assert short_datetime_fr_at(seconds) == short_datetime_fr(moment), moment
    # the seconds are cut, not rounded
    assert short_datetime_fr_at(int(datetime(2023, 6, 1, 12, 0, 59, tzinfo=UTC).timestamp())) == (
        "01/06/2023 14:00"
    )


def test_short_datetime_of_a_timestamp_where_paris_is_not_whole_hours_from_utc():
    """Before 1911 Paris kept its mean solar time, UTC+0:09:21: no hour is cached then."""
    moment = datetime(1900, 1, 1, 12, 0, tzinfo=UTC)
    assert short_datetime_fr_at(int(moment.timestamp())) == "01/01/1900 12:09"
    assert short_datetime_fr_at(int(moment.timestamp())) == short_datetime_fr(moment)
