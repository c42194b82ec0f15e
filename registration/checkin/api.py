"""Arrivals at the door. Each check-in and each undo runs in one transaction with its
audit-log entry.

An arrival is recorded by one guarded UPDATE (`checked_in_at IS NULL AND status =
confirmed`) whose RETURNING says whether this request recorded it: two doors scanning the
same code at once record one arrival; the other reads the row and answers « déjà
enregistré ». Sending the same scan again (a phone back online) is harmless for the same
reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from .. import clock, content
from ..backoffice.api import audit
from ..content import Event
from ..dates import PARIS, time_fr
from ..db import transaction
from ..models import Registration, Status, User
from ..registrations.exceptions import RegistrationError
from . import codes, queries

# A scan kept on a phone without network keeps its own time, unless it is implausible.
OFFLINE_MAX_AGE = timedelta(hours=24)
LET_IN = "Laissez entrer la personne."
SEND_TO_DESK = "Ne pas enregistrer : orientez la personne vers l’équipe organisatrice."
REFUSALS = {
    Status.PENDING: (
        "Inscription non confirmée",
        "L’adresse e-mail n’a jamais été confirmée : aucune place n’est réservée.",
    ),
    Status.WAITLISTED: (
        "Sur liste d’attente",
        "Aucune place ne lui a été attribuée.",
    ),
    Status.CANCELLED: ("Inscription annulée", "Cette inscription a été annulée."),
    Status.EXPIRED: (
        "Inscription expirée",
        "L’adresse e-mail n’a pas été confirmée à temps : l’inscription a expiré.",
    ),
    Status.REVIEW: (
        "Demande en cours de vérification",
        "L’équipe organisatrice n’a pas encore accepté cette demande d’inscription.",
    ),
    Status.REFUSED: (
        "Demande refusée",
        "L’équipe organisatrice a refusé cette demande d’inscription.",
    ),
}


class Outcome(enum.StrEnum):
    ARRIVED = "arrived"  # recorded now: green
    ALREADY = "already"  # recorded earlier: red, with when and by whom
    REFUSED = "refused"  # no arrival to record: red, with the reason


@dataclass(frozen=True)
class Answer:
    """What the door sees after a scan: large, green or red."""

    outcome: Outcome
    title: str
    message: str
    advice: str
    registration: queries.AtTheDoor | None = None
    # The registration's status as the door judged it (an overdue pending reads expired).
    status: Status | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ARRIVED

    def as_json(self) -> dict[str, Any]:
        found = self.registration
        return {
            "outcome": self.outcome.value,
            "ok": self.ok,
            "title": self.title,
            "message": self.message,
            "advice": self.advice,
            "public_id": found.public_id if found else None,
            "name": found.full_name if found else "",
            "employer": found.employer if found else "",
            "status": self.status.label if self.status else "",
            "checked_in": bool(found and found.checked_in_at),
        }


class NothingToUndo(RegistrationError):
    """The registration has no arrival to undo (never recorded, or undone already)."""


def _refused(
    title: str, message: str, found: queries.AtTheDoor | None = None, status: Status | None = None
) -> Answer:
    return Answer(Outcome.REFUSED, title, message, SEND_TO_DESK, found, status)


def when_fr(moment: datetime, now: datetime) -> str:
    """« à 14h03 » today (in Paris), « le 12/05 à 14h03 » another day."""
    local, today = moment.astimezone(PARIS), now.astimezone(PARIS)
    if local.date() == today.date():
        return f"à {time_fr(moment)}"
    return f"le {local:%d/%m} à {time_fr(moment)}"


def _already(found: queries.AtTheDoor, now: datetime) -> Answer:
    assert found.checked_in_at is not None
    by = f" par {found.checked_in_by}" if found.checked_in_by else ""
    return Answer(
        Outcome.ALREADY,
        "Déjà enregistré",
        f"Déjà enregistré {when_fr(found.checked_in_at, now)}{by}.",
        "Ce code a déjà servi : vérifiez l’identité de la personne.",
        found,
        Status.CONFIRMED,
    )


def _arrival_time(scanned_at: datetime | None, now: datetime) -> datetime:
    """The scan's own time (kept on the phone while offline), if plausible; now otherwise."""
    if scanned_at is None or scanned_at.tzinfo is None:
        return now
    if now - OFFLINE_MAX_AGE <= scanned_at <= now:
        return scanned_at
    return now


