"""Registration rules. Each service is one transaction: lock the event, check, write.

Seats are guarded in the database: the event row is locked (FOR UPDATE on PostgreSQL,
BEGIN IMMEDIATE on SQLite) and the counter only moves through a conditional UPDATE whose
rowcount is checked. A unique constraint on (event, e-mail) stands behind both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import (
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import clock, mail
from .content import Event
from .dates import datetime_fr
from .eligibility import is_public_address
from .extensions import db
from .models import (
    ACTIVE,
    SEAT_HOLDING,
    Attendee,
    AuditEntry,
    EventState,
    OutboxMessage,
    OutboxStatus,
    Status,
    StatusChange,
)

# --- Errors: each carries a French message and, where it has one, its form field ----------


class RegistrationError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class RegistrationClosed(RegistrationError):
    """An admin closed registration."""


class DeadlinePassed(RegistrationError):
    """The deadline in the front matter has passed."""


class NotEligible(RegistrationError):
    field = "email"


class InvalidLink(RegistrationError):
    """A confirmation or management link is forged, expired or for another event."""


class CapacityTooLow(RegistrationError):
    field = "capacity"


# --- Transactions and the event row ---------------------------------------------------------


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on any error."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _ensure_event_row(session: Session, event: Event) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(EventState)
        .values(slug=event.slug, capacity=event.capacity, updated_at=clock.now())
        .on_conflict_do_nothing(index_elements=["slug"])
    )


def lock_event(session: Session, event: Event) -> EventState:
    """Create the event's row on first use, then lock it for this transaction."""
    _ensure_event_row(session, event)
    return session.execute(
        select(EventState)
        .where(EventState.slug == event.slug)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def event_state(event: Event) -> EventState:
    """The event's row, up to date, with overdue pending registrations expired.

    Page views only read; the event row is locked only when there is an expiry to record.
    """
    session = db.session
    now = clock.now()
    state = session.scalars(
        select(EventState)
        .where(EventState.slug == event.slug)
        .execution_options(populate_existing=True)
    ).first()
    if state is not None and not session.scalar(select(_overdue(state, now).exists())):
        # No commit: it would expire `state` and the page would load it again. The read
        # ends with the request (or joins the caller's next transaction).
        return state
    with transaction() as session:
        state = lock_event(session, event)
        expire_overdue(session, event, state, now)
    return state


# --- Checks ---------------------------------------------------------------------------------


def check_open(state: EventState, event: Event, now: datetime) -> None:
    if not state.is_open:
        raise RegistrationClosed("Les inscriptions sont fermées.")
    if now >= event.deadline:
        raise DeadlinePassed(
            f"Les inscriptions sont closes depuis le {datetime_fr(event.deadline)}"
        )


def check_eligible(email: str, event: Event) -> None:
    if not is_public_address(email, event.extra_domains):
        raise NotEligible(
            "Cette adresse n’est pas celle d’un service public. "
            "Utilisez l’adresse e-mail professionnelle que vous donne votre administration.",
        )


# --- Seats ----------------------------------------------------------------------------------


def _take_seat(session: Session, state: EventState) -> bool:
    """Take one seat if one is left: a conditional UPDATE, checked by its rowcount."""
    guard = update(EventState).where(EventState.id == state.id)
    if state.capacity is not None:
        guard = guard.where(EventState.seats_taken < EventState.capacity)
    result = session.execute(
        guard.values(seats_taken=EventState.seats_taken + 1, updated_at=clock.now())
    )
    session.refresh(state)
    return result.rowcount == 1


def _free_seat(session: Session, state: EventState) -> None:
    session.execute(
        update(EventState)
        .where(EventState.id == state.id, EventState.seats_taken > 0)
        .values(seats_taken=EventState.seats_taken - 1, updated_at=clock.now())
    )
    session.refresh(state)


def _set_status(attendee: Attendee, status: Status, reason: str, now: datetime) -> None:
    attendee.status = status
    attendee.updated_at = now
    attendee.history.append(StatusChange(status=status, reason=reason, at=now))


def promote_waitlist(session: Session, event: Event, state: EventState, now: datetime) -> None:
    """Move people up from the waiting list, first come first served, while seats are left."""
    while True:
        first = session.scalars(
            select(Attendee)
            .where(Attendee.event_id == state.id, Attendee.status == Status.WAITLISTED)
            .order_by(Attendee.created_at, Attendee.id)
            .limit(1)
        ).first()
        if first is None or not _take_seat(session, state):
            return
        confirmed = first.email_confirmed_at is not None
        _set_status(
            first,
            Status.CONFIRMED if confirmed else Status.PENDING,
            "place libérée : sortie de la liste d’attente",
            now,
        )
        mail.queue(session, "promoted", event, first)


def _overdue(state: EventState, now: datetime):
    return select(Attendee).where(
        Attendee.event_id == state.id,
        Attendee.status.in_((Status.PENDING, Status.WAITLISTED)),
        Attendee.email_confirmed_at.is_(None),
        Attendee.expires_at <= now,
    )


def expire_overdue(session: Session, event: Event, state: EventState, now: datetime) -> None:
    """Unconfirmed registrations past their hold time expire; their seats go to the list."""
    overdue = session.scalars(_overdue(state, now)).all()
    for attendee in overdue:
        held_seat = attendee.status == Status.PENDING
        _set_status(attendee, Status.EXPIRED, "adresse non confirmée dans le délai", now)
        if held_seat:
            _free_seat(session, state)
    if overdue:
        promote_waitlist(session, event, state, now)


# --- Registration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Registrant:
    email: str
    first_name: str
    last_name: str
    employer: str
    job_title: str
    departments: tuple[str, ...] = ()
    accessibility_needs: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the agent is told. A duplicate gets the very answer a newcomer would."""

    waitlisted: bool


def register_attendee(event: Event, registrant: Registrant) -> Outcome:
    """Register an agent, pending confirmation of their address; a full event waitlists them."""
    check_eligible(registrant.email, event)
    with transaction() as session:
        now = clock.now()
        state = lock_event(session, event)
        check_open(state, event, now)
        expire_overdue(session, event, state, now)

        existing = session.scalars(
            select(Attendee).where(
                Attendee.event_id == state.id, Attendee.email == registrant.email
            )
        ).first()
        if existing is not None and existing.status in ACTIVE:
            full = state.seats_left == 0
            mail.queue(session, "duplicate", event, existing)
            return Outcome(waitlisted=full)

        seated = _take_seat(session, state)
        attendee = existing or Attendee(event_id=state.id, email=registrant.email, created_at=now)
        attendee.first_name = registrant.first_name
        attendee.last_name = registrant.last_name
        attendee.employer = registrant.employer
        attendee.job_title = registrant.job_title
        attendee.departments = list(registrant.departments)
        attendee.accessibility_needs = registrant.accessibility_needs
        attendee.email_confirmed_at = None
        attendee.expires_at = now + timedelta(hours=current_app.config["PENDING_HOLD_HOURS"])
        if existing is not None:
            attendee.created_at = now  # a new registration joins the back of the list
        else:
            session.add(attendee)
        _set_status(
            attendee,
            Status.PENDING if seated else Status.WAITLISTED,
            "inscription reçue" if seated else "inscription reçue, événement complet",
            now,
        )
        session.flush()
        mail.queue(session, "confirm_address", event, attendee)
        return Outcome(waitlisted=not seated)


# --- Links ----------------------------------------------------------------------------------


class _ClockSigner(TimestampSigner):
    """Token ages are measured on the one clock, like every other deadline."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _confirm_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="confirm-address", signer=_ClockSigner
    )


