"""Reads for the Accueil page and the dashboard: a registration at the door, the search by
name, the arrivals counted from the (event, checked_in_at) index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from ..backoffice import queries as backoffice
from ..content import Event
from ..extensions import db
from ..models import AsShown, EventRecord, Registration, Status, User

SEARCH_LIMIT = 20
# What the door needs to know of a registration; `checked_in_by` as the account's e-mail.
AT_THE_DOOR = (
    Registration.public_id,
    Registration.first_name,
    Registration.last_name,
    Registration.employer,
    Registration.status,
    Registration.email_confirmed_at,
    Registration.expires_at,
    Registration.checked_in_at,
    User.email.label("checked_in_by"),
)


@dataclass(frozen=True)
class AtTheDoor(AsShown):
    """A registration as the Accueil page shows it."""

    public_id: str
    first_name: str
    last_name: str
    employer: str
    status: Status
    email_confirmed_at: datetime | None
    expires_at: datetime | None
    checked_in_at: datetime | None
    checked_in_by: str | None

    @classmethod
    def of(cls, row: Any) -> AtTheDoor:
        return cls(**row._asdict())


def event_id_of(slug: str) -> ScalarSelect[int]:
    """The event's row id, as a subquery."""
    return select(EventRecord.id).where(EventRecord.slug == slug).scalar_subquery()


def at_the_door(session: Session, event: Event, public_id: str) -> AtTheDoor | None:
    """The registration of this event with this public id, as the door sees it."""
    row = session.execute(
        select(*AT_THE_DOOR)
        .outerjoin(User, User.id == Registration.checked_in_by)
        .where(
            Registration.event_id == event_id_of(event.slug), Registration.public_id == public_id
        )
    ).first()
    return AtTheDoor.of(row) if row is not None else None


def search(event: Event, text: str) -> list[AtTheDoor]:
    """Registrations whose name, address or administration contains `text`, by name: for
    whoever comes without their code."""
    filters = backoffice.Filters.from_args({"q": text})
    if not filters.search:
        return []
    matching = backoffice.search(event, filters).subquery()
    rows = db.session.execute(
        select(*AT_THE_DOOR)
        .join(matching, matching.c.id == Registration.id)
        .outerjoin(User, User.id == Registration.checked_in_by)
        .order_by(Registration.last_name, Registration.first_name, Registration.id)
        .limit(SEARCH_LIMIT)
    )
    return [AtTheDoor.of(row) for row in rows]


@dataclass(frozen=True)
class Arrivals:
    """Who has arrived, against the confirmed registrations."""

    arrived: int
    confirmed: int

    @property
    def share(self) -> int:
        """Percentage of the confirmed registrations that have arrived, rounded down."""
        return min(100, 100 * self.arrived // self.confirmed) if self.confirmed else 0

    def as_json(self) -> dict[str, int]:
        return {"arrived": self.arrived, "confirmed": self.confirmed, "share": self.share}


def arrivals(event: Event, confirmed: int | None = None) -> Arrivals:
    """Arrivals among the confirmed registrations, against those: someone who arrived, then
    cancelled, no longer counts. The arrivals read the partial (event, checked in) index and
    their rows' status; the confirmed ones, the (event, status) index, or are taken as given
    where the caller counted them already (the dashboard)."""
    attendees = Registration.__table__.c
    event_id = event_id_of(event.slug)
    arrived = (
        select(func.count())
        .where(
            attendees.event_id == event_id,
            attendees.checked_in_at.is_not(None),
            attendees.status == Status.CONFIRMED,
        )
        .scalar_subquery()
    )
    if confirmed is not None:
        return Arrivals(arrived=db.session.scalar(select(arrived)) or 0, confirmed=confirmed)
    counted = (
        select(func.count())
        .where(attendees.event_id == event_id, attendees.status == Status.CONFIRMED)
        .scalar_subquery()
    )
    row = db.session.execute(select(arrived, counted)).one()
    return Arrivals(arrived=row[0], confirmed=row[1])
