"""Seats, guarded in the database: the counter only moves through a conditional UPDATE
(`… WHERE seats_taken < places RETURNING`), whose answer is checked. A unique constraint on
(event, e-mail) stands behind it.

Only a proven mailbox holds a seat: a registration takes its seat when its address is
confirmed, so that invented addresses cannot empty an event. The event's row is locked only
by that UPDATE, as the last statement before the commit, or, for what staff do and for
moving the waiting list up, by `lock_event` (FOR NO KEY UPDATE on PostgreSQL: it never
blocks the INSERT of a registration, whose foreign key only needs the row to stay).

Every function here runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.elements import SQLColumnExpression
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.selectable import Exists

from .. import clock, mail
from ..content import Event
from ..models import AWAITING_EXPIRY, EventRecord, Registration, Status


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


# --- The event's row ------------------------------------------------------------------------


def _record_query(event: Event) -> Select[EventRecord]:
    return (
        select(EventRecord)
        .where(EventRecord.slug == event.slug)
        .execution_options(populate_existing=True)
    )


def _create_record(connection: Connection, event: Event) -> None:
    # Only on first use: an INSERT on every call would use up a sequence value each time.
    # The dialect's module is imported where used: start-up need not pay for it.
    statement: Executable
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(EventRecord).on_conflict_do_nothing(index_elements=["slug"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(EventRecord).on_conflict_do_nothing(index_elements=["slug"])
    connection.execute(statement.values(slug=event.slug, updated_at=clock.now()))


def find_record(session: Session, event: Event) -> EventRecord | None:
    """The event's row, read without a lock; None before its first registration."""
    return session.scalars(_record_query(event)).first()


def event_record(session: Session, event: Event) -> EventRecord:
    """The event's row, read without a lock, created on first use."""
    record = find_record(session, event)
    if record is None:
        _create_record(session.connection(), event)
        record = session.scalars(_record_query(event)).one()
    return record


def lock_event(session: Session, event: Event, *, exclusive: bool = False) -> EventRecord:
    """Lock the event's row for this transaction, creating it on first use: for staff
    actions and the waiting list, which read the counter and then change it.

    FOR NO KEY UPDATE on PostgreSQL: it never waits for the registrations' FOR KEY SHARE.
    `exclusive` (FOR UPDATE) does: for opening or closing registration, so that a
    submission under way either commits before, or reads the new state after."""
    query = _record_query(event).with_for_update(key_share=not exclusive)
    record = session.scalars(query).first()
    if record is None:
        _create_record(session.connection(), event)
        record = session.scalars(query).one()
    return record


def _waiting(record_id: int | SQLColumnExpression[int]) -> ColumnElement[bool]:
    """Proven agents on the waiting list: seats that free up are theirs first."""
    return and_(
        Registration.event_id == record_id,
        Registration.status == Status.WAITLISTED,
        Registration.email_confirmed_at.is_not(None),
    )


_Waiting = aliased(Registration, name="waiting")


def someone_waiting(record_id: int | SQLColumnExpression[int]) -> Exists:
    """Whether proven agents wait on the list: a subquery on its own alias of the table, so
    that it can sit in a query on registrations too."""
    return exists().where(
        _Waiting.event_id == record_id,
        _Waiting.status == Status.WAITLISTED,
        _Waiting.email_confirmed_at.is_not(None),
    )


@dataclass(frozen=True)
class SeatState:
    """What a registration needs of the event's row."""

    id: int
    is_open: bool
    seats_left: int | None  # for a newcomer: less the proven agents waiting; None: no limit


_SEAT_STATE = (
    select(
        EventRecord.id,
        EventRecord.is_open,
        EventRecord.seats_taken,
        EventRecord.capacity_override,
        EventRecord.capacity_overridden,
        select(func.count()).where(_waiting(EventRecord.id)).scalar_subquery(),
    )
    .where(EventRecord.slug == bindparam("slug"))
    .with_for_update(read=True, key_share=True, of=EventRecord)
)


def state_for_registration(connection: Connection, event: Event) -> SeatState:
    """For a registration, in one read: the event's row and the seats a newcomer can still
    get (those left, less the proven agents waiting for them). Creates the row on first use.

    The row is read under PostgreSQL's weakest row lock, FOR KEY SHARE (what the INSERT of
    the registration takes anyway, for its foreign key): it waits for an admin opening or
    closing registration (`lock_event(exclusive=True)`), never for a seat being taken."""
    row = connection.execute(_SEAT_STATE, {"slug": event.slug}).first()
    if row is None:
        _create_record(connection, event)
        row = connection.execute(_SEAT_STATE, {"slug": event.slug}).one()
    record_id, is_open, taken, override, overridden, waiting = row
    places = override if overridden else event.capacity
    left = None if places is None else max(places - taken - waiting, 0)
    return SeatState(record_id, is_open, left)


