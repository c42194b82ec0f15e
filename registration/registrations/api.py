"""What agents do: register, confirm their address, cancel. One transaction each.

Checks and rendering come first; the event row is locked as late as possible, and the
outbox row is written in the same transaction as the change that causes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock, links, mail
from ..content import Event
from ..db import transaction
from ..models import ACTIVE, SEAT_HOLDING, EventRecord, Registration, Status, StatusChange
from . import queries, rules, seats
from .exceptions import InvalidLink, NotEligible

# One "you are already registered" notice per address per day, however often the form is sent.
DUPLICATE_NOTICE_EVERY = timedelta(days=1)


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


def _find(session: Session, record: EventRecord, public_id: str) -> Registration:
    registration = session.scalars(
        select(Registration)
        .where(Registration.public_id == public_id, Registration.event_id == record.id)
        .execution_options(populate_existing=True)
    ).first()
    if registration is None:
        raise InvalidLink("Ce lien ne correspond à aucune inscription à cet événement.")
    return registration


def _needs_review(event: Event, registrant: Registrant, email: str) -> bool:
    """False for a public agent's address; True for a verification request; NotEligible
    otherwise."""
    try:
        rules.check_eligible(email, event, queries.accepted_domains(event))
    except NotEligible as error:
        if registrant.justification and event.manual_verification and not error.personal:
            return True
        raise
    return False


def _notify_duplicate(
    session: Session, event: Event, registration: Registration, now: datetime
) -> None:
    last = registration.duplicate_notice_at
    if last is None or now - last >= DUPLICATE_NOTICE_EVERY:
        registration.duplicate_notice_at = now
        mail.queue(session, "duplicate", event, registration)


def register(event: Event, registrant: Registrant) -> Outcome:
    """Register an agent, pending the confirmation of their address. The seat is taken then,
    when the mailbox is proven; an address outside the list asks for manual verification."""
    email = rules.mailbox(registrant.email)
    review = _needs_review(event, registrant, email)
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        rules.check_open(event, record.is_open, now)
        seats.settle(session, event, record, now)
        full = seats.capacity_in_force(event, record).seats_left(record.seats_taken) == 0

        existing = session.scalars(
            select(Registration).where(
                Registration.event_id == record.id, Registration.email == email
            )
        ).first()
        if existing is not None and existing.status in ACTIVE:
            _notify_duplicate(session, event, existing, now)
            return Outcome(full=full, review=review)

        registration = existing or Registration(event_id=record.id, email=email, created_at=now)
        registration.first_name = registrant.first_name
        registration.last_name = registrant.last_name
        registration.employer = registrant.employer
        registration.job_title = registrant.job_title
        registration.answers = dict(registrant.answers)
        registration.accessibility_needs = registrant.accessibility_needs
        registration.justification = registrant.justification if review else ""
        registration.email_confirmed_at = None
        registration.expires_at = now + timedelta(hours=current_app.config["PENDING_HOLD_HOURS"])
        if existing is not None:
            registration.created_at = now  # a new registration joins the back of the list
        else:
            session.add(registration)
        if review:
            registration.move_to(Status.REVIEW, "demande de vérification reçue", now)
        else:
            registration.move_to(Status.PENDING, "inscription reçue", now)
        session.flush()
        mail.queue(session, "confirm_address", event, registration)
        return Outcome(full=full, review=review)


def _mailbox_proven(
    session: Session, event: Event, record: EventRecord, registration: Registration, now: datetime
) -> None:
    registration.email_confirmed_at = now
    registration.expires_at = None
    if registration.status == Status.REVIEW:
        registration.history.append(
            StatusChange(status=Status.REVIEW, reason="adresse confirmée, à vérifier", at=now)
        )
        mail.queue(session, "review_received", event, registration)
    elif seats.take_seat(session, event, record):
        registration.move_to(Status.CONFIRMED, "adresse confirmée", now)
        mail.queue(session, "confirmed", event, registration)
    else:
        registration.move_to(Status.WAITLISTED, "adresse confirmée, événement complet", now)
        mail.queue(session, "waitlisted", event, registration)


def confirm(event: Event, token: str) -> Registration:
    """The agent followed the link sent to their address: it is theirs, and takes its seat."""
    try:
        public_id = links.public_id_from_confirm_token(token)
    except links.ExpiredLink:
        expire_overdue(event)  # records the expiry
        raise
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        seats.settle(session, event, record, now)  # the waiting list goes first
        registration = _find(session, record, public_id)
        if registration.status in ACTIVE and registration.email_confirmed_at is None:
            _mailbox_proven(session, event, record, registration, now)
    # Raised after the commit, so that the expiry found above is kept.
    if registration.status == Status.EXPIRED:
        raise links.ExpiredLink(links.EXPIRED_CONFIRMATION)
    if registration.status == Status.CANCELLED:
        raise InvalidLink("Cette inscription a été annulée.")
    if registration.status == Status.REFUSED:
        raise InvalidLink("Cette demande d’inscription n’a pas été acceptée.")
    return registration


def cancel(event: Event, token: str) -> Registration:
    """The agent cancels: the seat goes to the first person on the waiting list."""
    public_id = links.public_id_from_manage_token(token)
    with transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        registration = _find(session, record, public_id)
        if registration.status not in ACTIVE:
            return registration
        held_seat = registration.status in SEAT_HOLDING
        registration.move_to(Status.CANCELLED, "annulée par l’agent", now)
        registration.expires_at = None
        mail.queue(session, "cancelled", event, registration)
        if held_seat:
            seats.free_seat(session, record)
            seats.promote_waitlist(session, event, record, now)
        return registration


def expire_overdue(event: Event) -> int:
    """Record the expiry of unconfirmed registrations past their hold time (and move the
    waiting list up). Returns how many expired."""
    with transaction() as session:
        record = seats.lock_event(session, event)
        return seats.settle(session, event, record, clock.now())
