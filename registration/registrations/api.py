"""What agents do: register, confirm their address, cancel. One transaction each.

Checks come first and nothing is rendered here (the outbox keeps each message's kind and
parameters; the deliverer renders it). Registering takes no lock on the event: no seat is
taken then. Confirming takes the seat with one guarded UPDATE, the last statement before the
commit, so that the event's row is locked only while the commit is written.

A sign-up's two writes (a new registration, a confirmation) are written in SQL, statements
built once, on the session's connection: the ORM's unit of work cost three times their CPU.
The rarer paths (registering again, cancelling, the waiting list) keep the ORM.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from .. import clock, links, mail
from ..content import Event
from ..db import transaction
from ..models import (
    ACTIVE,
    SEAT_HOLDING,
    EventRecord,
    Registration,
    Status,
    StatusChange,
    new_public_id,
    overdue,
)
from . import queries, rules, seats
from .exceptions import InvalidLink, NotEligible

# One "you are already registered" notice per address per day, however often the form is sent.
DUPLICATE_NOTICE_EVERY = timedelta(days=1)
EXPIRED_REASON = "adresse non confirmée dans le délai"


@dataclass(frozen=True)
class Registrant:
    """What the agent filled in. A justification asks for manual verification."""

    email: str
    first_name: str
    last_name: str
    employer: str
    job_title: str
    answers: dict[str, str | list[str]] = field(default_factory=dict)
    accessibility_needs: str = ""
    justification: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the agent is told. A duplicate gets the very answer a newcomer would."""

    full: bool  # no seat left now: once confirmed, the agent joins the waiting list
    review: bool = False  # an organiser checks the request once the address is confirmed


@dataclass(frozen=True)
class Confirmation:
    """Where following a confirmation link leaves the registration."""

    public_id: str  # for its management link
    status: Status
    already: bool = False  # ProConnect: the address already held this proven registration


# --- Statements of the hot path --------------------------------------------------------------

_EXISTING = select(Registration.id).where(
    Registration.event_id == bindparam("event"), Registration.email == bindparam("address")
)


_ONE_PER_ADDRESS = ["event_id", "email"]  # uq_attendees_event_email


def _take_answers(registration: Registration, registrant: Registrant) -> None:
    """What the agent typed into the form, onto their registration (new or taken again)."""
    registration.first_name = registrant.first_name
    registration.last_name = registrant.last_name
    registration.employer = registrant.employer
    registration.job_title = registrant.job_title
    registration.answers = dict(registrant.answers)
    registration.accessibility_needs = registrant.accessibility_needs


