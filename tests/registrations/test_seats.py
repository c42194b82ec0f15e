"""Seats: the event row, its guarded counter, the number of places in force, settling."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from registration import clock, links
from registration.db import transaction
from registration.extensions import db
from registration.models import EventRecord, Status
from registration.registrations import api, seats
from registration.registrations.seats import Capacity

from ..factories import make_record, make_registration, outbox, record_of, registrations, statements


def lock(app: Flask, event) -> int:
    with app.app_context(), transaction() as session:
        return seats.lock_event(session, event).id


def take_seat(app: Flask, event) -> bool:
    with app.app_context(), transaction() as session:
        record = seats.lock_event(session, event)
        return seats.take_seat(session, event, record)


def registrant(email: str) -> api.Registrant:
    return api.Registrant(
        email=email,
        first_name="Camille",
        last_name="Durand",
        employer="DINUM",
        job_title="Cheffe de projet",
        answers={"atelier": "Logiciels libres"},
    )


# --- lock_event -----------------------------------------------------------------------------


def test_lock_event_creates_the_row_on_first_use(app, event):
    with app.app_context():
        assert db.session.scalars(sa.select(EventRecord)).all() == []
    lock(app, event)
    record = record_of(app, event)
    assert (record.slug, record.seats_taken, record.is_open) == (event.slug, 0, True)
    assert (record.capacity_override, record.capacity_overridden) == (None, False)
    assert record.updated_at == app.config["FROZEN_NOW"]


def test_lock_event_creates_the_row_once(app, event):
    first = lock(app, event)
    assert lock(app, event) == first
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EventRecord)) == 1


def test_lock_event_does_not_insert_when_the_row_exists(app, event, plain_event):
    lock(app, event)
    with statements(app) as sent:
        lock(app, event)
        lock(app, event)
    assert sent, "the listener saw nothing"
    assert not any(s.lstrip().upper().startswith("INSERT") for s in sent), sent
    # No sequence value was used up either: the next event's row comes next.
    assert lock(app, plain_event) == 2


def test_lock_event_takes_the_write_lock(app, event):
    lock(app, event)
    with statements(app) as sent:
        lock(app, event)
    with app.app_context():
        dialect = db.engine.dialect.name
    selects = [s for s in sent if "FROM events" in s]
    if dialect == "postgresql":
        assert selects and all("FOR UPDATE" in s for s in selects), sent
    else:
        assert "BEGIN IMMEDIATE" in sent, sent  # SQLite serialises writers up front


# --- take_seat ------------------------------------------------------------------------------


def test_take_seat_takes_the_last_seat_then_refuses(app, event):
    make_record(app, event, capacity=2, taken=1)
    assert take_seat(app, event) is True
    assert record_of(app, event).seats_taken == 2
    assert take_seat(app, event) is False
    assert record_of(app, event).seats_taken == 2


def test_take_seat_guards_the_file_places(app, event):
    make_record(app, event, taken=event.capacity - 1)
    assert take_seat(app, event) is True
    assert take_seat(app, event) is False
    assert record_of(app, event).seats_taken == event.capacity == 100


def test_take_seat_has_no_limit_without_places(app, plain_event):
    make_record(app, plain_event, taken=1_000_000)
    assert take_seat(app, plain_event) is True
    assert record_of(app, plain_event).seats_taken == 1_000_001


def test_take_seat_refuses_when_the_counter_is_past_the_places(app, event):
    """An admin lowered the places below the seats taken, in the database directly."""
    make_record(app, event, capacity=3, taken=5)
    assert take_seat(app, event) is False
    assert record_of(app, event).seats_taken == 5


def test_take_seat_checks_the_database_not_the_loaded_row(app, event):
    """The guard is in the UPDATE: a stale in-memory counter cannot oversell."""
    make_record(app, event, capacity=1)
    with app.app_context(), transaction() as session:
        record = seats.lock_event(session, event)
        session.execute(  # behind the ORM's back
            sa.update(EventRecord).values(seats_taken=1),
            execution_options={"synchronize_session": False},
        )
        assert record.seats_taken == 0  # the loaded row is stale
        assert seats.take_seat(session, event, record) is False
        assert record.seats_taken == 1  # and refreshed
    assert record_of(app, event).seats_taken == 1


# --- capacity_in_force ----------------------------------------------------------------------


def test_the_file_places_are_in_force_before_any_row(event, plain_event):
    assert seats.capacity_in_force(event, None) == Capacity(100, set_by_admin=False)
    assert seats.capacity_in_force(plain_event, None) == Capacity(None, set_by_admin=False)


def test_the_file_places_are_in_force_until_an_admin_sets_a_number(app, event):
    record = make_record(app, event, taken=3)
    assert seats.capacity_in_force(event, record) == Capacity(100, set_by_admin=False)


def test_an_admin_override_replaces_the_file_places(app, event, plain_event):
    assert seats.capacity_in_force(event, make_record(app, event, capacity=5)) == Capacity(
        5, set_by_admin=True
    )
    assert seats.capacity_in_force(
        plain_event, make_record(app, plain_event, capacity=20)
    ) == Capacity(20, set_by_admin=True)


def test_an_admin_may_override_to_unlimited(app, event):
    record = make_record(app, event, capacity=None, overridden=True, taken=event.capacity)
    assert seats.capacity_in_force(event, record) == Capacity(None, set_by_admin=True)
    assert take_seat(app, event) is True  # past the file's 100
    assert record_of(app, event).seats_taken == 101


def test_an_override_of_zero_closes_every_seat(app, event):
    record = make_record(app, event, capacity=0)
    assert seats.capacity_in_force(event, record) == Capacity(0, set_by_admin=True)
    assert take_seat(app, event) is False


def test_seats_left_never_goes_below_zero():
    assert Capacity(3, False).seats_left(1) == 2
    assert Capacity(3, False).seats_left(5) == 0
    assert Capacity(None, False).seats_left(5) is None


# --- The content file edited ----------------------------------------------------------------


def test_editing_the_file_places_takes_effect_when_not_overridden(app, event):
    make_record(app, event, taken=2)
    lowered = dataclasses.replace(event, capacity=2)
    assert seats.capacity_in_force(lowered, record_of(app, event)) == Capacity(2, False)
    assert take_seat(app, lowered) is False
    raised = dataclasses.replace(event, capacity=3)
    assert take_seat(app, raised) is True
    assert record_of(app, event).seats_taken == 3


def test_editing_the_file_places_is_ignored_once_an_admin_set_a_number(app, event):
    make_record(app, event, capacity=10, taken=2)
    lowered = dataclasses.replace(event, capacity=2)
    assert seats.capacity_in_force(lowered, record_of(app, event)) == Capacity(10, True)
    assert take_seat(app, lowered) is True


def confirm(app: Flask, event, email: str) -> Status:
    [registration] = [r for r in registrations(app) if r.email == email]
    with app.app_context():
        return api.confirm(event, links.confirm_token(registration)).status


def test_registering_follows_the_edited_file(app, event):
    smaller = dataclasses.replace(event, capacity=1)
    with app.app_context():
        assert api.register(smaller, registrant("a@numerique.gouv.fr")).full is False
    assert confirm(app, smaller, "a@numerique.gouv.fr") == Status.CONFIRMED
    with app.app_context():
        assert api.register(smaller, registrant("b@numerique.gouv.fr")).full is True
        assert api.register(event, registrant("c@numerique.gouv.fr")).full is False
    assert confirm(app, smaller, "b@numerique.gouv.fr") == Status.WAITLISTED
    assert confirm(app, event, "c@numerique.gouv.fr") == Status.CONFIRMED


# --- settle ---------------------------------------------------------------------------------


def test_settle_promotes_the_waiting_list_when_the_file_raised_the_places(app, event):
    one_place = dataclasses.replace(event, capacity=1)
    make_registration(app, one_place, Status.CONFIRMED)
    waiting = make_registration(app, one_place, Status.WAITLISTED, confirmed=True)
    two_places = dataclasses.replace(event, capacity=2)
    with app.app_context(), transaction() as session:
        record = seats.lock_event(session, two_places)
        assert seats.settle(session, two_places, record, clock.now()) == 0
    assert {r.id: r.status for r in registrations(app)}[waiting.id] == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 2
    assert [m.recipient for m in outbox(app, "promoted")] == [waiting.email]


def test_the_waiting_list_goes_before_a_newcomer_when_the_file_raised_the_places(app, event):
    one_place = dataclasses.replace(event, capacity=1)
    make_registration(app, one_place, Status.CONFIRMED)
    waiting = make_registration(app, one_place, Status.WAITLISTED)
    two_places = dataclasses.replace(event, capacity=2)
    with app.app_context():
        outcome = api.register(two_places, registrant("newcomer@numerique.gouv.fr"))
    assert outcome.full is True
    statuses = {r.email: r.status for r in registrations(app)}
    assert statuses[waiting.email] == Status.CONFIRMED
    assert statuses["newcomer@numerique.gouv.fr"] == Status.PENDING
    assert record_of(app, event).seats_taken == 2
    assert [m.recipient for m in outbox(app, "promoted")] == [waiting.email]
    assert confirm(app, two_places, "newcomer@numerique.gouv.fr") == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 2


def test_settle_expires_overdue_registrations_and_promotes_in_order(app, event):
    now = app.config["FROZEN_NOW"]
    make_record(app, event, capacity=1)
    overdue = make_registration(app, event, Status.PENDING)
    later = make_registration(app, event, Status.WAITLISTED, confirmed=True, created_at=now)
    earlier = make_registration(
        app, event, Status.WAITLISTED, confirmed=True, created_at=now - timedelta(minutes=1)
    )
    with app.app_context(), transaction() as session:
        record = seats.lock_event(session, event)
        assert seats.settle(session, event, record, now + timedelta(hours=25)) == 1
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses == {
        overdue.id: Status.EXPIRED,
        earlier.id: Status.CONFIRMED,
        later.id: Status.WAITLISTED,
    }
    assert record_of(app, event).seats_taken == 1


def test_settle_with_nothing_to_do_changes_nothing(app, event):
    make_registration(app, event, Status.CONFIRMED)
    with app.app_context(), transaction() as session:
        record = seats.lock_event(session, event)
        assert seats.settle(session, event, record, clock.now()) == 0
    assert record_of(app, event).seats_taken == 1
    assert outbox(app) == []
