"""Reads for the staff pages: counts aggregated in the database, lists as queries."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    table,
    type_coerce,
)

from .. import clock, exports
from ..content import Event, Question
from ..dates import PARIS
from ..db import read_transaction
from ..extensions import db
from ..models import (
    ACTIVE,
    SEARCH_TEXT,
    AuditEntry,
    EventRecord,
    OutboxMessage,
    OutboxStatus,
    Registration,
    Status,
    User,
)
from ..registrations import rules, seats
from ..registrations.queries import availability, find_record

SEARCH_MAX = 100
# Far past any real list; keeps the offset a small number for the database.
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Filters:
    """The attendee list's search box and status filter."""

    search: str = ""
    status: str = ""

    @classmethod
    def from_args(cls, args: dict[str, str]) -> Filters:
        status = args.get("statut", "")
        return cls(
            search=args.get("q", "").strip()[:SEARCH_MAX],
            status=status if status in {s.value for s in Status} else "",
        )


@dataclass(frozen=True)
class QuestionCounts:
    question: Question
    counts: tuple[tuple[str, int], ...]  # (option, registrations that chose it)


@dataclass(frozen=True)
class EventOverview:
    """The admin's view of an event: is it open, and the places in force."""

    record: EventRecord | None
    availability: rules.Availability
    capacity: seats.Capacity

    @property
    def seats_taken(self) -> int:
        return self.record.seats_taken if self.record is not None else 0

    @property
    def is_open(self) -> bool:
        return self.record.is_open if self.record is not None else True

    @property
    def notice(self) -> str:
        return self.record.public_notice if self.record is not None else ""


@dataclass(frozen=True)
class Dashboard:
    overview: EventOverview
    counts: tuple[tuple[Status, int], ...]
    time_left: str
    per_day: tuple[tuple[str, int], ...]
    employers: tuple[tuple[str, int], ...]
    questions: tuple[QuestionCounts, ...]

    @property
    def confirmed(self) -> int:
        return dict(self.counts)[Status.CONFIRMED]


_attendees = Registration.__table__.c
_events = EventRecord.__table__.c


def _of_event(event: Event) -> ColumnElement[bool]:
    """The event's registrations; `=` rather than `IN` lets its indexes give their order."""
    record_id = select(_events.id).where(_events.slug == event.slug).scalar_subquery()
    return _attendees.event_id == record_id


def page_number(value: str | None) -> int:
    """The page asked for in `?page=`: 1 when absent or unreadable, at most MAX_PAGE."""
    digits = (value or "").strip()
    if not (digits.isascii() and digits.isdigit()):
        return 1
    if len(digits) > len(str(MAX_PAGE)):  # int() of thousands of digits is refused, or slow
        return MAX_PAGE
    return min(max(int(digits), 1), MAX_PAGE)


def paginate(query: Select[Any], page: str | None, per_page: int) -> Pagination:
    """One page of `query`; a page past the end shows the last one."""
    found = db.paginate(query, page=page_number(page), per_page=per_page, error_out=False)
    if found.page > 1 and found.page > found.pages:
        found = db.paginate(query, page=max(found.pages, 1), per_page=per_page, error_out=False)
    return found


def of_event(event: Event) -> Select[Registration]:
    return select(Registration).where(_of_event(event))


def overview(event: Event) -> EventOverview:
    record = find_record(event)
    return EventOverview(record, availability(event), seats.capacity_in_force(event, record))


def time_left(deadline: datetime, now: datetime) -> str:
    if now >= deadline:
        return "date limite passée"
    delta = deadline - now
    days, hours = delta.days, delta.seconds // 3600
    parts = []
    if days:
        parts.append(f"{days} jour{'s' if days > 1 else ''}")
    parts.append(f"{hours} heure{'s' if hours > 1 else ''}")
    return " et ".join(parts)


def _answers(event: Event, record_id: int) -> tuple[QuestionCounts, ...]:
    """The options chosen by the active registrations. Answers are JSON: the database counts
    each distinct answer text (few: they are choices), and each text is decoded once here.
    On SQLite the (event, answers, status) index gives them in order, without reading the
    rows; PostgreSQL cannot index `json`, and hashes its text in one pass over the rows."""
    choices = [q for q in event.questions if q.is_choice]
    tallies: dict[str, Counter[str]] = {q.id: Counter() for q in choices}
    if db.session.get_bind().dialect.name == "sqlite":
        answers: ColumnElement[str] = type_coerce(_attendees.answers, Text)
    else:
        answers = cast(_attendees.answers, Text)
    for text, count in db.session.execute(
        select(answers, func.count())
        .where(_attendees.event_id == record_id, _attendees.status.in_(ACTIVE))
        .group_by(answers)
    ):
        answer = json.loads(text) or {}
        for question in choices:
            for option in question.chosen(answer.get(question.id)):
                tallies[question.id][option] += count
    return _tallies(choices, tallies)


