"""register, confirm, cancel, expire_overdue: the agents' operations, on both databases."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from registration import links
from registration.content import Event
from registration.db import transaction
from registration.extensions import db
from registration.models import EventRecord, Registration, Status
from registration.registrations import api, queries
from registration.registrations.exceptions import (
    DeadlinePassed,
    InvalidLink,
    NotEligible,
    RegistrationClosed,
)

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

EMAIL = "camille.durand@numerique.gouv.fr"
AFTER_HOLD = "2023-05-21T10:00:01+02:00"  # 24 h and a second after the frozen clock


def register(app: Flask, event: Event, **overrides: Any) -> api.Outcome:
    with app.app_context():
        return api.register(event, registrant(**overrides))


def confirm(app: Flask, event: Event, registration: Registration) -> Status:
    with app.app_context():
        return api.confirm(event, links.confirm_token(registration)).status


def cancel(app: Flask, event: Event, registration: Registration) -> Status:
    with app.app_context():
        return api.cancel(event, links.manage_token(registration)).status


def expire_overdue(app: Flask, event: Event) -> int:
    with app.app_context():
        return api.expire_overdue(event)


def history(app: Flask, registration_id: int) -> list[tuple[Status, str]]:
    with app.app_context():
        found = db.session.get(Registration, registration_id)
        assert found is not None
        return [(change.status, change.reason) for change in found.history]


# --- register -------------------------------------------------------------------------------


def test_a_registration_waits_for_its_address_without_a_seat(app, event):
    assert register(app, event) == api.Outcome(full=False)
    [registration] = registrations(app)
    assert registration.status == Status.PENDING
    assert registration.email == EMAIL
    assert registration.email_confirmed_at is None
    assert registration.expires_at == app.config["FROZEN_NOW"] + timedelta(hours=24)
    assert record_of(app, event).seats_taken == 0  # the seat is taken on confirmation
    assert history(app, registration.id) == [(Status.PENDING, "inscription reçue")]
    [message] = outbox(app, "confirm_address")
    assert message.recipient == EMAIL and message.attendee_id == registration.id
    assert "/confirmer/" in message.body_text


def test_the_answers_are_stored_as_given(app, event):
    answers = {
        "atelier": "Accessibilité",
        "sujets": ["Gouvernance", "Communauté"],
        "regime": "végétarien",
    }
    register(app, event, answers=answers, accessibility_needs="Boucle magnétique")
    [registration] = registrations(app)
    assert registration.answers == answers
    assert isinstance(registration.answers["sujets"], list)
    assert registration.accessibility_needs == "Boucle magnétique"


def test_an_event_without_questions_stores_no_answers(app, plain_event):
    register(app, plain_event, answers={})
    [registration] = registrations(app)
    assert registration.answers == {}


def test_unlimited_places_never_waitlist(app, plain_event):
    make_record(app, plain_event, taken=10_000)
    assert register(app, plain_event) == api.Outcome(full=False)
    [registration] = registrations(app)
    assert registration.status == Status.PENDING
    assert confirm(app, plain_event, registration) == Status.CONFIRMED
    assert record_of(app, plain_event).seats_taken == 10_001


def test_a_full_event_puts_newcomers_on_the_waiting_list_once_confirmed(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    assert register(app, event) == api.Outcome(full=True)
    first, newcomer = registrations(app)
    # Unconfirmed, the newcomer is not on the list yet: pending, with a hold time.
    assert (first.status, newcomer.status) == (Status.CONFIRMED, Status.PENDING)
    assert newcomer.expires_at == app.config["FROZEN_NOW"] + timedelta(hours=24)
    assert history(app, newcomer.id) == [(Status.PENDING, "inscription reçue")]
    assert [m.recipient for m in outbox(app, "confirm_address")] == [EMAIL]
    assert confirm(app, event, newcomer) == Status.WAITLISTED
    assert history(app, newcomer.id)[-1] == (
        Status.WAITLISTED,
        "adresse confirmée, événement complet",
    )
    assert record_of(app, event).seats_taken == 1
    assert [m.recipient for m in outbox(app, "waitlisted")] == [EMAIL]
    assert outbox(app, "confirmed") == []


def test_the_file_places_fill_up_too(app, event):
    make_record(app, event, taken=event.capacity)
    assert event.capacity == 100
    assert register(app, event) == api.Outcome(full=True)
    assert confirm(app, event, registrations(app)[0]) == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 100


def test_registering_twice_creates_nothing_and_answers_the_same(app, event):
    first = register(app, event)
    second = register(app, event, first_name="Autre", answers={"atelier": "Accessibilité"})
    assert first == second == api.Outcome(full=False)
    [registration] = registrations(app)
    assert registration.first_name == "Camille"
    assert registration.answers == {"atelier": "Logiciels libres"}
    assert record_of(app, event).seats_taken == 0
    assert len(outbox(app, "confirm_address")) == 1
    [reminder] = outbox(app, "duplicate")
    assert reminder.recipient == EMAIL
    assert "déjà inscrit" in reminder.body_text


@pytest.mark.parametrize("status", [Status.PENDING, Status.CONFIRMED, Status.WAITLISTED])
def test_a_duplicate_of_any_active_registration_changes_nothing(app, event, status):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)  # the event is full
    existing = make_registration(app, event, status, email=EMAIL)
    assert register(app, event, first_name="Autre") == api.Outcome(full=True)
    _, registration = registrations(app)
    assert (registration.status, registration.first_name) == (status, "Camille")
    assert registration.updated_at == existing.updated_at
    assert len(history(app, existing.id)) == 1
    assert len(outbox(app, "duplicate")) == 1 and outbox(app, "confirm_address") == []


def test_a_duplicate_on_a_full_event_answers_like_a_newcomer(app, event):
    make_record(app, event, capacity=1)
    assert register(app, event) == api.Outcome(full=False)
    assert confirm(app, event, registrations(app)[0]) == Status.CONFIRMED  # the last seat
    duplicate = register(app, event)
    newcomer = register(app, event, email="c@numerique.gouv.fr")
    assert duplicate == newcomer == api.Outcome(full=True)
    assert [r.status for r in registrations(app)] == [Status.CONFIRMED, Status.PENDING]


def test_the_unique_constraint_stands_behind_the_service(app, event):
    register(app, event)
    existing = registrations(app)[0]
    with app.app_context(), pytest.raises(sa.exc.IntegrityError), transaction() as session:
        session.add(
            Registration(
                event_id=existing.event_id,
                email=existing.email,
                first_name="x",
                last_name="y",
                employer="z",
                job_title="t",
                status=Status.PENDING,
                created_at=existing.created_at,
                updated_at=existing.created_at,
            )
        )


def test_datetimes_are_stored_in_utc(app, event):
    register(app, event)
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT created_at FROM attendees")).scalar_one()
        registration = db.session.scalars(sa.select(Registration)).one()
    assert registration.created_at.utcoffset() == timedelta(0)
    assert registration.created_at.hour == 8  # 10:00 Paris is 08:00 UTC
    assert "08:00:00" in str(raw)


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.EXPIRED])
def test_a_cancelled_or_expired_registration_can_register_again(app, event, status):
    old = make_registration(
        app, event, status, email=EMAIL, created_at=app.config["FROZEN_NOW"] - timedelta(days=3)
    )
    assert register(app, event, first_name="Camille-Anne") == api.Outcome(full=False)
    [again] = registrations(app)
    assert again.id == old.id
    assert again.status == Status.PENDING and again.first_name == "Camille-Anne"
    assert again.answers == {"atelier": "Logiciels libres"}
    assert again.email_confirmed_at is None
    assert again.expires_at == app.config["FROZEN_NOW"] + timedelta(hours=24)
    assert history(app, old.id)[-1] == (Status.PENDING, "inscription reçue")
    assert record_of(app, event).seats_taken == 0
    assert len(outbox(app, "confirm_address")) == 1 and outbox(app, "duplicate") == []


def test_registering_again_joins_the_back_of_the_waiting_list(app, event):
    now = app.config["FROZEN_NOW"]
    make_record(app, event, capacity=1)
    seated = make_registration(app, event, Status.CONFIRMED)
    old = make_registration(
        app, event, Status.CANCELLED, email=EMAIL, created_at=now - timedelta(days=3)
    )
    waiting = make_registration(app, event, Status.WAITLISTED, created_at=now - timedelta(hours=1))
    assert register(app, event) == api.Outcome(full=True)
    assert registrations(app)[1].created_at == now
    assert confirm(app, event, old) == Status.WAITLISTED
    cancel(app, event, seated)
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses[waiting.id] == Status.CONFIRMED
    assert statuses[old.id] == Status.WAITLISTED


def test_an_overdue_registration_can_register_again(app, event):
    register(app, event)
    set_now(app, "2023-05-22T10:00:00+02:00")
    register(app, event, first_name="Camille-Anne")
    [registration] = registrations(app)
    assert registration.status == Status.PENDING and registration.first_name == "Camille-Anne"
    assert record_of(app, event).seats_taken == 0
    assert [status for status, _ in history(app, registration.id)] == [
        Status.PENDING,
        Status.EXPIRED,
        Status.PENDING,
    ]


def test_a_closed_event_refuses_and_stores_nothing(app, event):
    make_record(app, event, is_open=False)
    with pytest.raises(RegistrationClosed) as refused:
        register(app, event)
    assert refused.value.message == "Les inscriptions sont fermées."
    assert registrations(app) == [] and outbox(app) == []
    assert record_of(app, event).seats_taken == 0


def test_one_second_before_the_deadline_passes(app, event):
    set_now(app, "2023-06-12T17:59:59+02:00")
    register(app, event)
    assert len(registrations(app)) == 1


def test_at_the_deadline_registration_is_refused(app, event):
    set_now(app, "2023-06-12T18:00:00+02:00")
    with pytest.raises(DeadlinePassed) as refused:
        register(app, event)
    assert refused.value.message == (
        "Les inscriptions sont closes depuis le lundi 12 juin 2023 à 18h00."
    )
    assert registrations(app) == [] and outbox(app) == []


def test_a_private_address_is_refused_before_any_write(app, event):
    with pytest.raises(NotEligible):
        register(app, event, email="camille@gmail.com")
    with app.app_context():
        assert db.session.scalars(sa.select(EventRecord)).all() == []
    assert registrations(app) == []


# --- One mailbox, one registration; one duplicate notice a day ------------------------------


def test_plus_addressing_variants_are_one_registration(app, event):
    mailbox = "prenom.nom@numerique.gouv.fr"
    assert register(app, event, email="prenom.nom+a@numerique.gouv.fr") == api.Outcome(full=False)
    assert register(app, event, email="prenom.nom+b@numerique.gouv.fr", first_name="Autre") == (
        api.Outcome(full=False)
    )
    register(app, event, email="Prenom.Nom@numerique.gouv.fr", first_name="Encore")
    [registration] = registrations(app)
    assert registration.email == mailbox  # stored without the tag
    assert registration.first_name == "Camille"
    assert [m.recipient for m in outbox(app, "confirm_address")] == [mailbox]
    assert [m.recipient for m in outbox(app, "duplicate")] == [mailbox]  # one a day


def test_a_tagged_address_cannot_take_a_second_seat(app, event):
    make_record(app, event, capacity=2)
    register(app, event, email="prenom.nom@numerique.gouv.fr")
    assert confirm(app, event, registrations(app)[0]) == Status.CONFIRMED
    register(app, event, email="prenom.nom+encore@numerique.gouv.fr")
    [registration] = registrations(app)
    assert registration.status == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 1


def test_one_duplicate_notice_a_day_however_often_the_form_is_sent(app, event):
    register(app, event)
    [registration] = registrations(app)
    assert confirm(app, event, registration) == Status.CONFIRMED  # it does not expire
    first = "2023-05-20T10:30:00+02:00"
    for when in (
        first,
        "2023-05-20T10:31:00+02:00",
        "2023-05-20T18:00:00+02:00",
        "2023-05-21T08:00:00+02:00",
        "2023-05-21T10:29:59+02:00",  # a second short of a day after the first notice
    ):
        set_now(app, when)
        assert register(app, event, first_name="Autre") == api.Outcome(full=False)
    [notice] = outbox(app, "duplicate")
    assert notice.recipient == EMAIL
    assert registrations(app)[0].duplicate_notice_at == datetime.fromisoformat(first)
    set_now(app, "2023-05-21T11:30:00+02:00")  # 25 h after the first notice
    register(app, event)
    assert len(outbox(app, "duplicate")) == 2
    [registration] = registrations(app)
    assert registration.duplicate_notice_at == app.config["FROZEN_NOW"]
    assert (registration.status, registration.first_name) == (Status.CONFIRMED, "Camille")
    assert len(outbox(app, "confirm_address")) == 1


# --- confirm --------------------------------------------------------------------------------


def test_confirming_the_address_confirms_the_seat(app, event):
    register(app, event)
    [registration] = registrations(app)
    assert confirm(app, event, registration) == Status.CONFIRMED
    [registration] = registrations(app)
    assert registration.status == Status.CONFIRMED
    assert registration.email_confirmed_at == app.config["FROZEN_NOW"]
    assert registration.expires_at is None
    assert [m.recipient for m in outbox(app, "confirmed")] == [EMAIL]
    assert outbox(app, "confirmed")[0].ics
    assert record_of(app, event).seats_taken == 1


def test_confirming_twice_sends_one_message(app, event):
    register(app, event)
    [registration] = registrations(app)
    confirm(app, event, registration)
    assert confirm(app, event, registration) == Status.CONFIRMED
    assert len(outbox(app, "confirmed")) == 1
    assert len(history(app, registration.id)) == 2


def test_confirming_on_a_full_event_joins_the_waiting_list(app, event):
    make_record(app, event, capacity=0)
    register(app, event)
    [registration] = registrations(app)
    assert confirm(app, event, registration) == Status.WAITLISTED
    [registration] = registrations(app)
    assert registration.status == Status.WAITLISTED
    assert registration.email_confirmed_at is not None and registration.expires_at is None
    assert history(app, registration.id)[-1] == (
        Status.WAITLISTED,
        "adresse confirmée, événement complet",
    )
    assert len(outbox(app, "waitlisted")) == 1 and outbox(app, "confirmed") == []
    assert record_of(app, event).seats_taken == 0


def test_a_legacy_unconfirmed_waiting_row_takes_a_seat_when_it_confirms(app, event):
    """A waiting-list row from before seats waited for the address, confirmed now."""
    make_record(app, event, capacity=1)
    legacy = make_registration(app, event, Status.WAITLISTED, confirmed=False)
    assert confirm(app, event, legacy) == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 1
    assert len(outbox(app, "confirmed")) == 1


def test_the_one_who_confirms_first_gets_the_last_seat(app, event):
    """Places run out between registering and confirming: the proven mailbox wins."""
    make_record(app, event, capacity=1)
    assert register(app, event) == api.Outcome(full=False)
    assert register(app, event, email="b@numerique.gouv.fr") == api.Outcome(full=False)
    early, late = registrations(app)
    assert record_of(app, event).seats_taken == 0
    assert confirm(app, event, late) == Status.CONFIRMED  # registered second, confirmed first
    assert confirm(app, event, early) == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 1
    assert [m.recipient for m in outbox(app, "confirmed")] == ["b@numerique.gouv.fr"]
    assert [m.recipient for m in outbox(app, "waitlisted")] == [EMAIL]
    # The seat comes back: the first confirmed person waiting gets it, with the invitation.
    assert cancel(app, event, late) == Status.CANCELLED
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses == {early.id: Status.CONFIRMED, late.id: Status.CANCELLED}
    [promoted] = outbox(app, "promoted")
    assert promoted.recipient == EMAIL and promoted.ics
    assert record_of(app, event).seats_taken == 1


def test_fifty_invented_addresses_cannot_keep_a_confirmed_agent_from_a_seat(app, event):
    """Anyone can type addresses at an accepted domain; only a mailbox's owner confirms."""
    make_record(app, event, capacity=50)
    for i in range(1, 51):
        assert register(app, event, email=f"fake{i}@numerique.gouv.fr") == api.Outcome(full=False)
    assert register(app, event) == api.Outcome(full=False)
    agent = next(r for r in registrations(app) if r.email == EMAIL)
    assert confirm(app, event, agent) == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 1
    with app.app_context():
        assert queries.availability(event).seats_left == 49
    statuses = [r.status for r in registrations(app) if r.email != EMAIL]
    assert statuses == [Status.PENDING] * 50
    # Never confirmed, they expire and never held anything.
    set_now(app, AFTER_HOLD)
    assert expire_overdue(app, event) == 50
    assert record_of(app, event).seats_taken == 1


