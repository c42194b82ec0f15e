"""Seats, guarded in the database: the event row is locked (FOR UPDATE on PostgreSQL,
BEGIN IMMEDIATE on SQLite) and the counter only moves through a conditional UPDATE whose
rowcount is checked. A unique constraint on (event, e-mail) stands behind both.

Only a proven mailbox holds a seat: a registration takes its seat when its address is
confirmed, so that invented addresses cannot empty an event.

Every function here runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from .. import clock, mail
from ..content import Event
from ..models import AWAITING_ADDRESS, EventRecord, Registration, Status


@dataclass(frozen=True)
class Capacity:
    """The number of places in force (None: unlimited), and whether an admin set it."""

    places: int | None
    set_by_admin: bool

    def seats_left(self, taken: int) -> int | None:
        return None if self.places is None else max(self.places - taken, 0)


def capacity_in_force(event: Event, record: EventRecord | None) -> Capacity:
    """The admin's number once they set one; the content file's otherwise."""
    if record is not None and record.capacity_overridden:
        return Capacity(record.capacity_override, set_by_admin=True)
    return Capacity(event.capacity, set_by_admin=False)


def lock_event(session: Session, event: Event) -> EventRecord:
    """Lock the event's row for this transaction, creating it on first use."""
    query = (
        select(EventRecord)
        .where(EventRecord.slug == event.slug)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    record = session.scalars(query).first()
    if record is None:
        # Only on first use: an INSERT on every call would use up a sequence value each time.
        # Each dialect's module is imported on its first use: a web worker on SQLite never
        # loads PostgreSQL's (20 ms at start-up).
        values = {"slug": event.slug, "updated_at": clock.now()}
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            session.execute(
                pg_insert(EventRecord)
                .values(values)
                .on_conflict_do_nothing(index_elements=["slug"])
            )
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            session.execute(
                sqlite_insert(EventRecord)
                .values(values)
                .on_conflict_do_nothing(index_elements=["slug"])
            )
        record = session.scalars(query).one()
    return record


def take_seat(session: Session, event: Event, record: EventRecord) -> bool:
    """Take one seat if one is left: a conditional UPDATE, checked by its rowcount."""
    guard = update(EventRecord).where(EventRecord.id == record.id)
    places = capacity_in_force(event, record).places
    if places is not None:
        guard = guard.where(EventRecord.seats_taken < places)
    result = session.execute(
        guard.values(seats_taken=EventRecord.seats_taken + 1, updated_at=clock.now())
    )
    session.refresh(record)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def free_seat(session: Session, record: EventRecord) -> None:
    session.execute(
        update(EventRecord)
        .where(EventRecord.id == record.id, EventRecord.seats_taken > 0)
        .values(seats_taken=EventRecord.seats_taken - 1, updated_at=clock.now())
    )
    session.refresh(record)


def promote_waitlist(session: Session, event: Event, record: EventRecord, now: datetime) -> None:
    """Move people up from the waiting list while seats are left: first proven, first served."""
    while True:
        first = session.scalars(
            select(Registration)
            .where(
                Registration.event_id == record.id,
                Registration.status == Status.WAITLISTED,
                Registration.email_confirmed_at.is_not(None),
            )
            .order_by(Registration.email_confirmed_at, Registration.created_at, Registration.id)
            .limit(1)
        ).first()
        if first is None or not take_seat(session, event, record):
            return
        first.move_to(Status.CONFIRMED, "place libérée : sortie de la liste d’attente", now)
        mail.queue(session, "promoted", event, first)


def overdue(record_id: int, now: datetime) -> Select[Registration]:
    """Unconfirmed registrations past their hold time."""
    return select(Registration).where(
        Registration.event_id == record_id,
        Registration.status.in_(AWAITING_ADDRESS),
        Registration.email_confirmed_at.is_(None),
        Registration.expires_at <= now,
    )


def settle(session: Session, event: Event, record: EventRecord, now: datetime) -> int:
    """Expire what is overdue (it held no seat), then give free seats to the waiting list.
    Returns how many expired.

    Seats also free up when the content file raises its number of places: this moves the
    waiting list up then too, before any newcomer takes a seat.
    """
    expired = session.scalars(overdue(record.id, now)).all()
    for registration in expired:
        registration.move_to(Status.EXPIRED, "adresse non confirmée dans le délai", now)
    promote_waitlist(session, event, record, now)
    return len(expired)