def unknown_code() -> Answer:
    """The answer to a code this service did not sign (forged, damaged, another QR code)."""
    return _refused(
        "Code non reconnu",
        "Ce code n’a pas été émis par ce service : il est faux ou abîmé.",
    )


def check_in_code(
    event: Event, code: str, user: User, scanned_at: datetime | None = None
) -> Answer:
    """Record the arrival that a scanned code names; red answers say why not."""
    try:
        public_id, slug = codes.read_code(code)
    except codes.InvalidCode:
        return unknown_code()
    if slug != event.slug:
        other = content.current_site(current_app.config["CONTENT_DIR"]).event(slug)
        title = other.title if other is not None else slug
        return _refused(
            "Code d’un autre événement",
            f"Ce code est celui d’une inscription à un autre événement : « {title} ».",
        )
    return check_in(event, public_id, user, scanned_at)


def check_in(
    event: Event, public_id: str, user: User, scanned_at: datetime | None = None
) -> Answer:
    """Record the arrival of a registration of this event (a scan, or the search by name)."""
    with transaction() as session:
        now = clock.now()
        recorded = _at_the_door(
            session,
            event,
            public_id,
            (Registration.checked_in_at.is_(None), Registration.status == Status.CONFIRMED),
            checked_in_at=_arrival_time(scanned_at, now),
            checked_in_by=user.id,
        )
        if recorded is not None:
            audit(session, user.email, "checkin", event.slug, recorded)
        found = queries.at_the_door(session, event, public_id)
    if found is None:
        return _refused(
            "Inscription introuvable",
            "Aucune inscription à cet événement ne correspond : elle a peut-être été supprimée.",
        )
    if recorded is not None:
        return Answer(
            Outcome.ARRIVED,
            "Bienvenue",
            f"Arrivée enregistrée {when_fr(found.checked_in_at or now, now)}.",
            LET_IN,
            found,
            Status.CONFIRMED,
        )
    # The status first: an arrival recorded before a cancellation does not let anyone in.
    status = found.status_at(now)
    if status != Status.CONFIRMED:
        title, message = REFUSALS.get(
            status, ("Pas de place réservée", "Cette inscription n’a pas de place.")
        )
        return _refused(title, message, found, status)
    if found.checked_in_at is not None:
        return _already(found, now)
    # Confirmed, not arrived, yet not recorded: an undo at another door came in between.
    return _refused(
        "Scannez à nouveau",
        "L’inscription a changé pendant l’enregistrement : scannez le code à nouveau.",
        found,
        status,
    )


def undo(event: Event, public_id: str, user: User) -> queries.AtTheDoor:
    """Clear a recorded arrival (a mistake at the door); NothingToUndo if there is none."""
    with transaction() as session:
        undone = _at_the_door(
            session,
            event,
            public_id,
            (Registration.checked_in_at.is_not(None),),
            checked_in_at=None,
            checked_in_by=None,
        )
        if undone is None:
            raise NothingToUndo("Aucune arrivée à annuler pour cette inscription.")
        audit(session, user.email, "checkin-undo", event.slug, undone)
        found = queries.at_the_door(session, event, public_id)
    assert found is not None
    return found


def _at_the_door(
    session: Session,
    event: Event,
    public_id: str,
    only_if: tuple[ColumnElement[bool], ...],
    **values: Any,
) -> str | None:
    """One guarded UPDATE of a registration of this event, made only where `only_if` holds
    (two doors, one code: one of them wins): who it was, for the audit log, or None when
    nothing matched."""
    row = session.execute(
        update(Registration)
        .where(
            Registration.event_id == queries.event_id_of(event.slug),
            Registration.public_id == public_id,
            *only_if,
        )
        .values(**values)
        .returning(Registration.first_name, Registration.last_name, Registration.email)
    ).first()
    return None if row is None else f"{row.first_name} {row.last_name} ({row.email})"