def test_an_expired_confirmation_link_is_refused_and_writes_nothing(app, event):
    """A request records no expiry: the periodic job does (`flask registrations expire`)."""
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    register(app, event)
    waiting = make_registration(app, event, Status.WAITLISTED)
    [_, registration, _] = registrations(app)
    with app.app_context():
        token = links.confirm_token(registration)  # signed with the e-mail, 24 h ago
    set_now(app, AFTER_HOLD)
    with statements(app) as sent, app.app_context(), pytest.raises(links.ExpiredLink):
        api.confirm(event, token)
    assert sent == []
    assert registrations(app)[1].status == Status.PENDING
    assert expire_overdue(app, event) == 1
    _, late, still_waiting = registrations(app)
    assert late.status == Status.EXPIRED
    # The late registration held no seat: its expiry frees none.
    assert (still_waiting.id, still_waiting.status) == (waiting.id, Status.WAITLISTED)
    assert record_of(app, event).seats_taken == 1
    assert outbox(app, "confirmed") == [] and outbox(app, "promoted") == []


def test_an_overdue_registration_with_a_fresh_link_is_refused_and_expired(app, event):
    """A link signed within the hold time, used after the registration was overdue."""
    register(app, event)
    [registration] = registrations(app)
    set_now(app, AFTER_HOLD)
    app.config["PENDING_HOLD_HOURS"] = 48  # the link is still good, the row is overdue
    with pytest.raises(links.ExpiredLink):
        confirm(app, event, registration)
    assert registrations(app)[0].status == Status.EXPIRED
    assert record_of(app, event).seats_taken == 0