def _manage_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="manage-registration")


def confirm_token(attendee: Attendee) -> str:
    return _confirm_serializer().dumps(attendee.public_id)


def manage_token(attendee: Attendee) -> str:
    return _manage_serializer().dumps(attendee.public_id)


def _attendee_from(session: Session, state: EventState, public_id: str) -> Attendee:
    attendee = session.scalars(
        select(Attendee)
        .where(Attendee.public_id == public_id, Attendee.event_id == state.id)
        .execution_options(populate_existing=True)
    ).first()
    if attendee is None:
        raise InvalidLink("Ce lien ne correspond à aucune inscription à cet événement.")
    return attendee


def confirm_attendee(event: Event, token: str) -> Attendee:
    """The agent clicked the link sent to their address: it is theirs."""
    expired = InvalidLink(
        "Ce lien de confirmation a expiré. Inscrivez-vous de nouveau si des places restent."
    )
    max_age = current_app.config["PENDING_HOLD_HOURS"] * 3600
    try:
        public_id = _confirm_serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        event_state(event)  # records the expiry and moves the waiting list up
        raise expired from None
    except BadSignature:
        raise InvalidLink("Ce lien de confirmation n’est pas valide.") from None
    with transaction() as session:
        now = clock.now()
        state = lock_event(session, event)
        expire_overdue(session, event, state, now)
        attendee = _attendee_from(session, state, public_id)
        if attendee.status in ACTIVE and attendee.email_confirmed_at is None:
            attendee.email_confirmed_at = now
            attendee.expires_at = None
            if attendee.status == Status.PENDING:
                _set_status(attendee, Status.CONFIRMED, "adresse confirmée", now)
                mail.queue(session, "confirmed", event, attendee)
            else:
                attendee.history.append(
                    StatusChange(status=attendee.status, reason="adresse confirmée", at=now)
                )
                mail.queue(session, "waitlisted", event, attendee)
    # Raised after the commit, so that the expiry found above is kept.
    if attendee.status == Status.EXPIRED:
        raise expired
    if attendee.status == Status.CANCELLED:
        raise InvalidLink("Cette inscription a été annulée.")
    return attendee