@functools.cache
def _insert_new(dialect: str) -> ReturningInsert[Any]:
    """The INSERT of a new registration that writes nothing when the address is registered
    already (no row returned): one round trip for a newcomer, rather than a look-up first.
    The dialect's module is imported where used: start-up need not pay for it."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return (
            pg_insert(Registration)
            .on_conflict_do_nothing(index_elements=_ONE_PER_ADDRESS)
            .returning(Registration.id)
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (
        sqlite_insert(Registration)
        .on_conflict_do_nothing(index_elements=_ONE_PER_ADDRESS)
        .returning(Registration.id)
    )


_HISTORY = insert(StatusChange).returning(StatusChange.id)
# The registration a confirmation link names, its row locked: two clicks on one link are
# served one after the other.
_FIND = (
    select(
        Registration.id,
        Registration.event_id,
        Registration.public_id,
        Registration.email,
        Registration.first_name,
        Registration.last_name,
        Registration.status,
        Registration.review_message,
        Registration.email_confirmed_at,
        Registration.expires_at,
        # The counter as this transaction sees it, to guess whether a seat is left.
        EventRecord.seats_taken,
        EventRecord.capacity_override,
        EventRecord.capacity_overridden,
        seats.someone_waiting(EventRecord.id).label("someone_waiting"),
        # What the « confirmed » e-mail's invitation needs, read here rather than apart.
        *mail.invitation_state(Registration.id),
    )
    .join(EventRecord, Registration.event_id == EventRecord.id)
    .where(Registration.public_id == bindparam("public_id"), EventRecord.slug == bindparam("slug"))
    .with_for_update(of=Registration)
)
_SET_STATUS = (
    update(Registration)
    .where(Registration.id == bindparam("registration"))
    .values(status=bindparam("new_status"), updated_at=bindparam("at"))
)
_PROVE = _SET_STATUS.values(email_confirmed_at=bindparam("at"), expires_at=None)
_AMEND_HISTORY = (
    update(StatusChange)
    .where(StatusChange.id == bindparam("change"))
    .values(status=bindparam("new_status"), reason=bindparam("new_reason"))
)


@dataclass(frozen=True)
class _Found:
    """A registration as _FIND reads it."""

    id: int
    event_id: int
    public_id: str
    email: str
    first_name: str
    last_name: str
    status: Status
    review_message: str
    email_confirmed_at: datetime | None
    expires_at: datetime | None
    seats_taken: int
    capacity_override: int | None
    capacity_overridden: bool
    someone_waiting: bool
    cancellations: int
    calendar_params: Any
    calendar_ics: str | None

    def invitation(self) -> tuple[int, Any, str | None]:
        return self.cancellations, self.calendar_params, self.calendar_ics

    def seat_likely(self, event: Event) -> bool:
        """A seat is left for a newcomer, by this transaction's snapshot."""
        places = self.capacity_override if self.capacity_overridden else event.capacity
        return (places is None or self.seats_taken < places) and not self.someone_waiting

    def mailed(self, status: Status, confirmed_at: datetime | None) -> mail.MailRegistration:
        return mail.MailRegistration(
            self.public_id,
            self.first_name,
            self.last_name,
            status,
            self.review_message,
            confirmed_at,
        )


def _move(
    connection: Connection, registration_id: int, status: Status, reason: str, now: datetime
) -> int:
    """Change a registration's status and say why in its history; the history line's id."""
    connection.execute(
        _SET_STATUS, {"registration": registration_id, "new_status": status, "at": now}
    )
    return _history(connection, registration_id, status, reason, now)


def _history(
    connection: Connection, registration_id: int, status: Status, reason: str, now: datetime
) -> int:
    values = {"attendee_id": registration_id, "status": status, "reason": reason, "at": now}
    return int(connection.execute(_HISTORY, values).scalar_one())


def _needs_review(event: Event, registrant: Registrant, email: str) -> bool:
    """False for a public agent's address; True for a verification request; NotEligible
    otherwise. The domains organisers accepted are read only for an address off the list."""
    try:
        rules.check_eligible(email, event)
    except NotEligible:
        try:
            rules.check_eligible(email, event, queries.accepted_domains(event))
        except NotEligible as error:
            if registrant.justification and event.manual_verification and not error.personal:
                return True
            raise
    return False


def register(event: Event, registrant: Registrant) -> Outcome:
    """Register an agent, pending the confirmation of their address. The seat is taken then,
    when the mailbox is proven; an address outside the list asks for manual verification."""
    email = rules.mailbox(registrant.email)
    review = _needs_review(event, registrant, email)
    try:
        return _register(event, registrant, email, review)
    except IntegrityError:
        # The same address sent twice at the same moment: the other one was written first,
        # and this one is its duplicate.
        return _register(event, registrant, email, review)


def _register(event: Event, registrant: Registrant, email: str, review: bool) -> Outcome:
    with transaction() as session:
        connection = session.connection()
        now = clock.now()
        state = seats.state_for_registration(connection, event)
        rules.check_open(event, state.is_open, now)
        if not _insert(connection, event, state.id, registrant, email, review, now):
            existing = connection.execute(_EXISTING, {"event": state.id, "address": email})
            _register_again(session, event, registrant, existing.scalar_one(), review, now)
        return Outcome(full=state.seats_left == 0, review=review)