def _counts_and_employers(
    record_id: int,
) -> tuple[list[int], tuple[tuple[str, int], ...]]:
    """The registrations of each status, and the 15 administrations with the most active
    ones (most first, then by name), from one pass over the (event, employer, status) index
    in its order: (administration, status) pairs are few, and both are summed from them here.
    A third of the time of the two counted apart on PostgreSQL (measured)."""
    per_status: Counter[str] = Counter()
    per_employer: Counter[str] = Counter()
    # Statuses as plain text: no Status built for each of the (many) pairs.
    status_text = type_coerce(_attendees.status, Text)
    for employer, status, count in db.session.execute(
        select(_attendees.employer, status_text, func.count())
        .where(_attendees.event_id == record_id)
        .group_by(_attendees.employer, _attendees.status)
    ):
        per_status[status] += count
        if status in ACTIVE:
            per_employer[employer] += count
    top = sorted(per_employer.items(), key=lambda item: (-item[1], item[0]))[:15]
    return [per_status[status] for status in Status], tuple(top)


def _tallies(
    choices: list[Question], tallies: dict[str, Counter[str]]
) -> tuple[QuestionCounts, ...]:
    return tuple(
        QuestionCounts(q, tuple((o, tallies[q.id][o]) for o in q.options)) for q in choices
    )


# SQLite allows 2,000 columns in a result: days are counted 500 at a time.
_DAYS_PER_QUERY = 500


def _paris_days(first: datetime, last: datetime) -> list[tuple[date, datetime, datetime]]:
    """Each day in Paris from `first`'s to `last`'s, with its start and end (aware)."""
    days = []
    day = first.astimezone(PARIS).date()
    while day <= last.astimezone(PARIS).date():
        after = day + timedelta(days=1)
        days.append((day, _midnight(day), _midnight(after)))
        day = after
    return days


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


@lru_cache(maxsize=64)
def _ranges_counted(ranges: int) -> Select[Any]:
    """The registrations of the event `:event` made in each of `ranges` ranges of time
    (`:start0` to `:end0`...), each a range of the (event, created_at) index: built once for
    each number of ranges, its parameters bound at each call."""
    created = _attendees.created_at
    return select(
        *(
            select(func.count())
            .where(
                _attendees.event_id == bindparam("event"),
                created >= bindparam(f"start{i}"),
                created < bindparam(f"end{i}"),
            )
            .scalar_subquery()
            for i in range(ranges)
        )
    )


def _per_day(record_id: int) -> tuple[tuple[str, int], ...]:
    """Registrations made each day in Paris (days without any left out). Each day is a range
    of the (event, created_at) index, counted without reading the rows."""
    created = _attendees.created_at
    in_event = _attendees.event_id == record_id
    # Apart, each is one step down the index on SQLite too.
    first = db.session.scalar(select(func.min(created)).where(in_event))
    last = db.session.scalar(select(func.max(created)).where(in_event))
    if first is None or last is None:
        return ()
    days = _paris_days(first, last)
    per_day: list[tuple[str, int]] = []
    for start in range(0, len(days), _DAYS_PER_QUERY):
        some = days[start : start + _DAYS_PER_QUERY]
        bound: dict[str, Any] = {"event": record_id}
        for i, (_, begin, end) in enumerate(some):
            bound[f"start{i}"], bound[f"end{i}"] = begin, end
        counts = db.session.execute(_ranges_counted(len(some)), bound).one()
        per_day += [(day.isoformat(), n) for (day, _, _), n in zip(some, counts, strict=True) if n]
    return tuple(per_day)


def dashboard(event: Event) -> Dashboard:
    """The dashboard's figures, aggregated in the database: from indexes alone (on
    PostgreSQL, one pass over the event's rows for the answers)."""
    summary = overview(event)
    record_id = summary.record.id if summary.record is not None else None
    choices = [q for q in event.questions if q.is_choice]
    counts: Sequence[int] = [0] * len(Status)
    questions = _tallies(choices, {q.id: Counter() for q in choices})
    employers: tuple[tuple[str, int], ...] = ()
    if record_id is not None:
        counts, employers = _counts_and_employers(record_id)
        if choices:
            questions = _answers(event, record_id)
    return Dashboard(
        overview=summary,
        counts=tuple(zip(Status, counts, strict=True)),
        time_left=time_left(event.deadline, clock.now()),
        per_day=_per_day(record_id) if record_id is not None else (),
        employers=employers,
        questions=questions,
    )


# SQLite's FTS5 trigram table (revision c4e8a2f6b9d1), one row per registration (its rowid
# is the registration's id): its index answers a LIKE with 3 characters in a row, wildcards
# aside; case folded, fields run together, it gives a few more rows than the exact test.
_SEARCHED: ColumnElement[str] = literal_column("attendees_search.text")
_SQLITE_SEARCH: Select[Any] = select(literal_column("attendees_search.rowid")).select_from(
    table("attendees_search")
)
_SQLITE_TRIGRAMS = re.compile(r"[^%_]{3}")
# Past this many rows from the sieve, the list reads the event's rows in its order instead:
# the first page is found before the end, where fetching each row by id would cost more.
SIEVE_MAX = 1000