def _public_id_from_manage_link(token: str) -> str:
    try:
        return _manage_serializer().loads(token)
    except BadSignature:
        raise InvalidLink("Ce lien n’est pas valide.") from None


def attendee_for_link(event: Event, token: str) -> Attendee:
    """The registration a management link points to."""
    public_id = _public_id_from_manage_link(token)
    with transaction() as session:
        state = lock_event(session, event)
        expire_overdue(session, event, state, clock.now())
        return _attendee_from(session, state, public_id)


def cancel_attendee(event: Event, token: str) -> Attendee:
    """The agent cancels: the seat goes to the first person on the waiting list."""
    public_id = _public_id_from_manage_link(token)
    with transaction() as session:
        now = clock.now()
        state = lock_event(session, event)
        attendee = _attendee_from(session, state, public_id)
        if attendee.status not in ACTIVE:
            return attendee
        held_seat = attendee.status in SEAT_HOLDING
        _set_status(attendee, Status.CANCELLED, "annulée par l’agent", now)
        attendee.expires_at = None
        mail.queue(session, "cancelled", event, attendee)
        if held_seat:
            _free_seat(session, state)
            promote_waitlist(session, event, state, now)
        return attendee


# --- What the public page shows -------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationState:
    is_open: bool
    message: str
    seats_left: int | None
    notice: str = ""

    @property
    def full(self) -> bool:
        return self.seats_left == 0


def registration_state(event: Event, state: EventState, now: datetime) -> RegistrationState:
    try:
        check_open(state, event, now)
    except RegistrationError as closed:
        return RegistrationState(False, closed.message, state.seats_left, state.public_notice)
    return RegistrationState(
        True,
        f"Inscriptions ouvertes jusqu’au {datetime_fr(event.deadline)}",
        state.seats_left,
        state.public_notice,
    )


# --- Admin actions: each one audited in its own transaction ---------------------------------


def audit(
    session: Session, actor: str, action: str, event_slug: str = "", details: str = ""
) -> None:
    session.add(
        AuditEntry(
            at=clock.now(), actor=actor, action=action, event_slug=event_slug, details=details
        )
    )


def log_action(actor: str, action: str, event_slug: str = "", details: str = "") -> None:
    """Record an action that changes nothing else (an export, an account change)."""
    with transaction() as session:
        audit(session, actor, action, event_slug, details)


def retry_message(message_id: int, actor: str) -> bool:
    """Put a failed message back in line, to be sent after the response; False if not failed."""
    with transaction() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.FAILED)
            .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=clock.now())
        )
        if not result.rowcount:
            return False
        audit(session, actor, "retry-message", details=f"message {message_id}")
    mail.deliver_after_response(message_id)
    return True


def set_registration_open(event: Event, actor: str, is_open: bool, notice: str = "") -> None:
    """Close or reopen registration now; forms already open are refused at their submission."""
    with transaction() as session:
        state = lock_event(session, event)
        state.is_open = is_open
        state.public_notice = notice.strip()
        state.updated_at = clock.now()
        details = f"message public : {state.public_notice}" if state.public_notice else ""
        audit(session, actor, "reopen" if is_open else "close", event.slug, details)


def change_capacity(event: Event, actor: str, capacity: int | None) -> None:
    """Change the number of places; more places move people up from the waiting list."""
    with transaction() as session:
        now = clock.now()
        state = lock_event(session, event)
        if capacity is not None and capacity < state.seats_taken:
            raise CapacityTooLow(
                f"Impossible de descendre à {capacity} places : {state.seats_taken} sont déjà "
                "prises (inscriptions confirmées ou en attente de confirmation). Annulez des "
                "inscriptions d’abord, ou choisissez au moins ce nombre."
            )
        before = state.capacity
        state.capacity = capacity
        state.updated_at = now
        audit(session, actor, "capacity", event.slug, f"{before} → {capacity}")
        promote_waitlist(session, event, state, now)


def purge_attendees(events: tuple[Event, ...], older_than: timedelta, actor: str) -> dict[str, int]:
    """Delete the attendees of events that ended more than `older_than` ago."""
    deleted: dict[str, int] = {}
    now = clock.now()
    for event in events:
        if (event.end or event.start) + older_than > now:
            continue
        with transaction() as session:
            state = lock_event(session, event)
            doomed = session.scalars(select(Attendee).where(Attendee.event_id == state.id)).all()
            for attendee in doomed:
                session.delete(attendee)
            state.seats_taken = 0
            if doomed:
                audit(
                    session,
                    actor,
                    "purge",
                    event.slug,
                    f"{len(doomed)} inscription(s) supprimée(s), "
                    f"événement terminé depuis plus de {older_than.days} jours",
                )
        deleted[event.slug] = len(doomed)
    return deleted
