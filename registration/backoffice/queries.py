"""Reads for the staff pages: counts aggregated in the database, lists as queries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, or_, select

from .. import clock
from ..content import Event, Question
from ..dates import PARIS
from ..extensions import db
from ..models import (
    ACTIVE,
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


def _record_id(event: Event) -> Select[int]:
    return select(EventRecord.id).where(EventRecord.slug == event.slug)


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
    return select(Registration).where(Registration.event_id.in_(_record_id(event)))


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


def _question_counts(event: Event) -> tuple[QuestionCounts, ...]:
    choices = [q for q in event.questions if q.is_choice]
    if not choices:
        return ()
    tallies: dict[str, Counter[str]] = {q.id: Counter() for q in choices}
    active = of_event(event).where(Registration.status.in_(ACTIVE))
    answers = active.with_only_columns(Registration.answers).execution_options(yield_per=1000)
    for (answer,) in db.session.execute(answers):
        for question in choices:
            tallies[question.id].update(question.chosen((answer or {}).get(question.id)))
    return tuple(
        QuestionCounts(q, tuple((o, tallies[q.id][o]) for o in q.options)) for q in choices
    )


def _per_day(event: Event) -> tuple[tuple[str, int], ...]:
    # Days in Paris time: the database's date functions differ, so the days are counted here.
    per_day: Counter[str] = Counter()
    created = of_event(event).with_only_columns(Registration.created_at)
    for (created_at,) in db.session.execute(created.execution_options(yield_per=1000)):
        per_day[created_at.astimezone(PARIS).date().isoformat()] += 1
    return tuple(sorted(per_day.items()))


def dashboard(event: Event) -> Dashboard:
    by_status = dict(
        db.session.execute(
            of_event(event)
            .with_only_columns(Registration.status, func.count())
            .group_by(Registration.status)
        ).all()
    )
    employers = db.session.execute(
        of_event(event)
        .with_only_columns(Registration.employer, func.count())
        .where(Registration.status.in_(ACTIVE))
        .group_by(Registration.employer)
        .order_by(func.count().desc(), Registration.employer)
        .limit(15)
    ).all()
    return Dashboard(
        overview=overview(event),
        counts=tuple((s, by_status.get(s, 0)) for s in Status),
        time_left=time_left(event.deadline, clock.now()),
        per_day=_per_day(event),
        employers=tuple((name, count) for name, count in employers),
        questions=_question_counts(event),
    )


def search(event: Event, filters: Filters) -> Select[Registration]:
    """The registrations matching the search box and the status filter."""
    query = of_event(event)
    if filters.search:
        pattern = f"%{filters.search.lower()}%"
        query = query.where(
            or_(
                func.lower(Registration.first_name).like(pattern),
                func.lower(Registration.last_name).like(pattern),
                func.lower(Registration.email).like(pattern),
                func.lower(Registration.employer).like(pattern),
                func.lower(Registration.first_name + " " + Registration.last_name).like(pattern),
            )
        )
    if filters.status:
        query = query.where(Registration.status == filters.status)
    return query


def attendee_list(event: Event, filters: Filters) -> Select[Registration]:
    return search(event, filters).order_by(Registration.last_name, Registration.first_name)


def registration(event: Event, public_id: str) -> Registration | None:
    return db.session.scalars(of_event(event).where(Registration.public_id == public_id)).first()


def sign_in_sheet(event: Event) -> list[Registration]:
    """Confirmed attendees, by name, case-blind."""
    return list(
        db.session.scalars(
            of_event(event)
            .where(Registration.status == Status.CONFIRMED)
            .order_by(func.lower(Registration.last_name), func.lower(Registration.first_name))
        )
    )


def export(event: Event, filters: Filters) -> Select[Registration]:
    """The rows of an export, streamed from the database: memory stays flat for any number."""
    return (
        search(event, filters)
        .order_by(Registration.last_name, Registration.first_name, Registration.id)
        .execution_options(yield_per=1000)
    )


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


def users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.email)))


def audit_log() -> Select[AuditEntry]:
    """The audit log, latest first."""
    return select(AuditEntry).order_by(AuditEntry.id.desc())
