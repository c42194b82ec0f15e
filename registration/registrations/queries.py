"""Reads for the public pages. They never write: on SQLite they run under a plain BEGIN and
never take the write lock."""

from __future__ import annotations

from sqlalchemy import case, func, select

from .. import clock, links
from ..content import Event
from ..extensions import db
from ..models import EventRecord, Registration, Status
from . import rules, seats
from .exceptions import InvalidLink


def find_record(event: Event) -> EventRecord | None:
    """The event's row, or None before its first registration."""
    return db.session.scalars(
        select(EventRecord)
        .where(EventRecord.slug == event.slug)
        .execution_options(populate_existing=True)
    ).first()


def availability(event: Event) -> rules.Availability:
    """Open or closed, and the places a newcomer can still get, in one read.

    Seats held by overdue registrations count as free, and the waiting list goes first:
    what the next write would record anyway.
    """
    now = clock.now()
    overdue_pending = func.coalesce(
        func.sum(case((Registration.status == Status.PENDING, 1), else_=0)), 0
    )
    waiting = select(func.count()).where(
        Registration.event_id == EventRecord.id,
        Registration.status == Status.WAITLISTED,
        (Registration.expires_at.is_(None)) | (Registration.expires_at > now),
    )
    releasing = (
        seats.overdue(EventRecord.id, now).with_only_columns(overdue_pending).scalar_subquery()
    )
    row = db.session.execute(
        select(EventRecord, releasing, waiting.scalar_subquery()).where(
            EventRecord.slug == event.slug
        )
    ).first()
    record, released, waitlisted = row if row is not None else (None, 0, 0)
    taken = (record.seats_taken - released + waitlisted) if record is not None else 0
    seats_left = seats.capacity_in_force(event, record).seats_left(taken)
    if record is None:
        return rules.availability(event, True, "", seats_left, now)
    return rules.availability(event, record.is_open, record.public_notice, seats_left, now)


def registration_for_link(event: Event, token: str) -> Registration:
    """The registration a management link points to, for this event."""
    public_id = links.public_id_from_manage_token(token)
    found = db.session.scalars(
        select(Registration)
        .join(EventRecord, Registration.event_id == EventRecord.id)
        .where(Registration.public_id == public_id, EventRecord.slug == event.slug)
    ).first()
    if found is None:
        raise InvalidLink("Ce lien ne correspond à aucune inscription à cet événement.")
    return found
