"""Reads for the public pages: they never write, and say what the next write would record."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from registration import links
from registration.extensions import db
from registration.models import EventRecord, Registration, Status
from registration.registrations import api, queries
from registration.registrations.exceptions import InvalidLink

from ..factories import (
    make_record,
    make_registration,
    record_of,
    registrations,
    set_now,
    statements,
)

AFTER_HOLD = "2023-05-21T11:00:00+02:00"  # 25 h after the frozen clock
OPEN_UNTIL = "Inscriptions ouvertes jusqu’au lundi 12 juin 2023 à 18h00"


def availability(app: Flask, event):
    with app.app_context():
        return queries.availability(event)


def snapshot(app: Flask, event) -> tuple[list[tuple[int, Status]], int, int]:
    """What a read must leave as it found: the rows, their statuses, the counter."""
    with app.app_context():
        history = db.session.scalar(sa.text("SELECT count(*) FROM attendee_status_changes"))
    rows = [(r.id, r.status) for r in registrations(app)]
    return rows, record_of(app, event).seats_taken, history


def assert_read_only(sent: list[str]) -> None:
    writes = [s for s in sent if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert not writes, writes
    assert not any("FOR UPDATE" in s for s in sent), sent


# --- find_record ----------------------------------------------------------------------------


def test_find_record_is_none_before_the_first_registration_and_creates_nothing(app, event):
    with app.app_context():
        assert queries.find_record(event) is None
        assert db.session.scalars(sa.select(EventRecord)).all() == []


def test_find_record_finds_the_events_row(app, event, plain_event):
    make_record(app, plain_event)
    made = make_record(app, event, taken=4)
    with app.app_context():
        found = queries.find_record(event)
        assert found is not None and (found.id, found.seats_taken) == (made.id, 4)


# --- availability ---------------------------------------------------------------------------


def test_availability_before_any_row_is_the_file_places_and_writes_nothing(app, event, plain_event):
    with statements(app) as sent:
        assert availability(app, event).seats_left == 100
        state = availability(app, plain_event)
    assert (state.is_open, state.message, state.seats_left) == (True, plain_event_open(), None)
    assert_read_only(sent)
    with app.app_context():
        assert db.session.scalars(sa.select(EventRecord)).all() == []


def plain_event_open() -> str:
    return "Inscriptions ouvertes jusqu’au vendredi 15 septembre 2023 à 12h00"


def test_availability_counts_the_seats_taken(app, event):
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)  # no seat until the address is confirmed
    make_registration(app, event, Status.CANCELLED)
    state = availability(app, event)
    assert (state.is_open, state.message, state.seats_left) == (True, OPEN_UNTIL, 98)


def test_availability_uses_the_admin_override(app, event):
    make_record(app, event, capacity=2)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.CONFIRMED)
    assert availability(app, event).full


def test_availability_says_closed_with_the_notice(app, event):
    make_record(app, event, is_open=False, notice="Salle comble.")
    state = availability(app, event)
    assert not state.is_open
    assert state.message == "Les inscriptions sont fermées."
    assert state.notice == "Salle comble."


def test_availability_says_closed_after_the_deadline(app, event):
    set_now(app, "2023-06-12T18:00:00+02:00")
    state = availability(app, event)
    assert not state.is_open
    assert state.message == "Les inscriptions sont closes depuis le lundi 12 juin 2023 à 18h00."


def test_pending_registrations_hold_no_seat_before_or_after_their_expiry(app, event):
    make_record(app, event, capacity=2)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)  # will be overdue
    assert availability(app, event).seats_left == 1
    set_now(app, AFTER_HOLD)
    before = snapshot(app, event)
    with statements(app) as sent:
        state = availability(app, event)
    assert state.seats_left == 1 and not state.full
    assert_read_only(sent)
    assert snapshot(app, event) == before
    assert [r.status for r in registrations(app)] == [Status.CONFIRMED, Status.PENDING]
    assert record_of(app, event).seats_taken == 1
    # ...and the next write, which records the expiry, frees nothing either.
    with app.app_context():
        assert api.expire_overdue(event) == 1
    assert availability(app, event).seats_left == 1
    assert record_of(app, event).seats_taken == 1


def test_the_waiting_list_goes_first_without_writing(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)  # will be overdue
    make_registration(app, event, Status.WAITLISTED)  # confirmed: stays on the list
    # a row from before seats waited for the address: will be overdue, not waiting anymore
    make_registration(app, event, Status.WAITLISTED, confirmed=False)
    make_record(app, event, capacity=2)  # a place more, not given yet
    set_now(app, AFTER_HOLD)
    before = snapshot(app, event)
    with statements(app) as sent:
        state = availability(app, event)
    assert state.seats_left == 0 and state.full
    assert_read_only(sent)
    assert snapshot(app, event) == before
    assert len(registrations(app)) == 4
    assert record_of(app, event).seats_taken == 1
    # ...and it is what the next write records.
    with app.app_context():
        assert api.expire_overdue(event) == 2
    assert [r.status for r in registrations(app)] == [
        Status.CONFIRMED,
        Status.EXPIRED,
        Status.CONFIRMED,
        Status.EXPIRED,
    ]
    assert availability(app, event).full


def test_a_fresh_waiting_list_counts_while_seats_are_free(app, event):
    """Seats freed (the number was raised) go to the list first, even before the write;
    only confirmed addresses are on the list."""
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.WAITLISTED)
    make_registration(app, event, Status.WAITLISTED, confirmed=False)  # not counted
    make_registration(app, event, Status.PENDING)  # not counted
    make_record(app, event, capacity=3)
    assert availability(app, event).seats_left == 1


def test_availability_reads_the_event_row_once_without_locking_it(app, event):
    make_registration(app, event, Status.CONFIRMED)
    with statements(app) as sent:
        availability(app, event)
    assert_read_only(sent)
    assert sum("FROM events" in s for s in sent) == 1, sent


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_read_does_not_take_sqlites_write_lock(app, event):
    """queries.py: "They never write, so they never take SQLite's write lock." On SQLite,
    BEGIN IMMEDIATE takes that lock; a page view should begin a deferred transaction."""
    make_registration(app, event, Status.CONFIRMED)
    with statements(app) as sent:
        availability(app, event)
    assert not [s for s in sent if "IMMEDIATE" in s.upper()], sent


# --- registration_for_link ------------------------------------------------------------------


def manage_token(app: Flask, registration: Registration) -> str:
    with app.app_context():
        return links.manage_token(registration)


def test_registration_for_link_finds_the_registration(app, event):
    made = make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.CONFIRMED)
    token = manage_token(app, made)
    with app.app_context():
        found = queries.registration_for_link(event, token)
        assert (found.id, found.email) == (made.id, made.email)


def test_registration_for_link_is_read_only_and_an_overdue_one_reads_expired(app, event):
    made = make_registration(app, event, Status.PENDING)
    token = manage_token(app, made)
    set_now(app, AFTER_HOLD)
    before = snapshot(app, event)
    with statements(app) as sent, app.app_context():
        found = queries.registration_for_link(event, token)
        assert found.status == Status.PENDING
        assert found.status_at(app.config["FROZEN_NOW"]) == Status.EXPIRED
    assert_read_only(sent)
    assert snapshot(app, event) == before


def test_an_overdue_legacy_waiting_row_reads_expired_as_the_next_write_records_it(app, event):
    """A waiting-list row from before seats waited for the address, never confirmed:
    seats.overdue expires it, so the management page must already say so."""
    made = make_registration(app, event, Status.WAITLISTED, confirmed=False)
    token = manage_token(app, made)
    set_now(app, AFTER_HOLD)
    with app.app_context():
        found = queries.registration_for_link(event, token)
        shown = found.status_at(app.config["FROZEN_NOW"])
    with app.app_context():
        assert api.expire_overdue(event) == 1
    assert registrations(app)[0].status == Status.EXPIRED
    assert shown == Status.EXPIRED


def test_registration_for_link_of_another_event_is_an_invalid_link(app, event, plain_event):
    made = make_registration(app, event, Status.CONFIRMED)
    make_record(app, plain_event)
    token = manage_token(app, made)
    with app.app_context(), pytest.raises(InvalidLink) as refused:
        queries.registration_for_link(plain_event, token)
    assert refused.value.message == "Ce lien ne correspond à aucune inscription à cet événement."


@pytest.mark.parametrize("token", ["forged.token", ""])
def test_a_forged_management_link_is_an_invalid_link(app, event, token):
    make_registration(app, event, Status.CONFIRMED)
    with app.app_context(), pytest.raises(InvalidLink):
        queries.registration_for_link(event, token)


def test_a_confirmation_token_is_not_a_management_link(app, event):
    made = make_registration(app, event, Status.CONFIRMED)
    with app.app_context():
        token = links.confirm_token(made)
        with pytest.raises(InvalidLink):
            queries.registration_for_link(event, token)