def _sieved(pattern: str) -> list[int] | None:
    """SQLite: the ids the FTS5 table gives for `pattern`, when there are few of them."""
    if not _SQLITE_TRIGRAMS.search(pattern) or db.session.get_bind().dialect.name != "sqlite":
        return None
    ids = list(
        db.session.scalars(_SQLITE_SEARCH.where(_SEARCHED.like(pattern)).limit(SIEVE_MAX + 1))
    )
    return ids if len(ids) <= SIEVE_MAX else None


def _matching(event: Event, filters: Filters) -> list[ColumnElement[bool]]:
    """The event's registrations matching the search box and the status filter."""
    clauses = [_of_event(event)]
    if filters.search:
        pattern = f"%{filters.search.lower()}%"
        # Each field, and "first last", is part of SEARCH_TEXT: whatever matches one of them
        # matches it. PostgreSQL finds those rows through its trigram index; SQLite takes
        # the ids its FTS5 table gives where they are few (else it tests one text instead of
        # five, 1.6 times faster, measured); the exact test below keeps the rows it kept.
        ids = _sieved(pattern)
        if ids is not None:
            # `event_id + 0`: not a term of the event's index, which SQLite (without
            # statistics) would take as the narrower and read all the event's rows with.
            record_id = select(_events.id).where(_events.slug == event.slug).scalar_subquery()
            clauses = [_attendees.event_id + 0 == record_id, _attendees.id.in_(ids)]
        else:
            clauses.append(literal_column(f"({SEARCH_TEXT})").like(pattern))
        clauses.append(
            or_(
                func.lower(_attendees.first_name).like(pattern),
                func.lower(_attendees.last_name).like(pattern),
                func.lower(_attendees.email).like(pattern),
                func.lower(_attendees.employer).like(pattern),
                func.lower(_attendees.first_name + " " + _attendees.last_name).like(pattern),
            )
        )
    if filters.status:
        clauses.append(_attendees.status == filters.status)
    return clauses


def search(event: Event, filters: Filters) -> Select[Registration]:
    """The registrations matching the search box and the status filter."""
    return select(Registration).where(*_matching(event, filters))


def attendee_list(event: Event, filters: Filters) -> Select[Registration]:
    """By name, then by registration (equal names keep their order from page to page): the
    order of the (event, last name, first name, id) index."""
    return search(event, filters).order_by(
        Registration.last_name, Registration.first_name, Registration.id
    )


def registration(event: Event, public_id: str) -> Registration | None:
    return db.session.scalars(of_event(event).where(Registration.public_id == public_id)).first()


def _sort_key(name: str) -> str:
    """A name as a dictionary orders it: accents and case aside (« Élodie » with « Elodie »)."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sign_in_sheet(event: Event) -> list[Registration]:
    """Confirmed attendees, by last name then first name, accents and case aside (sorted
    here: the databases' collations differ, and a sheet is a few hundred rows)."""
    confirmed = db.session.scalars(
        of_event(event).where(Registration.status == Status.CONFIRMED).order_by(Registration.id)
    )
    return sorted(confirmed, key=lambda r: (_sort_key(r.last_name), _sort_key(r.first_name), r.id))


def export(event: Event, filters: Filters) -> Select[Any]:
    """The rows of an export: plain tuples of `exports.COLUMNS` (a Core select: no ORM object
    is built), streamed from the database 1,000 at a time, so memory stays flat."""
    return (
        select(*exports.COLUMNS)
        .where(*_matching(event, filters))
        .order_by(_attendees.last_name, _attendees.first_name, _attendees.id)
        .execution_options(yield_per=1000)
    )


def export_rows(event: Event, filters: Filters) -> Iterator[Row[Any]]:
    """The export's rows as they stream, read when the first is asked for. In a transaction
    of their own: on PostgreSQL a server-side cursor lives only inside one."""
    with read_transaction() as session:
        yield from session.execute(export(event, filters))


def review_requests(event: Event) -> list[Registration]:
    """Verification requests whose mailbox is proven, oldest first: « Demandes à vérifier »."""
    return list(
        db.session.scalars(
            of_event(event)
            .where(
                Registration.status == Status.REVIEW,
                Registration.email_confirmed_at.is_not(None),
            )
            .order_by(Registration.created_at, Registration.id)
        )
    )


def failed_messages(limit: int = 200) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.FAILED)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.email)))


def audit_log() -> Select[AuditEntry]:
    """The audit log, latest first."""
    return select(AuditEntry).order_by(AuditEntry.id.desc())
