"""Staff actions. Each runs in one transaction, with its audit-log entry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Row, delete, select, update
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
from ..registrations import api as registrations
from ..registrations import seats
from ..registrations.exceptions import (
    ActionRefused,
    CapacityTooLow,
    NoSeatLeft,
    NotAwaitingReview,
    RegistrationNotFound,
)
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


def export(event: Event, actor: str, kind: str, filters: queries.Filters) -> Iterator[Row[Any]]:
    """The rows to export (queries.export_rows), once the export is written to the audit log."""
    details = f"q={filters.search!r} statut={filters.status!r}"
    log_action(actor, f"export-{kind}", event.slug, details)
    return queries.export_rows(event, filters)


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
        if user.active == active:  # a second click, or two tabs: nothing changes
            return user
        user.active = active
        audit(session, actor, "user-reactiver" if active else "user-desactiver", details=user.email)
    return user


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
        if record.is_open == is_open and record.public_notice == notice.strip():
            return  # nothing changes: nothing to write
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
        if before == places and record.capacity_overridden == overridden:
            return  # the form saved as it was: nothing changes, nothing to write
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


# --- An organiser's actions on one registration -----------------------------------------------


def _registration(session: Session, record_id: int, public_id: str) -> Registration:
    registration = registrations.locked_registration(session, record_id, public_id)
    if registration is None:
        raise RegistrationNotFound("Cette inscription n’existe pas pour cet événement.")
    return registration


def cancel_registration(event: Event, public_id: str, actor: str) -> Registration:
    """The organisers cancel a registration: the agent is told by e-mail, and a seat it held
    goes to the waiting list, as when the agent cancels."""
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        registration = _registration(session, record.id, public_id)
        reason = "annulée par l’organisation"
        notice = "cancelled_by_organiser"
        if not registrations.withdraw(session, event, record, registration, reason, now, notice):
            raise ActionRefused(
                f"Cette inscription est déjà {registration.status.label.lower()} : "
                "il n’y a rien à annuler."
            )
        audit(session, actor, "cancel-registration", event.slug, registration.email)
    return registration


def resend_confirmation(event: Event, public_id: str, actor: str) -> Registration:
    """A fresh confirmation link for a registration awaiting its address, and a fresh hold
    time to follow it in."""
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        registration = _registration(session, record.id, public_id)
        if registration.status != Status.PENDING or registration.email_confirmed_at is not None:
            raise ActionRefused(
                "Seule une inscription en attente de confirmation reçoit un nouveau lien "
                f"(celle-ci est : {registration.status.label.lower()})."
            )
        hold = timedelta(hours=current_app.config["PENDING_HOLD_HOURS"])
        registration.expires_at = now + hold
        registration.updated_at = now
        registration.record(Status.PENDING, "nouveau lien de confirmation envoyé", now)
        mail.queue(session, "confirm_address", event, registration)
        audit(session, actor, "resend-confirmation", event.slug, registration.email)
    return registration


def promote_registration(event: Event, public_id: str, actor: str) -> Registration:
    """Move one agent up from the waiting list, only if a seat is free: the guarded UPDATE
    on the seats takes it or says there is none (NoSeatLeft)."""
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        registration = _registration(session, record.id, public_id)
        if registration.status != Status.WAITLISTED:
            raise ActionRefused(
                "Cette personne n’est pas sur la liste d’attente "
                f"(inscription : {registration.status.label.lower()})."
            )
        if registration.email_confirmed_at is None:
            raise ActionRefused(
                "Cette personne n’a pas encore confirmé son adresse e-mail : elle ne peut pas "
                "prendre de place."
            )
        if not seats.take_seat(session, event, record.id, waiting=True):
            raise NoSeatLeft(
                "Aucune place libre : toutes les places sont prises. Une place libérée "
                "(annulation, places ajoutées) revient d’abord à la première personne de la "
                "liste d’attente."
            )
        registration.move_to(
            Status.CONFIRMED, "sortie de la liste d’attente par l’organisation", now
        )
        registration.expires_at = None
        mail.queue(session, "promoted", event, registration)
        audit(session, actor, "promote-registration", event.slug, registration.email)
    return registration


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