def _insert(
    connection: Connection,
    event: Event,
    event_id: int,
    registrant: Registrant,
    email: str,
    review: bool,
    now: datetime,
) -> bool:
    """A new registration, its history's first line and its confirmation e-mail; False, and
    nothing written, if the address is registered already."""
    public_id = new_public_id()
    status = Status.REVIEW if review else Status.PENDING
    registration_id = connection.execute(
        _insert_new(connection.dialect.name),
        {
            "public_id": public_id,
            "event_id": event_id,
            "email": email,
            "first_name": registrant.first_name,
            "last_name": registrant.last_name,
            "employer": registrant.employer,
            "job_title": registrant.job_title,
            "answers": dict(registrant.answers),
            "accessibility_needs": registrant.accessibility_needs,
            "justification": registrant.justification if review else "",
            "status": status,
            "expires_at": now + timedelta(hours=current_app.config["PENDING_HOLD_HOURS"]),
            "created_at": now,
            "updated_at": now,
        },
    ).scalar()
    if registration_id is None:
        return False
    reason = "demande de vérification reçue" if review else "inscription reçue"
    _history(connection, registration_id, status, reason, now)
    mailed = mail.MailRegistration(
        public_id, registrant.first_name, registrant.last_name, status, "", None
    )
    mail.queue_row(connection, "confirm_address", event, mailed, registration_id, email)
    return True


def _register_again(
    session: Session,
    event: Event,
    registrant: Registrant,
    registration_id: int,
    review: bool,
    now: datetime,
) -> None:
    """The address has a registration already: a duplicate while it is alive (one notice a
    day), a new registration in the same row otherwise."""
    registration = session.get(Registration, registration_id, populate_existing=True)
    assert registration is not None
    if registration.is_overdue(now):
        registration.move_to(Status.EXPIRED, EXPIRED_REASON, now)  # as the job would
    if registration.status in ACTIVE:
        last = registration.duplicate_notice_at
        if last is None or now - last >= DUPLICATE_NOTICE_EVERY:
            registration.duplicate_notice_at = now
            mail.queue(session, "duplicate", event, registration)
        return
    _take_answers(registration, registrant)
    registration.justification = registrant.justification if review else ""
    registration.email_confirmed_at = None
    registration.expires_at = now + timedelta(hours=current_app.config["PENDING_HOLD_HOURS"])
    registration.created_at = now  # a new registration joins the back of the list
    if review:
        registration.move_to(Status.REVIEW, "demande de vérification reçue", now)
    else:
        registration.move_to(Status.PENDING, "inscription reçue", now)
    mail.queue(session, "confirm_address", event, registration)


def confirm(event: Event, token: str) -> Confirmation:
    """The agent followed the link sent to their address: it is theirs, and takes its seat.

    An expired link changes nothing (`flask registrations expire` records expiries); a
    registration found past its hold time is recorded as expired here, as the job would."""
    public_id = links.public_id_from_confirm_token(token)
    with transaction() as session:
        connection = session.connection()
        now = clock.now()
        row = connection.execute(_FIND, {"public_id": public_id, "slug": event.slug}).first()
        if row is None:
            raise InvalidLink("Ce lien ne correspond à aucune inscription à cet événement.")
        found = _Found(**row._mapping)
        status = found.status
        if overdue(found.status, found.email_confirmed_at, found.expires_at, now):
            status = Status.EXPIRED
            _move(connection, found.id, status, EXPIRED_REASON, now)
        elif found.status in ACTIVE and found.email_confirmed_at is None:
            status = _mailbox_proven(session, connection, event, found, now)
    # Raised after the commit, so that the expiry found above is kept.
    if status == Status.EXPIRED:
        raise links.ExpiredLink(links.EXPIRED_CONFIRMATION)
    if status == Status.CANCELLED:
        raise InvalidLink("Cette inscription a été annulée.")
    if status == Status.REFUSED:
        raise InvalidLink("Cette demande d’inscription n’a pas été acceptée.")
    return Confirmation(found.public_id, status)