def test_a_forged_confirmation_link_is_refused(app, event):
    register(app, event)
    with app.app_context(), pytest.raises(InvalidLink):
        api.confirm(event, "forged.token")
    assert registrations(app)[0].status == Status.PENDING


def test_a_link_for_another_event_is_refused(app, event, plain_event):
    register(app, event)
    [registration] = registrations(app)
    with pytest.raises(InvalidLink) as refused:
        confirm(app, plain_event, registration)
    assert refused.value.message == "Ce lien ne correspond à aucune inscription à cet événement."
    assert registrations(app)[0].status == Status.PENDING


def test_confirming_a_cancelled_registration_is_refused(app, event):
    cancelled = make_registration(app, event, Status.CANCELLED, confirmed=False)
    with pytest.raises(InvalidLink) as refused:
        confirm(app, event, cancelled)
    assert refused.value.message == "Cette inscription a été annulée."
    assert registrations(app)[0].status == Status.CANCELLED
    assert outbox(app) == []


# --- cancel ---------------------------------------------------------------------------------


def test_cancelling_gives_the_seat_to_the_first_on_the_waiting_list(app, event):
    make_record(app, event, capacity=1)
    leaving = make_registration(app, event, Status.CONFIRMED)
    now = app.config["FROZEN_NOW"]
    second = make_registration(app, event, Status.WAITLISTED, created_at=now)
    first = make_registration(
        app, event, Status.WAITLISTED, confirmed=True, created_at=now - timedelta(hours=1)
    )
    assert cancel(app, event, leaving) == Status.CANCELLED
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses == {
        leaving.id: Status.CANCELLED,
        second.id: Status.WAITLISTED,
        first.id: Status.CONFIRMED,  # had confirmed their address
    }
    assert record_of(app, event).seats_taken == 1
    assert [m.recipient for m in outbox(app, "cancelled")] == [leaving.email]
    [promoted] = outbox(app, "promoted")
    assert promoted.recipient == first.email and promoted.ics  # a seat: an invite
    assert history(app, first.id)[-1] == (
        Status.CONFIRMED,
        "place libérée : sortie de la liste d’attente",
    )


