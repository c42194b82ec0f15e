"""French date formatting in Europe/Paris, with Babel for the names of days and months.

Babel's `format_datetime` builds its formatter again on every call; the patterns here are
parsed once, and the all-digit format of tables and exports needs no locale at all. Exports
format 100,000s of timestamps: Paris's offset is then looked up once per hour of time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import parse_pattern

PARIS = ZoneInfo("Europe/Paris")
FRENCH = Locale.parse("fr_FR")
# French writes "1er" for the first of the month only.
_DATE = parse_pattern("EEEE d MMMM y")
_DATE_FIRST = parse_pattern("EEEE d'er' MMMM y")
_TIME = parse_pattern("HH'h'mm")


# Pages show the same few moments again and again (an event's start, its deadline): each is
# formatted once. Two aware datetimes are equal when they are the same instant, which reads
# the same in Paris.
@lru_cache(maxsize=1024)
def date_fr(moment: datetime) -> str:
    """'jeudi 1er juin 2023'."""
    local = moment.astimezone(PARIS)
    return (_DATE_FIRST if local.day == 1 else _DATE).apply(local, FRENCH)


@lru_cache(maxsize=1024)
def time_fr(moment: datetime) -> str:
    """'14h00'."""
    return _TIME.apply(moment.astimezone(PARIS), FRENCH)


@lru_cache(maxsize=1024)
def datetime_fr(moment: datetime) -> str:
    """'jeudi 1er juin 2023 à 14h00'."""
    return f"{date_fr(moment)} à {time_fr(moment)}"


def short_datetime_fr(moment: datetime) -> str:
    """'01/06/2023 14:00', for tables and exports: Babel's "dd/MM/y HH:mm", digits only."""
    local = moment.astimezone(PARIS)
    return f"{local.day:02d}/{local.month:02d}/{local.year} {local.hour:02d}:{local.minute:02d}"


def short_datetime_fr_at(seconds: int) -> str:
    """short_datetime_fr() of a POSIX timestamp (whole seconds since 1970, UTC)."""
    prefix = _paris_hour(seconds // 3600)
    if prefix is None:
        return short_datetime_fr(datetime.fromtimestamp(seconds, UTC))
    return f"{prefix}{seconds // 60 % 60:02d}"


@lru_cache(maxsize=8192)  # a year of hours
def _paris_hour(hour: int) -> str | None:
    """'dd/MM/y HH:' in Paris of this hour since 1970; None unless Paris is a whole number of
    hours from UTC all through it, when a minute reads the same in both."""
    start = datetime.fromtimestamp(hour * 3600, PARIS)
    offset = start.utcoffset()
    end = datetime.fromtimestamp(hour * 3600 + 3599, PARIS)
    if offset is None or offset != end.utcoffset() or offset % timedelta(hours=1):
        return None
    return f"{start.day:02d}/{start.month:02d}/{start.year} {start.hour:02d}:"