# --- Taking a seat --------------------------------------------------------------------------


def _room() -> ColumnElement[bool]:
    """A seat is left by the capacity in force: the admin's number once set (NULL: no
    limit), the content file's, `:file_places` (NULL: no limit), otherwise."""
    file_places = bindparam("file_places", type_=Integer)
    by_admin = or_(
        EventRecord.capacity_override.is_(None),
        EventRecord.seats_taken < EventRecord.capacity_override,
    )
    by_file = or_(file_places.is_(None), EventRecord.seats_taken < file_places)
    return or_(
        and_(EventRecord.capacity_overridden, by_admin),
        and_(EventRecord.capacity_overridden == false(), by_file),
    )


def _take_seat(*, newcomer: bool) -> ReturningUpdate[int]:
    guard = update(EventRecord).where(EventRecord.id == bindparam("record"), _room())
    if newcomer:  # never passes the waiting list
        guard = guard.where(~someone_waiting(EventRecord.id))
    return guard.values(
        seats_taken=EventRecord.seats_taken + 1, updated_at=bindparam("at")
    ).returning(EventRecord.seats_taken)


# Built once: a sign-up runs one of them, and building it cost more than running it.
_TAKE_SEAT_NEWCOMER = _take_seat(newcomer=True)
_TAKE_SEAT_WAITING = _take_seat(newcomer=False)


def take_seat(session: Session, event: Event, record_id: int, *, waiting: bool = False) -> bool:
    """Take one seat if one is left: the guarded UPDATE … RETURNING, the one statement that
    locks the event's row (until the commit: make it the transaction's last).

    A newcomer (`waiting=False`) never passes the waiting list: while proven agents wait,
    the seat is theirs (see `seat_newcomer`)."""
    statement = _TAKE_SEAT_WAITING if waiting else _TAKE_SEAT_NEWCOMER
    taken = session.connection().execute(
        statement, {"record": record_id, "file_places": event.capacity, "at": clock.now()}
    )
    return taken.first() is not None


def seat_newcomer(session: Session, event: Event, record_id: int, now: datetime) -> bool:
    """A newly proven agent takes a seat, unless the event is full or others wait for one.

    Seats can be free while agents wait: the content file raised its number of places and
    nobody moved the list up yet. Then the list goes first, and the newcomer gets what is
    left. A full event is found without taking any lock."""
    if take_seat(session, event, record_id):
        return True
    record = session.scalars(
        select(EventRecord)
        .where(EventRecord.id == record_id)
        .execution_options(populate_existing=True)
    ).one()
    if capacity_in_force(event, record).seats_left(record.seats_taken) == 0:
        return False
    promote_waitlist(session, event, lock_event(session, event), now)
    return take_seat(session, event, record_id)


def free_seat(session: Session, record: EventRecord) -> None:
    session.execute(
        update(EventRecord)
        .where(EventRecord.id == record.id, EventRecord.seats_taken > 0)
        .values(seats_taken=EventRecord.seats_taken - 1, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )


# --- The waiting list -----------------------------------------------------------------------


def promote_waitlist(session: Session, event: Event, record: EventRecord, now: datetime) -> int:
    """Move people up from the waiting list while seats are left: first proven, first served.
    The caller holds the event's lock (`lock_event`). Returns how many moved up, their
    changes flushed."""
    promoted = 0
    while True:
        first = session.scalars(
            select(Registration)
            .where(_waiting(record.id))
            .order_by(Registration.email_confirmed_at, Registration.created_at, Registration.id)
            .limit(1)
        ).first()
        if first is None or not take_seat(session, event, record.id, waiting=True):
            session.flush()
            return promoted
        first.move_to(Status.CONFIRMED, "place libérée : sortie de la liste d’attente", now)
        mail.queue(session, "promoted", event, first)
        promoted += 1


def waiting_for_free_seats(session: Session, event: Event) -> bool:
    """Proven agents wait while seats are free (the content file raised its places): a read,
    without a lock, to tell whether the list must move up."""
    record = find_record(session, event)
    if record is None or capacity_in_force(event, record).seats_left(record.seats_taken) == 0:
        return False
    return bool(session.scalar(someone_waiting(record.id).select()))


def overdue(record_id: int, now: datetime) -> Select[Registration]:
    """Unconfirmed registrations past their hold time. The index's own predicate, written
    out, so that PostgreSQL uses ix_attendees_awaiting_expiry whatever the plan."""
    return select(Registration).where(
        Registration.event_id == record_id, AWAITING_EXPIRY, Registration.expires_at <= now
    )