def _mailbox_proven(
    session: Session, connection: Connection, event: Event, found: _Found, now: datetime
) -> Status:
    """The address is proven: a seat (or the waiting list), or, for a verification request,
    the organisers' review. Returns the new status."""
    if found.status == Status.REVIEW:
        connection.execute(
            _PROVE, {"registration": found.id, "new_status": Status.REVIEW, "at": now}
        )
        _history(connection, found.id, Status.REVIEW, "adresse confirmée, à vérifier", now)
        mailed = found.mailed(Status.REVIEW, now)
        mail.queue_row(connection, "review_received", event, mailed, found.id, found.email)
        return Status.REVIEW
    if not found.seat_likely(event):
        # Full (or others wait first), by this transaction's snapshot: ask for the seat first
        # (an UPDATE that matches no row locks none), then write what happened. Should a seat
        # have freed up meanwhile, the lock is held for the three writes below, that once.
        seated = seats.seat_newcomer(session, event, found.event_id, now)
        status = Status.CONFIRMED if seated else Status.WAITLISTED
        reason = "adresse confirmée" if seated else "adresse confirmée, événement complet"
        connection.execute(_PROVE, {"registration": found.id, "new_status": status, "at": now})
        _history(connection, found.id, status, reason, now)
        kind = "confirmed" if seated else "waitlisted"
        mailed = found.mailed(status, now)
        mail.queue_row(connection, kind, event, mailed, found.id, found.email, found.invitation())
        return status
    # A seat is likely: everything is written as if it were taken, then it is: its UPDATE is
    # the last statement before the commit, and the event's row is locked only until then.
    connection.execute(
        _PROVE, {"registration": found.id, "new_status": Status.CONFIRMED, "at": now}
    )
    change = _history(connection, found.id, Status.CONFIRMED, "adresse confirmée", now)
    mailed = found.mailed(Status.CONFIRMED, now)
    message = mail.queue_row(
        connection, "confirmed", event, mailed, found.id, found.email, found.invitation()
    )
    if seats.seat_newcomer(session, event, found.event_id, now):
        return Status.CONFIRMED
    # Another confirmation took the last seat meanwhile (the UPDATE matched no row, so it
    # locked none): the same rows say so.
    waitlisted = Status.WAITLISTED
    connection.execute(_SET_STATUS, {"registration": found.id, "new_status": waitlisted, "at": now})
    connection.execute(
        _AMEND_HISTORY,
        {
            "change": change,
            "new_status": waitlisted,
            "new_reason": "adresse confirmée, événement complet",
        },
    )
    mail.requeue_row(connection, message, "waitlisted", event, replace(mailed, status=waitlisted))
    return waitlisted


PROCONNECT_REASON = "inscription avec ProConnect"


def register_with_proconnect(event: Event, registrant: Registrant) -> Confirmation:
    """A public agent signed in with ProConnect, by its `roles`: the federation verified
    their address, so the registration takes its seat at once, or joins the waiting list,
    with no confirmation link; the « confirmed » or « waitlisted » e-mail goes out.

    The address already registered: a confirmed registration, or a proven one on the
    waiting list, is left as it is (`already`, and no e-mail); one awaiting its link or a
    review is seated now; an ended one starts again."""
    email = rules.mailbox(registrant.email)
    try:
        return _register_with_proconnect(event, registrant, email)
    except IntegrityError:
        # The same address sent twice at the same moment: the other one was written first.
        return _register_with_proconnect(event, registrant, email)


