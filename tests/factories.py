"""Factories: plain functions that write rows directly, as flaskr seeds from data.sql.

Each takes the app, works in its own app context, and returns detached rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from registration import accounts, clock, mail
from registration.content import Event
from registration.db import transaction
from registration.extensions import db
from registration.models import (
    SEAT_HOLDING,
    EventRecord,
    OutboxMessage,
    Registration,
    Role,
    Status,
    StatusChange,
    User,
)
from registration.registrations import api as registrations_api
from registration.registrations import seats

PASSWORD = "un mot de passe solide"


def make_record(
    app: Flask,
    event: Event,
    *,
    capacity: int | None = None,
    overridden: bool | None = None,
    taken: int | None = None,
    is_open: bool | None = None,
    notice: str | None = None,
) -> EventRecord:
    """The event's row, created if needed. `capacity` sets an admin's override."""
    with app.app_context(), transaction() as session:
        record = seats.lock_event(session, event)
        if capacity is not None or overridden:
            record.capacity_override = capacity
            record.capacity_overridden = True
        if taken is not None:
            record.seats_taken = taken
        if is_open is not None:
            record.is_open = is_open
        if notice is not None:
            record.public_notice = notice
        session.flush()
        session.expunge(record)
        return record


def make_registration(
    app: Flask,
    event: Event,
    status: Status = Status.CONFIRMED,
    *,
    email: str | None = None,
    created_at: datetime | None = None,
    confirmed: bool | None = None,
    **fields: Any,
) -> Registration:
    """A registration row as the services would leave it. Only a CONFIRMED one holds a seat
    (PENDING waits for its address to be proven); CONFIRMED and WAITLISTED rows have a
    confirmed address unless `confirmed=False` (a legacy unconfirmed waiting-list row)."""
    with app.app_context(), transaction() as session:
        now = clock.now()
        record = seats.lock_event(session, event)
        if confirmed is None:
            confirmed = status in (Status.CONFIRMED, Status.WAITLISTED)
        values: dict[str, Any] = {
            "first_name": "Camille",
            "last_name": "Durand",
            "employer": "DINUM",
            "job_title": "Cheffe de projet",
            "answers": {},
            "accessibility_needs": "",
            "email_confirmed_at": now if confirmed else None,
            "expires_at": None
            if confirmed or status not in (Status.PENDING, Status.WAITLISTED, Status.REVIEW)
            else now + timedelta(hours=app.config["PENDING_HOLD_HOURS"]),
        }
        values.update(fields)
        registration = Registration(
            event_id=record.id,
            email=email or f"agent.{secrets.token_hex(4)}@numerique.gouv.fr",
            status=status,
            created_at=created_at or now,
            updated_at=now,
            **values,
        )
        registration.history.append(StatusChange(status=status, reason="créée par le test", at=now))
        session.add(registration)
        if status in SEAT_HOLDING:
            record.seats_taken += 1
        session.flush()
        session.refresh(registration)
        session.expunge(registration)
        return registration


def make_user(app: Flask, email: str, role: str = "organiser", password: str = PASSWORD) -> User:
    with app.app_context():
        user = accounts.create_user(email, password, Role(role))
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/connexion", data={"email": email, "password": password})


def signed_in_client(app: Flask, email: str, role: str) -> FlaskClient:
    make_user(app, email, role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


# --- Reading what the app wrote ------------------------------------------------------------


def registrations(app: Flask) -> list[Registration]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Registration).order_by(Registration.id)).all()
        db.session.expunge_all()
        return list(rows)


def outbox(app: Flask, kind: str | None = None) -> list[OutboxMessage]:
    """The outbox's rows, each with what the deliverer would send (the outbox keeps a
    message's parameters; it is rendered when sent) in `body_text`, `body_html` and `ics`."""
    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        rows = list(db.session.scalars(query).all())
        db.session.expunge_all()
        for row in rows:
            rendering = mail.rendered(row)
            row.body_text, row.body_html, row.ics = (
                rendering.body_text,
                rendering.body_html,
                rendering.ics,
            )
        return rows


def record_of(app: Flask, event: Event) -> EventRecord:
    with app.app_context():
        row = db.session.scalars(sa.select(EventRecord).where(EventRecord.slug == event.slug)).one()
        db.session.expunge_all()
        return row


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app sends meanwhile."""
    sent: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def set_now(app: Flask, iso: str) -> None:
    app.config["FROZEN_NOW"] = datetime.fromisoformat(iso)


# --- Forms and links -----------------------------------------------------------------------


def form_data(**overrides: Any) -> dict[str, Any]:
    """A valid registration form for the event with questions (its required question too)."""
    data: dict[str, Any] = {
        "first_name": "Camille",
        "last_name": "Durand",
        "email": "camille.durand@numerique.gouv.fr",
        "employer": "DINUM",
        "job_title": "Cheffe de projet",
        "q_atelier": "Logiciels libres",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def registrant(**overrides: Any) -> registrations_api.Registrant:
    """What a valid form gives the registration API (form_data's agent and answer)."""
    values: dict[str, Any] = {
        "email": "camille.durand@numerique.gouv.fr",
        "first_name": "Camille",
        "last_name": "Durand",
        "employer": "DINUM",
        "job_title": "Cheffe de projet",
        "answers": {"atelier": "Logiciels libres"},
    }
    values.update(overrides)
    return registrations_api.Registrant(**values)


def register_url(event: Event) -> str:
    return event.registration_url


def link_from(message: OutboxMessage, marker: str) -> str:
    """The first link in a message's text that contains `marker`, as a path."""
    for word in message.body_text.split():
        if marker in word:
            return urlsplit(word)._replace(scheme="", netloc="").geturl()
    raise AssertionError(f"no link with {marker!r} in {message.body_text!r}")