def test_an_unconfirmed_legacy_waiting_row_is_passed_over(app, event):
    """A waiting-list row from before seats waited for the address: never promoted until
    its address is confirmed; the seat goes to the confirmed agent behind it."""
    now = app.config["FROZEN_NOW"]
    make_record(app, event, capacity=1)
    leaving = make_registration(app, event, Status.CONFIRMED)
    legacy = make_registration(
        app, event, Status.WAITLISTED, confirmed=False, created_at=now - timedelta(hours=2)
    )
    waiting = make_registration(app, event, Status.WAITLISTED, created_at=now)
    cancel(app, event, leaving)
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses[legacy.id] == Status.WAITLISTED
    assert statuses[waiting.id] == Status.CONFIRMED
    [promoted] = outbox(app, "promoted")
    assert promoted.recipient == waiting.email and promoted.ics
    assert record_of(app, event).seats_taken == 1


def test_cancelling_from_the_waiting_list_frees_no_seat(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    leaving = make_registration(app, event, Status.WAITLISTED)
    behind = make_registration(app, event, Status.WAITLISTED)
    assert cancel(app, event, leaving) == Status.CANCELLED
    assert next(r for r in registrations(app) if r.id == behind.id).status == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 1
    assert outbox(app, "promoted") == []


def test_cancelling_twice_changes_nothing_more(app, event):
    leaving = make_registration(app, event, Status.CONFIRMED)
    cancel(app, event, leaving)
    assert cancel(app, event, leaving) == Status.CANCELLED
    assert len(outbox(app, "cancelled")) == 1
    assert record_of(app, event).seats_taken == 0
    assert len(history(app, leaving.id)) == 2


def test_a_forged_management_link_cancels_nothing(app, event):
    make_registration(app, event, Status.CONFIRMED)
    with app.app_context(), pytest.raises(InvalidLink):
        api.cancel(event, "forged.token")
    with pytest.raises(InvalidLink):
        cancel(app, event, Registration(public_id="0" * 32))
    assert registrations(app)[0].status == Status.CONFIRMED


# --- expire_overdue -------------------------------------------------------------------------


def test_expired_pending_registrations_free_no_seat(app, event):
    make_record(app, event, capacity=1)
    register(app, event)
    register(app, event, email="b@numerique.gouv.fr")
    _, seated = registrations(app)
    assert confirm(app, event, seated) == Status.CONFIRMED  # b confirms: the seat is theirs
    waiting = make_registration(app, event, Status.WAITLISTED)
    set_now(app, AFTER_HOLD)
    assert expire_overdue(app, event) == 1
    first, second, third = registrations(app)
    assert first.status == Status.EXPIRED
    assert history(app, first.id)[-1] == (Status.EXPIRED, "adresse non confirmée dans le délai")
    assert second.status == Status.CONFIRMED
    assert (third.id, third.status) == (waiting.id, Status.WAITLISTED)  # nothing was freed
    assert record_of(app, event).seats_taken == 1
    assert outbox(app, "promoted") == []


def test_unconfirmed_waitlisted_registrations_expire_too(app, event):
    """Waiting-list rows from before seats waited for the address expire like pending ones."""
    make_record(app, event, capacity=1)
    register(app, event)
    make_registration(app, event, Status.WAITLISTED, confirmed=False, email="b@numerique.gouv.fr")
    set_now(app, AFTER_HOLD)
    assert expire_overdue(app, event) == 2
    first, second = registrations(app)
    assert first.status == Status.EXPIRED
    assert second.status == Status.EXPIRED  # b never confirmed either
    assert record_of(app, event).seats_taken == 0
    assert outbox(app, "promoted") == []


def test_nothing_expires_within_the_hold_time(app, event):
    register(app, event)
    set_now(app, "2023-05-21T09:59:59+02:00")  # a second before the hold time ends
    assert expire_overdue(app, event) == 0
    assert registrations(app)[0].status == Status.PENDING
    assert expire_overdue(app, event) == 0  # and running it again changes nothing
    assert record_of(app, event).seats_taken == 0


def test_the_hold_time_ends_at_expires_at(app, event):
    register(app, event)
    set_now(app, "2023-05-21T10:00:00+02:00")  # exactly 24 h later
    assert expire_overdue(app, event) == 1
    assert registrations(app)[0].status == Status.EXPIRED


def test_expiring_twice_counts_once(app, event):
    register(app, event)
    set_now(app, AFTER_HOLD)
    assert expire_overdue(app, event) == 1
    assert expire_overdue(app, event) == 0
    assert record_of(app, event).seats_taken == 0


# --- Locks: what each operation holds, and for how long -------------------------------------


def dialect(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


def transaction_of(sent: list[str]) -> list[str]:
    """The statements sent, less the reads of the accepted domains before the transaction."""
    return [s for s in sent if "event_domains" not in s]


def test_registering_locks_nothing_and_shares_the_event_row(app, event):
    make_record(app, event)
    with statements(app) as sent:
        register(app, event)
    events = [s for s in transaction_of(sent) if " events" in s]
    assert len(events) == 1 and events[0].startswith("SELECT events.id")
    if dialect(app) == "postgresql":
        # The weakest row lock, the one the registration's foreign key takes anyway: it waits
        # for an admin closing registration, never for a seat being taken.
        assert events[0].endswith("FOR KEY SHARE OF events"), events
    assert not any("UPDATE events" in s or "FOR UPDATE" in s for s in sent), sent
    assert not any(s.startswith("UPDATE") for s in sent), sent  # three INSERTs, nothing else
    inserts = [s.split()[2] for s in sent if s.startswith("INSERT")]
    assert inserts == ["attendees", "attendee_status_changes", "outbox"]


def test_confirming_locks_the_event_row_only_with_its_last_statement(app, event):
    make_record(app, event, capacity=10)
    register(app, event)
    [registration] = registrations(app)
    with app.app_context():
        token = links.confirm_token(registration)
    with statements(app) as sent, app.app_context():
        assert api.confirm(event, token).status == Status.CONFIRMED
    writes = [s for s in sent if not s.startswith("BEGIN")]
    assert writes[0].startswith("SELECT attendees.id")  # the registration, and only its row
    # with its cancellations, counted (the invitation's SEQUENCE outdoes any earlier one), and
    # its latest calendar message (its UID): the invitation's read, in the same round trip
    assert "count(*)" in writes[0] and "outbox.params" in writes[0], writes[0]
    if dialect(app) == "postgresql":
        assert writes[0].endswith("FOR UPDATE OF attendees"), writes[0]
    assert [s.split()[0:3] for s in writes[1:]] == [
        ["UPDATE", "attendees", "SET"],
        ["INSERT", "INTO", "attendee_status_changes"],
        ["INSERT", "INTO", "outbox"],
        ["UPDATE", "events", "SET"],  # the seat: the last statement before the commit
    ]
    assert "RETURNING" in writes[-1] and "seats_taken <" in writes[-1]
    assert record_of(app, event).seats_taken == 1


def test_confirming_on_a_full_event_never_locks_the_event_row(app, event):
    make_record(app, event, capacity=1, taken=1)
    register(app, event)
    [registration] = registrations(app)
    with app.app_context():
        token = links.confirm_token(registration)
    with statements(app) as sent, app.app_context():
        assert api.confirm(event, token).status == Status.WAITLISTED
    # One guarded UPDATE that matched no row (so locked none), then a plain read of the
    # counter to tell "full" from "others wait first".
    assert len([s for s in sent if s.startswith("UPDATE events")]) == 1
    locks = [s.rpartition(" FOR ")[2] for s in sent if " FOR " in s]
    assert locks == (["UPDATE OF attendees"] if dialect(app) == "postgresql" else []), sent
    # The rows written as if for a seat now say what happened: one line, one message.
    assert history(app, registration.id)[1:] == [
        (Status.WAITLISTED, "adresse confirmée, événement complet")
    ]
    [message] = outbox(app)[1:]
    assert message.kind == "waitlisted"
    assert message.subject == "Vous êtes sur liste d’attente : Atelier des communs numériques"
    assert "liste d’attente" in (message.body_text or "") and message.ics is None
    assert record_of(app, event).seats_taken == 1


def test_when_another_confirmation_takes_the_last_seat_first_the_rows_say_so(
    app, event, monkeypatch
):
    """A seat was left by this transaction's snapshot, so the rows were written for it, but
    another confirmation took it first: the same rows then say « waiting list »."""
    make_record(app, event, capacity=1)
    register(app, event)
    [registration] = registrations(app)
    monkeypatch.setattr(api.seats, "seat_newcomer", lambda *args: False)
    assert confirm(app, event, registration) == Status.WAITLISTED
    assert registrations(app)[0].status == Status.WAITLISTED
    assert history(app, registration.id)[1:] == [
        (Status.WAITLISTED, "adresse confirmée, événement complet")
    ]
    [message] = outbox(app)[1:]
    assert (message.kind, message.ics) == ("waitlisted", None)
    assert message.subject.startswith("Vous êtes sur liste d’attente")
    assert message.params and message.params["registration"]["status"] == "waitlisted"
    assert record_of(app, event).seats_taken == 0


def test_when_a_seat_frees_up_after_the_snapshot_said_full_the_newcomer_takes_it(
    app, event, monkeypatch
):
    make_record(app, event, capacity=1)
    register(app, event)
    [registration] = registrations(app)
    monkeypatch.setattr(api._Found, "seat_likely", lambda self, event: False)
    assert confirm(app, event, registration) == Status.CONFIRMED
    assert history(app, registration.id)[1:] == [(Status.CONFIRMED, "adresse confirmée")]
    [message] = outbox(app)[1:]
    assert message.kind == "confirmed" and message.ics
    assert record_of(app, event).seats_taken == 1


def test_a_confirmation_link_followed_twice_at_once_takes_one_seat(make_app, event):
    """Two clicks on one link: the second waits for the first (its row is locked), then
    finds the address confirmed, and changes nothing."""
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 4})
    make_record(app, event, capacity=10)
    register(app, event)
    [registration] = registrations(app)
    with app.app_context():
        token = links.confirm_token(registration)
    start = threading.Barrier(2)

    def follow() -> Status:
        with app.app_context():
            start.wait()
            try:
                return api.confirm(event, token).status
            finally:
                db.session.remove()

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda _: follow(), range(2))) == [Status.CONFIRMED] * 2
    assert record_of(app, event).seats_taken == 1
    assert len(outbox(app, "confirmed")) == 1
    assert len(history(app, registration.id)) == 2


