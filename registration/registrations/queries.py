"""Reads for the public pages. They never write nor lock: on PostgreSQL they run in
autocommit, on SQLite under a plain BEGIN that never takes the write lock."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, func, select

from .. import clock, links
from ..content import Event
from ..db import commits
from ..extensions import db
from ..models import AsShown, EventDomain, EventRecord, Registration, Status
from . import rules, seats
from .exceptions import InvalidLink


def find_record(event: Event) -> EventRecord | None:
    """The event's row, or None before its first registration."""
    return db.session.scalars(
        select(EventRecord)
        .where(EventRecord.slug == event.slug)
        .execution_options(populate_existing=True)
    ).first()


def availability(event: Event, max_age: float = 0.0) -> rules.Availability:
    """Open or closed, and the places a newcomer can still get, in one indexed read.

    The waiting list goes first: its confirmed agents take any seat that frees up. With
    `max_age` (seconds), a read this process made that recently is used again, unless it
    has committed a write since: other processes' changes show within `max_age`.
    """
    now = clock.now()
    cache: dict[str, _Read] = current_app.extensions.setdefault(_CACHE, {})
    if max_age > 0:
        found = fresh_availability(cache, event, now, max_age)
        if found is not None:
            return found
    at, seen = time.monotonic(), commits()
    state = _read_availability(event, now)
    cache[event.slug] = _Read(event, now >= event.deadline, seen, at, state)
    return state


def fresh_availability(
    cache: dict[str, _Read], event: Event, now: datetime, max_age: float
) -> rules.Availability | None:
    """The availability this process read less than `max_age` seconds ago, for this version
    of the event, if it has committed nothing since and the deadline is on the same side."""
    last = cache.get(event.slug)
    if (
        last is not None
        and last.event is event
        and last.passed == (now >= event.deadline)
        and last.commits == commits()
        and time.monotonic() - last.at < max_age
    ):
        return last.state
    return None


@dataclass(frozen=True)
class _Read:
    event: Event  # the content file's version it was computed for
    passed: bool  # whether the deadline had passed
    commits: int
    at: float
    state: rules.Availability


_CACHE = "inscriptions.availability"


# Built once: building and hashing a statement costs more CPU than PostgreSQL takes to run it.
_AVAILABILITY = select(
    EventRecord.is_open,
    EventRecord.public_notice,
    EventRecord.seats_taken,
    EventRecord.capacity_override,
    EventRecord.capacity_overridden,
    select(func.count())
    .where(
        Registration.event_id == EventRecord.id,
        Registration.status == Status.WAITLISTED,
        Registration.email_confirmed_at.is_not(None),
    )
    .scalar_subquery()
    .label("waitlisted"),
).where(EventRecord.slug == bindparam("slug"))


def _read_availability(event: Event, now: datetime) -> rules.Availability:
    row = db.session.connection().execute(_AVAILABILITY, {"slug": event.slug}).first()
    if row is None:  # no registration yet
        seats_left = seats.Capacity(event.capacity, set_by_admin=False).seats_left(0)
        return rules.availability(event, True, "", seats_left, now)
    places = row.capacity_override if row.capacity_overridden else event.capacity
    seats_left = seats.Capacity(places, row.capacity_overridden).seats_left(
        row.seats_taken + row.waitlisted
    )
    return rules.availability(event, row.is_open, row.public_notice, seats_left, now)


def accepted_domains(event: Event) -> list[str]:
    """Domains an organiser accepted for this event, on top of the list."""
    return list(
        db.session.scalars(
            select(EventDomain.domain)
            .join(EventRecord, EventDomain.event_id == EventRecord.id)
            .where(EventRecord.slug == event.slug)
        )
    )


@dataclass(frozen=True)
class RegistrationView(AsShown):
    """What the agent's own pages show of their registration."""

    id: int
    public_id: str
    email: str
    first_name: str
    last_name: str
    employer: str
    status: Status
    review_message: str
    email_confirmed_at: datetime | None
    expires_at: datetime | None


_FOR_LINK = (
    select(*(getattr(Registration, f.name) for f in fields(RegistrationView)))
    .join(EventRecord, Registration.event_id == EventRecord.id)
    .where(Registration.public_id == bindparam("public_id"), EventRecord.slug == bindparam("slug"))
)


def registration_for_link(event: Event, token: str) -> RegistrationView:
    """The registration a management link points to, for this event: one read, no lock."""
    public_id = links.public_id_from_manage_token(token)
    row = (
        db.session.connection()
        .execute(_FOR_LINK, {"public_id": public_id, "slug": event.slug})
        .first()
    )
    if row is None:
        raise InvalidLink("Ce lien ne correspond à aucune inscription à cet événement.")
    return RegistrationView(**row._mapping)
