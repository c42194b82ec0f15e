"""Staff actions. Each runs in one transaction, with its audit-log entry."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from .. import accounts, clock, eligibility, mail
from ..content import Event
from ..db import transaction
from ..models import (
    AuditEntry,
    EventDomain,
    OutboxMessage,
    OutboxStatus,
    Registration,
    Role,
    Status,
    User,
)
from ..registrations import seats
from ..registrations.exceptions import CapacityTooLow, NotAwaitingReview
from . import queries


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


def export(event: Event, actor: str, kind: str, filters: queries.Filters) -> Select[Any]:
    """The rows to export (queries.export), once the export is written to the audit log."""
    details = f"q={filters.search!r} statut={filters.status!r}"
    log_action(actor, f"export-{kind}", event.slug, details)
    return queries.export(event, filters)


def _awaiting_review(session: Session, record_id: int, public_id: str) -> Registration:
    registration = session.scalars(
        select(Registration)
        .where(
            Registration.event_id == record_id,
            Registration.public_id == public_id,
            Registration.status == Status.REVIEW,
            Registration.email_confirmed_at.is_not(None),
        )
        .execution_options(populate_existing=True)
    ).first()
    if registration is None:
        raise NotAwaitingReview("Cette demande n’est plus à vérifier : elle a déjà été traitée.")
    return registration


def _decided(registration: Registration, actor: str, message: str, now: datetime) -> None:
    registration.review_message = message.strip()
    registration.reviewed_by = actor
    registration.reviewed_at = now


def accept_request(
    event: Event, public_id: str, actor: str, message: str = "", accept_domain: bool = False
) -> Registration:
    """The organiser vouches for an agent the list does not know: a seat, or the waiting list.
    `accept_domain` also accepts the later addresses of that domain for this event."""
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        registration = _awaiting_review(session, record.id, public_id)
        _decided(registration, actor, message, now)
        if seats.seat_newcomer(session, event, record.id, now):
            registration.move_to(Status.CONFIRMED, "demande acceptée par l’organisation", now)
        else:
            registration.move_to(
                Status.WAITLISTED, "demande acceptée, événement complet : liste d’attente", now
            )
        mail.queue(session, "review_accepted", event, registration)
        details = registration.email
        # A personal mailbox's domain is never opened to everyone (it cannot reach review).
        if accept_domain and not eligibility.check(registration.email).personal:
            domain = registration.email.rpartition("@")[2]
            known = session.scalar(
                select(EventDomain.id).where(
                    EventDomain.event_id == record.id, EventDomain.domain == domain
                )
            )
            if known is None:
                session.add(
                    EventDomain(event_id=record.id, domain=domain, added_by=actor, added_at=now)
                )
            details += f" ; domaine {domain} accepté pour l’événement"
        audit(session, actor, "accept-request", event.slug, details)
    return registration


def refuse_request(event: Event, public_id: str, actor: str, message: str) -> Registration:
    """The organiser refuses a verification request; the agent is told why."""
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        registration = _awaiting_review(session, record.id, public_id)
        _decided(registration, actor, message, now)
        registration.move_to(Status.REFUSED, "demande refusée par l’organisation", now)
        mail.queue(session, "review_refused", event, registration)
        audit(session, actor, "refuse-request", event.slug, registration.email)
    return registration


def create_account(email: str, password: str, role: Role, actor: str) -> User:
    """An organiser or admin account; AccountError says why not."""
    with transaction() as session:
        user = accounts.new_user(email, password, role)
        audit(session, actor, "create-user", details=f"{user.email} ({user.role.value})")
    return user


def set_account_active(user_id: int, active: bool, actor: str) -> User | None:
    """Disable or re-enable an account; None if there is no such account."""
    with transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            return None
        user.active = active
        audit(session, actor, "user-reactiver" if active else "user-desactiver", details=user.email)
    return user


def sign_in_sheet(event: Event, actor: str) -> list[Registration]:
    """The confirmed attendees, once the printing is written to the audit log."""
    log_action(actor, "export-emargement", event.slug)
    return queries.sign_in_sheet(event)


def retry_message(message_id: int, actor: str) -> bool:
    """Put a failed message back in line for the outbox worker; False if it had not failed."""
    with transaction() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.FAILED)
            .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=clock.now())
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        audit(session, actor, "retry-message", details=f"message {message_id}")
        mail.notify(session)
    return True


def set_registration_open(event: Event, actor: str, is_open: bool, notice: str = "") -> None:
    """Close or reopen registration now; forms already open are refused at their submission."""
    with transaction() as session:
        record = seats.lock_event(session, event, exclusive=True)
        record.is_open = is_open
        record.public_notice = notice.strip()
        record.updated_at = clock.now()
        details = f"message public : {record.public_notice}" if record.public_notice else ""
        audit(session, actor, "reopen" if is_open else "close", event.slug, details)


def _places(value: int | None) -> str:
    return "illimitées" if value is None else str(value)


def _set_capacity(
    event: Event, actor: str, places: int | None, overridden: bool, too_low: str, note: str = ""
) -> None:
    """The one way the places in force change: never below the seats taken, audited, and
    more places move the waiting list up."""
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        if places is not None and places < record.seats_taken:
            raise CapacityTooLow(too_low.format(places=places, taken=record.seats_taken))
        before = seats.capacity_in_force(event, record).places
        record.capacity_override = places if overridden else None
        record.capacity_overridden = overridden
        record.updated_at = now
        audit(
            session, actor, "capacity", event.slug, f"{_places(before)} → {_places(places)}{note}"
        )
        seats.promote_waitlist(session, event, record, now)


def change_capacity(event: Event, actor: str, capacity: int | None) -> None:
    """Set the number of places, over the content file's; more places move the list up."""
    _set_capacity(
        event,
        actor,
        capacity,
        overridden=True,
        too_low="Impossible de descendre à {places} places : {taken} sont déjà prises "
        "(inscriptions confirmées). Annulez des inscriptions d’abord, ou choisissez au moins "
        "ce nombre.",
    )