def test_the_same_address_sent_twice_at_once_is_one_registration(app, event, monkeypatch):
    """The other submission commits between this one's look for the address and its INSERT:
    the unique constraint refuses the INSERT, and the submission is answered as a duplicate."""
    if dialect(app) != "postgresql":
        pytest.skip("SQLite serialises writers up front (BEGIN IMMEDIATE): no such race")
    make_record(app, event)
    original = api._insert
    calls: list[int] = []

    def the_other_one_first(*args: Any, **kwargs: Any) -> None:
        if not calls:
            calls.append(1)
            with app.app_context():
                other = sa.create_engine(db.engine.url)
            with other.begin() as conn:  # another worker's transaction, committed meanwhile
                conn.execute(
                    sa.text(
                        "INSERT INTO attendees (public_id, event_id, email, first_name,"
                        " last_name, employer, job_title, answers, accessibility_needs, status,"
                        " justification, review_message, reviewed_by, expires_at, created_at,"
                        " updated_at) SELECT md5(random()::text), id, :email, 'Camille',"
                        " 'Durand', 'DINUM', 'Cheffe', '{}', '', 'pending', '', '', '',"
                        " :later, :now, :now FROM events"
                    ),
                    {
                        "email": EMAIL,
                        "now": app.config["FROZEN_NOW"],
                        "later": app.config["FROZEN_NOW"] + timedelta(hours=24),
                    },
                )
            other.dispose()
        original(*args, **kwargs)

    monkeypatch.setattr(api, "_insert", the_other_one_first)
    assert register(app, event) == api.Outcome(full=False)
    [registration] = registrations(app)
    assert registration.status == Status.PENDING
    assert [m.kind for m in outbox(app)] == ["duplicate"]  # the other one's notice