def _register_with_proconnect(event: Event, registrant: Registrant, email: str) -> Confirmation:
    with transaction() as session:
        now = clock.now()
        state = seats.state_for_registration(session.connection(), event)
        rules.check_open(event, state.is_open, now)
        registration = session.scalars(
            select(Registration)
            .where(Registration.event_id == state.id, Registration.email == email)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if registration is not None and registration.is_overdue(now):
            registration.move_to(Status.EXPIRED, EXPIRED_REASON, now)  # as the job would
        if registration is not None and _proven(registration):
            return Confirmation(registration.public_id, registration.status, already=True)
        if registration is None:
            registration = Registration(
                public_id=new_public_id(), event_id=state.id, email=email, created_at=now
            )
            session.add(registration)
        elif registration.status not in ACTIVE:
            registration.created_at = now  # a new registration joins the back of the list
        _take_answers(registration, registrant)
        registration.justification = ""
        registration.email_confirmed_at = now
        registration.expires_at = None
        registration.via_proconnect = True
        # The seat is asked for before the rows are written; on a full event the UPDATE
        # matches no row and locks none.
        with session.no_autoflush:  # the row is written once its status is known
            seated = seats.seat_newcomer(session, event, state.id, now)
        status = Status.CONFIRMED if seated else Status.WAITLISTED
        reason = PROCONNECT_REASON if seated else f"{PROCONNECT_REASON}, événement complet"
        registration.move_to(status, reason, now)
        mail.queue(session, "confirmed" if seated else "waitlisted", event, registration)
        return Confirmation(registration.public_id, status)


def _proven(registration: Registration) -> bool:
    """Kept as it is by ProConnect: a seat held, or a place on the list with a proven
    address. A request under review is seated now, whatever its address."""
    if registration.status == Status.CONFIRMED:
        return True
    return registration.status == Status.WAITLISTED and registration.email_confirmed_at is not None


def cancel(event: Event, token: str) -> Registration:
    """The agent cancels: the seat goes to the first person on the waiting list, in the same
    transaction."""
    public_id = links.public_id_from_manage_token(token)
    with transaction() as session:
        now = clock.now()
        # The event first, then the registration: the order the waiting list locks them in.
        record = seats.lock_event(session, event)
        registration = locked_registration(session, record.id, public_id)
        if registration is None:
            raise InvalidLink("Ce lien ne correspond à aucune inscription à cet événement.")
        withdraw(session, event, record, registration, "annulée par l’agent", now)
        return registration


def locked_registration(session: Session, record_id: int, public_id: str) -> Registration | None:
    """The event's registration `public_id`, its row locked; the caller locked the event's
    row first (`seats.lock_event`), the order the waiting list locks them in."""
    return session.scalars(
        select(Registration)
        .where(Registration.public_id == public_id, Registration.event_id == record_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def withdraw(
    session: Session,
    event: Event,
    record: EventRecord,
    registration: Registration,
    reason: str,
    now: datetime,
    notice: str = "cancelled",
) -> bool:
    """Cancel a live registration in the caller's transaction (the event's row locked): the
    agent gets the `notice` e-mail (« cancelled » when they cancelled, « cancelled_by_organiser »
    when the organisers did), and a seat it held goes to the waiting list. False, and nothing
    written, if it was no longer live."""
    if registration.status not in ACTIVE:
        return False
    held_seat = registration.status in SEAT_HOLDING
    registration.move_to(Status.CANCELLED, reason, now)
    registration.expires_at = None
    mail.queue(session, notice, event, registration)
    if held_seat:
        seats.free_seat(session, record)
        seats.promote_waitlist(session, event, record, now)
    return True


EXPIRE_BATCH = 500


def expire_overdue(event: Event, batch: int = EXPIRE_BATCH) -> int:
    """Record the expiry of unconfirmed registrations past their hold time, `batch` per
    transaction, passing over any being confirmed at that very moment (SKIP LOCKED on
    PostgreSQL); then, if seats are free while proven agents wait (the content file raised
    its places), move the waiting list up. Returns how many expired. For the periodic job:
    no request runs this."""
    expired = 0
    while True:
        with transaction() as session:
            now = clock.now()
            record = seats.find_record(session, event)
            if record is None:
                return expired
            found = session.scalars(
                seats.overdue(record.id, now)
                .order_by(Registration.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            for registration in found:
                registration.move_to(Status.EXPIRED, EXPIRED_REASON, now)
        expired += len(found)
        if len(found) < batch:
            break
    with transaction() as session:
        if seats.waiting_for_free_seats(session, event):
            seats.promote_waitlist(session, event, seats.lock_event(session, event), clock.now())
    return expired
