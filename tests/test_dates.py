"""French dates in Europe/Paris."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registration.dates import PARIS, date_fr, datetime_fr, short_datetime_fr, time_fr


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