# --- The expiry job --------------------------------------------------------------------------


def test_the_expiry_job_works_in_batches(app, event):
    for i in range(5):
        register(app, event, email=f"agent{i}@numerique.gouv.fr")
    set_now(app, AFTER_HOLD)
    with app.app_context():
        assert api.expire_overdue(event, batch=2) == 5
    assert {r.status for r in registrations(app)} == {Status.EXPIRED}


def test_the_expiry_job_passes_over_a_registration_being_confirmed(app, event):
    """FOR UPDATE SKIP LOCKED: the confirmation holding the row decides; the next run
    expires what is still overdue."""
    if dialect(app) != "postgresql":
        pytest.skip("SQLite has no row locks: its writers take turns (BEGIN IMMEDIATE)")
    register(app, event)
    register(app, event, email="b@numerique.gouv.fr")
    held, other = registrations(app)
    set_now(app, AFTER_HOLD)
    with app.app_context():
        engine = sa.create_engine(db.engine.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("SELECT id FROM attendees WHERE id = :id FOR UPDATE"), {"id": held.id}
            )
            with app.app_context():
                assert api.expire_overdue(event) == 1
            statuses = {r.id: r.status for r in registrations(app)}
            assert statuses == {held.id: Status.PENDING, other.id: Status.EXPIRED}
    finally:
        engine.dispose()
    assert expire_overdue(app, event) == 1
    assert {r.status for r in registrations(app)} == {Status.EXPIRED}


def test_the_expiry_job_looks_with_the_expiry_index_predicate(app, event):
    """Written out as the partial index's own predicate, so that PostgreSQL can use it."""
    register(app, event)
    with statements(app) as sent, app.app_context():
        api.expire_overdue(event)
    [look] = [s for s in sent if "FROM attendees" in s and "expires_at <=" in s]
    assert "email_confirmed_at IS NULL AND expires_at IS NOT NULL" in look  # the predicate
    if dialect(app) == "postgresql":
        assert look.endswith("FOR UPDATE SKIP LOCKED")
