"""Staff actions (registration.backoffice.api): each one writes its audit-log entry."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registration import mail
from registration.backoffice import api, queries
from registration.db import transaction
from registration.extensions import db
from registration.models import (
    AuditEntry,
    OutboxMessage,
    OutboxStatus,
    Registration,
    Status,
    StatusChange,
)
from registration.registrations import api as registrations_api
from registration.registrations.exceptions import CapacityTooLow, RegistrationClosed

from ..factories import (
    make_record,
    make_registration,
    make_user,
    outbox,
    record_of,
    registrations,
    set_now,
)

ADMIN = "admin@numerique.gouv.fr"


def audit_log(app) -> list[tuple[str, str, str, str]]:
    """(actor, action, event slug, details) of every audit entry, oldest first."""
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.actor, e.action, e.event_slug, e.details) for e in entries]


def statuses(app) -> list[Status]:
    return [r.status for r in registrations(app)]


# --- set_registration_open ------------------------------------------------------------------


def test_closing_records_the_notice_and_its_audit_entry(app, event):
    with app.app_context():
        api.set_registration_open(event, ADMIN, is_open=False, notice="  Merci, c’est complet !  ")
    record = record_of(app, event)
    assert record.is_open is False
    assert record.public_notice == "Merci, c’est complet !"
    assert audit_log(app) == [
        (ADMIN, "close", event.slug, "message public : Merci, c’est complet !")
    ]


def test_reopening_clears_the_notice_and_is_audited(app, event):
    make_record(app, event, is_open=False, notice="Fermé pour travaux")
    with app.app_context():
        api.set_registration_open(event, ADMIN, is_open=True)
    record = record_of(app, event)
    assert record.is_open is True and record.public_notice == ""
    assert audit_log(app) == [(ADMIN, "reopen", event.slug, "")]


def test_closing_takes_effect_for_the_next_registration(app, event):
    with app.app_context():
        api.set_registration_open(event, ADMIN, is_open=False)
        with pytest.raises(RegistrationClosed) as refused:
            registrations_api.register(event, _registrant())
        assert refused.value.message == "Les inscriptions sont fermées."
    assert registrations(app) == []


def _registrant() -> registrations_api.Registrant:
    return registrations_api.Registrant(
        email="vol@numerique.gouv.fr",
        first_name="En",
        last_name="Vol",
        employer="DINUM",
        job_title="Test",
        answers={"atelier": "Accessibilité"},
    )


def test_closing_while_a_submission_is_in_flight_refuses_it(app, event, monkeypatch):
    """The admin's transaction holds the event lock until it commits; a submission that
    reaches the lock meanwhile waits for it, then finds registration closed."""
    make_record(app, event)  # the row exists: both sides go straight to the lock
    submission_at_lock = threading.Event()
    outcome: dict[str, object] = {}
    original_audit = api.audit

    def audit_then_hold(session, *args, **kwargs):
        original_audit(session, *args, **kwargs)  # the row is locked and changed by now
        closing_locked.set()
        # Hold the lock until the submission is about to ask for it, then a little more.
        assert submission_at_lock.wait(10)
        time.sleep(0.2)

    closing_locked = threading.Event()
    monkeypatch.setattr(api, "audit", audit_then_hold)

    def close() -> None:
        with app.app_context():
            api.set_registration_open(event, ADMIN, is_open=False)

    def submit() -> None:
        assert closing_locked.wait(10)
        with app.app_context():
            engine = db.engine

            def before_execute(conn, cursor, statement, *args):
                if "FOR KEY SHARE" in statement or "BEGIN IMMEDIATE" in statement:
                    submission_at_lock.set()

            sa.event.listen(engine, "before_cursor_execute", before_execute)
            try:
                registrations_api.register(event, _registrant())
                outcome["result"] = "registered"
            except RegistrationClosed as error:
                outcome["result"] = error.message
            finally:
                sa.event.remove(engine, "before_cursor_execute", before_execute)
                submission_at_lock.set()

    threads = [threading.Thread(target=close), threading.Thread(target=submit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome["result"] == "Les inscriptions sont fermées."
    assert registrations(app) == []


# --- change_capacity ------------------------------------------------------------------------


def test_lowering_places_below_the_seats_taken_is_refused(app, event):
    make_record(app, event, capacity=5)
    for _ in range(3):
        make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)  # holds no seat: not counted
    with app.app_context(), pytest.raises(CapacityTooLow) as refused:
        api.change_capacity(event, ADMIN, 2)
    assert refused.value.field == "capacity"
    assert refused.value.message.startswith(
        "Impossible de descendre à 2 places : 3 sont déjà prises"
    )
    record = record_of(app, event)
    assert record.capacity_override == 5 and record.seats_taken == 3
    assert audit_log(app) == []


def test_the_refusal_counts_as_taken_only_the_seats_of_confirmed_addresses(app, event):
    """A pending registration holds no seat any more: the message must not say it does."""
    make_record(app, event, capacity=5)
    make_registration(app, event, Status.CONFIRMED)
    with app.app_context(), pytest.raises(CapacityTooLow) as refused:
        api.change_capacity(event, ADMIN, 0)
    assert "en attente de confirmation" not in refused.value.message


def test_lowering_places_to_exactly_the_seats_taken_is_accepted(app, event):
    for _ in range(3):
        make_registration(app, event)
    with app.app_context():
        api.change_capacity(event, ADMIN, 3)
    record = record_of(app, event)
    assert record.capacity_overridden and record.capacity_override == 3


def test_changing_places_records_the_override_and_its_audit_entry(app, event):
    with app.app_context():
        api.change_capacity(event, ADMIN, 40)
        assert queries.overview(event).capacity.places == 40
        assert queries.overview(event).capacity.set_by_admin
    record = record_of(app, event)
    assert record.capacity_overridden is True and record.capacity_override == 40
    assert audit_log(app) == [(ADMIN, "capacity", event.slug, "100 → 40")]


def test_an_empty_number_lifts_the_limit_and_moves_everyone_up(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.WAITLISTED)
    make_registration(app, event, Status.WAITLISTED)
    with app.app_context():
        api.change_capacity(event, ADMIN, None)
    record = record_of(app, event)
    assert record.capacity_overridden is True and record.capacity_override is None
    assert statuses(app) == [Status.CONFIRMED, Status.CONFIRMED, Status.CONFIRMED]
    assert record.seats_taken == 3
    assert all(m.ics for m in outbox(app, "promoted")) and len(outbox(app, "promoted")) == 2
    assert audit_log(app) == [(ADMIN, "capacity", event.slug, "1 → illimitées")]


def test_raising_places_moves_people_up_from_the_waiting_list_in_order(app, event):
    make_record(app, event, capacity=1)
    start = app.config["FROZEN_NOW"]
    make_registration(app, event, Status.CONFIRMED, created_at=start)
    # an older unconfirmed row (from before seats waited for the address) is passed over
    legacy = make_registration(
        app, event, Status.WAITLISTED, confirmed=False, created_at=start - timedelta(hours=1)
    )
    # the later one comes first in the table: order is by registration time, not by id
    later = make_registration(
        app, event, Status.WAITLISTED, email="b@numerique.gouv.fr", created_at=start
    )
    earlier = make_registration(
        app,
        event,
        Status.WAITLISTED,
        email="a@numerique.gouv.fr",
        created_at=start - timedelta(minutes=5),
    )
    with app.app_context():
        api.change_capacity(event, ADMIN, 2)
    by_id = {r.id: r for r in registrations(app)}
    assert by_id[earlier.id].status == Status.CONFIRMED
    assert by_id[later.id].status == Status.WAITLISTED
    assert by_id[legacy.id].status == Status.WAITLISTED
    assert [m.recipient for m in outbox(app, "promoted")] == ["a@numerique.gouv.fr"]
    record = record_of(app, event)
    assert record.capacity_override == 2 and record.seats_taken == 2
    assert [c.reason for c in _history(app, earlier.id)][-1] == (
        "place libérée : sortie de la liste d’attente"
    )


def _history(app, registration_id: int) -> list[StatusChange]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(StatusChange)
            .where(StatusChange.attendee_id == registration_id)
            .order_by(StatusChange.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


# --- use_file_capacity ----------------------------------------------------------------------


def test_using_the_file_drops_the_override(app, event):
    make_record(app, event, capacity=10)
    with app.app_context():
        api.use_file_capacity(event, ADMIN)
        capacity = queries.overview(event).capacity
    assert capacity.places == 100 and capacity.set_by_admin is False
    record = record_of(app, event)
    assert record.capacity_overridden is False and record.capacity_override is None
    assert audit_log(app) == [(ADMIN, "capacity", event.slug, "10 → 100 (valeur du fichier)")]


def test_using_the_file_after_an_unlimited_override(app, event):
    make_record(app, event, capacity=None, overridden=True)
    with app.app_context():
        assert queries.overview(event).capacity.places is None
        api.use_file_capacity(event, ADMIN)
        assert queries.overview(event).capacity.places == 100
    assert audit_log(app)[-1][3] == "illimitées → 100 (valeur du fichier)"


def test_using_the_file_moves_the_waiting_list_up(app, plain_event):
    """The file sets no limit: every waiting registration gets a seat."""
    make_record(app, plain_event, capacity=1)
    make_registration(app, plain_event, Status.CONFIRMED)
    make_registration(app, plain_event, Status.WAITLISTED, email="w@numerique.gouv.fr")
    with app.app_context():
        api.use_file_capacity(plain_event, ADMIN)
    assert statuses(app) == [Status.CONFIRMED, Status.CONFIRMED]
    assert [m.recipient for m in outbox(app, "promoted")] == ["w@numerique.gouv.fr"]
    assert record_of(app, plain_event).seats_taken == 2
    assert audit_log(app)[-1][3] == "1 → illimitées (valeur du fichier)"


def test_using_the_file_is_refused_when_its_number_is_below_the_seats_taken(app, event):
    make_record(app, event, capacity=150, taken=101)
    with app.app_context(), pytest.raises(CapacityTooLow) as refused:
        api.use_file_capacity(event, ADMIN)
    assert refused.value.field == "capacity"
    assert refused.value.message.startswith("Le fichier prévoit 100 places, mais 101 sont")
    record = record_of(app, event)
    assert record.capacity_overridden is True and record.capacity_override == 150
    assert audit_log(app) == []


def test_using_the_file_is_accepted_when_its_number_equals_the_seats_taken(app, event):
    make_record(app, event, capacity=150, taken=100)
    with app.app_context():
        api.use_file_capacity(event, ADMIN)
    assert record_of(app, event).capacity_overridden is False


# --- purge_registrations --------------------------------------------------------------------


def test_purge_keeps_registrations_until_the_event_ended_long_enough_ago(app, event):
    make_registration(app, event)
    set_now(app, "2023-09-12T12:00:00+02:00")  # the event ended 89 days ago
    with app.app_context():
        assert api.purge_registrations([event], timedelta(days=90), "cron") == {}
    assert len(registrations(app)) == 1
    assert audit_log(app) == []


def test_purge_deletes_registrations_of_long_past_events_and_is_audited(app, event, plain_event):
    confirmed = make_registration(app, event)
    make_registration(app, event, Status.CANCELLED)
    kept = make_registration(app, plain_event)
    with app.test_request_context(), transaction() as session:
        mail.queue(session, "confirmed", event, session.get(Registration, confirmed.id))
    set_now(app, "2023-09-14T12:31:00+02:00")  # 91 days after the end; plain_event is ahead
    with app.app_context():
        deleted = api.purge_registrations(
            [event, plain_event], timedelta(days=90), "flask attendees purge"
        )
    assert deleted == {event.slug: 2}
    assert [r.id for r in registrations(app)] == [kept.id]
    assert record_of(app, event).seats_taken == 0
    assert audit_log(app) == [
        (
            "flask attendees purge",
            "purge",
            event.slug,
            "2 inscription(s) supprimée(s), événement terminé depuis plus de 90 jours",
        )
    ]
    assert _history(app, confirmed.id) == []  # the history goes with them
    [message] = outbox(app)
    assert message.attendee_id is None  # the outbox keeps no link to a deleted person


def test_purge_of_an_event_without_registrations_writes_no_audit_entry(app, event):
    make_record(app, event)
    set_now(app, "2023-09-14T12:31:00+02:00")
    with app.app_context():
        assert api.purge_registrations([event], timedelta(days=90), "cron") == {event.slug: 0}
    assert audit_log(app) == []


# --- queue_reminders ------------------------------------------------------------------------


def test_reminders_go_once_to_confirmed_attendees_of_events_starting_soon(app, event, plain_event):
    confirmed = make_registration(app, event, email="oui@numerique.gouv.fr")
    make_registration(app, event, Status.PENDING)
    make_registration(app, event, Status.WAITLISTED)
    make_registration(app, event, Status.CANCELLED)
    make_registration(app, event, Status.EXPIRED)
    make_registration(app, plain_event, email="plus-tard@numerique.gouv.fr")
    set_now(app, "2023-06-13T10:00:00+02:00")  # event in two days, plain_event in three months
    with app.app_context():
        assert api.queue_reminders([event, plain_event], days=2) == {event.slug: 1}
    [reminder] = outbox(app, "reminder")
    assert reminder.recipient == "oui@numerique.gouv.fr"
    assert reminder.attendee_id == confirmed.id
    assert [r.email for r in registrations(app) if r.reminded_at] == ["oui@numerique.gouv.fr"]
    with app.app_context():
        assert api.queue_reminders([event, plain_event], days=2) == {event.slug: 0}
    assert len(outbox(app, "reminder")) == 1


def test_no_reminder_before_the_window_nor_once_the_event_started(app, event):
    make_registration(app, event)
    set_now(app, "2023-06-13T09:29:00+02:00")  # 2 days and 1 minute before the start
    with app.app_context():
        assert api.queue_reminders([event], days=2) == {}
    set_now(app, "2023-06-15T09:30:00+02:00")  # it starts now
    with app.app_context():
        assert api.queue_reminders([event], days=2) == {}
    assert outbox(app, "reminder") == []


# --- set_account_active ---------------------------------------------------------------------


def test_disabling_an_account_twice_is_audited_once(app):
    user = make_user(app, "orga@numerique.gouv.fr")
    with app.app_context():
        for _ in range(2):  # a double click, or two tabs
            disabled = api.set_account_active(user.id, False, ADMIN)
            assert disabled is not None and not disabled.active
        enabled = api.set_account_active(user.id, True, ADMIN)
        assert enabled is not None and enabled.active
        api.set_account_active(user.id, True, ADMIN)
    assert audit_log(app) == [
        (ADMIN, "user-desactiver", "", "orga@numerique.gouv.fr"),
        (ADMIN, "user-reactiver", "", "orga@numerique.gouv.fr"),
    ]


def test_an_unknown_account_is_none(app):
    with app.app_context():
        assert api.set_account_active(999, False, ADMIN) is None
    assert audit_log(app) == []


# --- retry_message --------------------------------------------------------------------------


def failed_message(app, event) -> OutboxMessage:
    """A message that failed for good, rendered by the real outbox."""
    registration = make_registration(app, event)
    with app.test_request_context(), transaction() as session:
        message = mail.queue(
            session, "confirmed", event, session.get(Registration, registration.id)
        )
        message.status = OutboxStatus.FAILED
        message.attempts = 5
        message.last_error = "ConnectionRefusedError: [Errno 111] Connection refused"
        message.next_attempt_at = message.created_at
        session.flush()
        session.expunge(message)
        return message


def test_retry_puts_a_failed_message_back_in_line_for_the_worker(app, event):
    message = failed_message(app, event)
    set_now(app, "2023-05-21T08:00:00+02:00")
    with app.test_request_context():
        assert api.retry_message(message.id, ADMIN) is True
    [row] = outbox(app)
    assert row.status == OutboxStatus.PENDING and row.attempts == 0
    assert row.next_attempt_at == app.config["FROZEN_NOW"]
    assert audit_log(app) == [(ADMIN, "retry-message", "", f"message {message.id}")]


@pytest.mark.parametrize("status", [OutboxStatus.PENDING, OutboxStatus.SENT])
def test_retry_leaves_messages_that_did_not_fail(app, event, status):
    message = failed_message(app, event)
    with app.app_context(), transaction() as session:
        session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id == message.id).values(status=status)
        )
    with app.test_request_context():
        assert api.retry_message(message.id, ADMIN) is False
    assert outbox(app)[0].attempts == 5
    assert audit_log(app) == []


def test_retry_of_an_unknown_message(app):
    with app.app_context():
        assert api.retry_message(404, ADMIN) is False
    assert audit_log(app) == []


# --- export and log_action ------------------------------------------------------------------


def test_export_writes_its_audit_entry_and_returns_the_filtered_rows(app, event):
    make_registration(app, event, last_name="Abadie")
    make_registration(app, event, Status.PENDING, last_name="Durand")
    filters = queries.Filters(search="abadie", status="confirmed")
    with app.app_context():
        rows = list(api.export(event, ADMIN, "csv", filters))
        assert [r.last_name for r in rows] == ["Abadie"]
    assert audit_log(app) == [(ADMIN, "export-csv", event.slug, "q='abadie' statut='confirmed'")]


def test_log_action(app):
    with app.app_context():
        api.log_action(ADMIN, "create-user", details="new@numerique.gouv.fr (organiser)")
    assert audit_log(app) == [(ADMIN, "create-user", "", "new@numerique.gouv.fr (organiser)")]
