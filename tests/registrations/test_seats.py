"""Seats: the event row, its guarded counter, the number of places in force, the waiting
list."""

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

from ..factories import (
    make_record,
    make_registration,
    outbox,
    record_of,
    registrant,
    registrations,
    set_now,
    statements,
)


def lock(app: Flask, event) -> int:
    with app.app_context(), transaction() as session:
        return seats.lock_event(session, event).id


def take_seat(app: Flask, event, *, waiting: bool = False) -> bool:
    with app.app_context(), transaction() as session:
        record_id = seats.event_record(session, event).id
        return seats.take_seat(session, event, record_id, waiting=waiting)


def seat_newcomer(app: Flask, event) -> bool:
    with app.app_context(), transaction() as session:
        record_id = seats.event_record(session, event).id
        return seats.seat_newcomer(session, event, record_id, clock.now())


def dialect(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


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
    selects = [s for s in sent if "FROM events" in s]
    if dialect(app) == "postgresql":
        # FOR NO KEY UPDATE: it serialises the writers of the counter, and never waits for
        # (nor blocks) the INSERT of a registration, whose foreign key only shares the row.
        assert selects and all(s.endswith("FOR NO KEY UPDATE") for s in selects), sent
    else:
        assert "BEGIN IMMEDIATE" in sent, sent  # SQLite serialises writers up front


def test_event_record_reads_without_a_lock_and_creates_the_row_once(app, event):
    with app.app_context(), transaction() as session:
        first = seats.event_record(session, event).id
    with statements(app) as sent, app.app_context(), transaction() as session:
        assert seats.event_record(session, event).id == first
    reads = [s for s in sent if "FROM events" in s]
    assert len(reads) == 1 and " FOR " not in reads[0], sent
    assert not any(s.lstrip().upper().startswith("INSERT") for s in sent), sent


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
        record = seats.event_record(session, event)
        session.execute(  # behind the ORM's back
            sa.update(EventRecord).values(seats_taken=1),
            execution_options={"synchronize_session": False},
        )
        assert record.seats_taken == 0  # the loaded row is stale
        assert seats.take_seat(session, event, record.id) is False
    assert record_of(app, event).seats_taken == 1


def test_take_seat_is_one_guarded_update_returning_the_counter(app, event):
    make_record(app, event, capacity=2)
    with statements(app) as sent, app.app_context(), transaction() as session:
        record_id = seats.event_record(session, event).id
        sent.clear()
        assert seats.take_seat(session, event, record_id) is True
    [update] = [s for s in sent if "events" in s]
    assert update.startswith("UPDATE events SET seats_taken=(events.seats_taken + ")
    assert "events.seats_taken < " in update
    assert update.endswith(("RETURNING events.seats_taken", "RETURNING seats_taken"))
    assert "NOT (EXISTS" in update  # a newcomer never passes the waiting list


def test_take_seat_leaves_a_newcomer_behind_the_waiting_list(app, event):
    make_record(app, event, capacity=3, taken=1)
    make_registration(app, event, Status.WAITLISTED)
    assert take_seat(app, event) is False  # someone waits: not for a newcomer
    assert take_seat(app, event, waiting=True) is True  # for the one who waits
    assert record_of(app, event).seats_taken == 2


def test_an_unconfirmed_legacy_waiting_row_keeps_no_one_from_a_seat(app, event):
    make_record(app, event, capacity=3, taken=1)
    make_registration(app, event, Status.WAITLISTED, confirmed=False)
    assert take_seat(app, event) is True


# --- seat_newcomer --------------------------------------------------------------------------


def test_seat_newcomer_on_a_full_event_takes_no_lock(app, event):
    make_record(app, event, capacity=2, taken=2)
    make_registration(app, event, Status.WAITLISTED)
    with statements(app) as sent:
        assert seat_newcomer(app, event) is False
    assert not any(" FOR " in s for s in sent), sent
    assert record_of(app, event).seats_taken == 2
    assert outbox(app) == []


def test_seat_newcomer_moves_the_waiting_list_up_first(app, event):
    """The content file raised its places while agents waited: they go first, in order,
    and the newcomer gets what is left."""
    one_place = dataclasses.replace(event, capacity=1)
    make_registration(app, one_place, Status.CONFIRMED)
    waiting = make_registration(app, one_place, Status.WAITLISTED)
    three_places = dataclasses.replace(event, capacity=3)
    assert seat_newcomer(app, three_places) is True
    assert {r.id: r.status for r in registrations(app)}[waiting.id] == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 3
    assert [m.recipient for m in outbox(app, "promoted")] == [waiting.email]


def test_seat_newcomer_finds_no_seat_left_once_the_list_moved_up(app, event):
    one_place = dataclasses.replace(event, capacity=1)
    make_registration(app, one_place, Status.CONFIRMED)
    waiting = make_registration(app, one_place, Status.WAITLISTED)
    two_places = dataclasses.replace(event, capacity=2)
    assert seat_newcomer(app, two_places) is False
    assert {r.id: r.status for r in registrations(app)}[waiting.id] == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 2


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
        assert api.register(smaller, registrant(email="a@numerique.gouv.fr")).full is False
    assert confirm(app, smaller, "a@numerique.gouv.fr") == Status.CONFIRMED
    with app.app_context():
        assert api.register(smaller, registrant(email="b@numerique.gouv.fr")).full is True
        assert api.register(event, registrant(email="c@numerique.gouv.fr")).full is False
    assert confirm(app, smaller, "b@numerique.gouv.fr") == Status.WAITLISTED
    assert confirm(app, event, "c@numerique.gouv.fr") == Status.CONFIRMED


# --- The waiting list and expiry, without a request --------------------------------------


def test_the_expiry_job_moves_the_waiting_list_up_when_the_file_raised_the_places(app, event):
    one_place = dataclasses.replace(event, capacity=1)
    make_registration(app, one_place, Status.CONFIRMED)
    waiting = make_registration(app, one_place, Status.WAITLISTED)
    two_places = dataclasses.replace(event, capacity=2)
    with app.app_context():
        assert api.expire_overdue(two_places) == 0
    assert {r.id: r.status for r in registrations(app)}[waiting.id] == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 2
    assert [m.recipient for m in outbox(app, "promoted")] == [waiting.email]


def test_the_waiting_list_goes_before_a_newcomer_when_the_file_raised_the_places(app, event):
    one_place = dataclasses.replace(event, capacity=1)
    make_registration(app, one_place, Status.CONFIRMED)
    waiting = make_registration(app, one_place, Status.WAITLISTED)
    two_places = dataclasses.replace(event, capacity=2)
    with app.app_context():
        outcome = api.register(two_places, registrant(email="newcomer@numerique.gouv.fr"))
    assert outcome.full is True  # the free seat is the waiting agent's
    statuses = {r.email: r.status for r in registrations(app)}
    assert statuses[waiting.email] == Status.WAITLISTED  # registering writes no seat
    assert statuses["newcomer@numerique.gouv.fr"] == Status.PENDING
    assert confirm(app, two_places, "newcomer@numerique.gouv.fr") == Status.WAITLISTED
    statuses = {r.email: r.status for r in registrations(app)}
    assert statuses[waiting.email] == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 2
    assert [m.recipient for m in outbox(app, "promoted")] == [waiting.email]


def test_the_expiry_job_expires_overdue_registrations_and_promotes_in_order(app, event):
    now = app.config["FROZEN_NOW"]
    one_place = dataclasses.replace(event, capacity=0)
    overdue = make_registration(app, one_place, Status.PENDING)
    later = make_registration(app, one_place, Status.WAITLISTED, created_at=now)
    earlier = make_registration(
        app, one_place, Status.WAITLISTED, created_at=now - timedelta(minutes=1)
    )
    set_now(app, "2023-05-21T10:00:01+02:00")
    with app.app_context():
        assert api.expire_overdue(dataclasses.replace(event, capacity=1)) == 1
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses == {
        overdue.id: Status.EXPIRED,
        earlier.id: Status.CONFIRMED,
        later.id: Status.WAITLISTED,
    }
    assert record_of(app, event).seats_taken == 1


def test_the_expiry_job_with_nothing_to_do_changes_nothing_and_locks_nothing(app, event):
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)
    with statements(app) as sent, app.app_context():
        assert api.expire_overdue(event) == 0
    assert not any(" FOR NO KEY UPDATE" in s or s.startswith("UPDATE") for s in sent), sent
    assert record_of(app, event).seats_taken == 1
    assert outbox(app) == []
