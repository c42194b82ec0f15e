"""register_with_proconnect: a public agent ProConnect identified is registered at once,
their address verified by the federation: a seat or the waiting list, no confirmation link."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from registration.content import Event
from registration.extensions import db
from registration.models import Status, StatusChange
from registration.registrations import api
from registration.registrations.exceptions import RegistrationClosed

from .. import factories
from ..factories import make_record, make_registration, outbox, record_of, registrations

EMAIL = "camille.durand@test.proconnect.gouv.fr"  # on no domain list: ProConnect's roles vouch


def registrant(**overrides: Any) -> api.Registrant:
    values = {"email": EMAIL, "employer": "Direction interministérielle du numérique"}
    return factories.registrant(**{**values, **overrides})


def register(app: Flask, event: Event, **overrides: Any) -> api.Confirmation:
    with app.app_context():
        return api.register_with_proconnect(event, registrant(**overrides))


def test_confirmed_at_once_with_a_seat_and_the_confirmed_email(app, event):
    confirmation = register(app, event)
    assert confirmation.status == Status.CONFIRMED
    [registration] = registrations(app)
    assert registration.public_id == confirmation.public_id
    assert registration.via_proconnect and registration.email_confirmed_at is not None
    assert registration.expires_at is None
    with app.app_context():
        changes = db.session.scalars(select(StatusChange.reason)).all()
    assert changes == ["inscription avec ProConnect"]
    assert record_of(app, event).seats_taken == 1
    assert [m.kind for m in outbox(app)] == ["confirmed"]


def test_a_full_event_waitlists_with_the_waitlisted_email(app, event):
    make_record(app, event, capacity=0)
    assert register(app, event).status == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 0
    assert [m.kind for m in outbox(app)] == ["waitlisted"]


def test_a_closed_event_refuses_and_stores_nothing(app, event):
    make_record(app, event, is_open=False)
    with pytest.raises(RegistrationClosed):
        register(app, event)
    assert registrations(app) == [] and outbox(app) == []


@pytest.mark.parametrize("status", [Status.CONFIRMED, Status.WAITLISTED])
def test_a_proven_registration_is_left_as_it_is(app, event, status):
    existing = make_registration(app, event, status, email=EMAIL)
    confirmation = register(app, event, first_name="Autre")
    assert (confirmation.public_id, confirmation.status) == (existing.public_id, status)
    assert confirmation.already
    [registration] = registrations(app)
    assert registration.first_name == "Camille" and not registration.via_proconnect
    assert outbox(app) == []


@pytest.mark.parametrize(
    ("status", "address_confirmed"),
    [
        (Status.PENDING, False),
        (Status.REVIEW, False),
        # Confirmed its address, then waited for an organiser: ProConnect's roles decide now.
        (Status.REVIEW, True),
    ],
    ids=["pending", "review", "review-address-confirmed"],
)
def test_an_unproven_registration_is_seated_now(app, event, status, address_confirmed):
    existing = make_registration(app, event, status, email=EMAIL, confirmed=address_confirmed)
    confirmation = register(app, event)
    assert (confirmation.public_id, confirmation.status) == (existing.public_id, Status.CONFIRMED)
    assert not confirmation.already
    [registration] = registrations(app)
    assert registration.status == Status.CONFIRMED
    assert registration.via_proconnect and registration.expires_at is None
    assert record_of(app, event).seats_taken == 1
    assert [m.kind for m in outbox(app)] == ["confirmed"]


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.EXPIRED, Status.REFUSED])
def test_an_ended_registration_starts_again(app, event, status):
    existing = make_registration(app, event, status, email=EMAIL)
    confirmation = register(app, event, email="Camille.Durand+atelier@test.proconnect.gouv.fr")
    assert (confirmation.public_id, confirmation.status) == (existing.public_id, Status.CONFIRMED)
    [registration] = registrations(app)
    assert registration.status == Status.CONFIRMED and registration.via_proconnect
