"""French date formatting in Europe/Paris, with Babel."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime

PARIS = ZoneInfo("Europe/Paris")
# Parsed once: given as a string, Babel parses the locale again on every call.
FRENCH = Locale.parse("fr_FR")


def _day(moment: datetime) -> str:
    # French writes "1er" for the first of the month only.
    return "d'er'" if moment.astimezone(PARIS).day == 1 else "d"


def date_fr(moment: datetime) -> str:
    """'jeudi 1er juin 2023'."""
    return format_datetime(moment, f"EEEE {_day(moment)} MMMM y", tzinfo=PARIS, locale=FRENCH)


def time_fr(moment: datetime) -> str:
    """'14h00'."""
    return format_datetime(moment, "HH'h'mm", tzinfo=PARIS, locale=FRENCH)


def datetime_fr(moment: datetime) -> str:
    """'jeudi 1er juin 2023 à 14h00'."""
    return f"{date_fr(moment)} à {time_fr(moment)}"


def short_datetime_fr(moment: datetime) -> str:
    """'01/06/2023 14:00', for tables and exports."""
    return format_datetime(moment, "dd/MM/y HH:mm", tzinfo=PARIS, locale=FRENCH)