def use_file_capacity(event: Event, actor: str) -> None:
    """Drop the admin's number: the content file's `places` is in force again."""
    _set_capacity(
        event,
        actor,
        event.capacity,
        overridden=False,
        too_low="Le fichier prévoit {places} places, mais {taken} sont déjà prises. "
        "Gardez un nombre fixé par l’administration.",
        note=" (valeur du fichier)",
    )


def queue_reminders(events: Iterable[Event], days: int) -> dict[str, int]:
    """Queue one reminder for each confirmed attendee of events starting within `days`."""
    now = clock.now()
    queued: dict[str, int] = {}
    for event in events:
        if not (now < event.start <= now + timedelta(days=days)):
            continue
        with transaction() as session:
            record = seats.lock_event(session, event)
            due = session.scalars(
                select(Registration).where(
                    Registration.event_id == record.id,
                    Registration.status == Status.CONFIRMED,
                    Registration.reminded_at.is_(None),
                )
            ).all()
            for registration in due:
                registration.reminded_at = now
                mail.queue(session, "reminder", event, registration)
        queued[event.slug] = len(due)
    return queued


def purge_registrations(
    events: Iterable[Event], older_than: timedelta, actor: str
) -> dict[str, int]:
    """Delete the registrations of events that ended more than `older_than` ago."""
    deleted: dict[str, int] = {}
    now = clock.now()
    for event in events:
        if not event.has_ended(now - older_than):
            continue
        with transaction() as session:
            record = seats.lock_event(session, event)
            result = session.execute(delete(Registration).where(Registration.event_id == record.id))
            count = int(result.rowcount)  # type: ignore[attr-defined]
            record.seats_taken = 0
            if count:
                audit(
                    session,
                    actor,
                    "purge",
                    event.slug,
                    f"{count} inscription(s) supprimée(s), "
                    f"événement terminé depuis plus de {older_than.days} jours",
                )
        deleted[event.slug] = count
    return deleted
