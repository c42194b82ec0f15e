"""An organiser's actions on one registration (registration.backoffice.api): cancel it, send
a fresh confirmation link, move it up from the waiting list. Each is audited and e-mailed;
and saving a form unchanged writes nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registration import links
from registration.backoffice import api
from registration.extensions import db
from registration.models import Registration, Status
from registration.registrations import api as registrations_api
from registration.registrations.exceptions import (
    ActionRefused,
    NoSeatLeft,
    RegistrationNotFound,
)

from ..factories import make_record, make_registration, outbox, record_of, registrations, set_now
from .test_api import ADMIN, audit_log

ORGANISER = "orga@numerique.gouv.fr"


def status_of(app, registration) -> Registration:
    return next(r for r in registrations(app) if r.id == registration.id)


# --- cancel_registration --------------------------------------------------------------------


def test_cancelling_a_seat_e_mails_the_agent_and_moves_the_list_up(app, event):
    make_record(app, event, capacity=1)
    seated = make_registration(app, event, Status.CONFIRMED, email="a@numerique.gouv.fr")
    waiting = make_registration(app, event, Status.WAITLISTED, email="b@numerique.gouv.fr")
    with app.app_context():
        api.cancel_registration(event, seated.public_id, ORGANISER)
    assert status_of(app, seated).status == Status.CANCELLED
    assert status_of(app, waiting).status == Status.CONFIRMED
    assert [m.recipient for m in outbox(app, "cancelled_by_organiser")] == ["a@numerique.gouv.fr"]
    assert [m.recipient for m in outbox(app, "promoted")] == ["b@numerique.gouv.fr"]
    assert record_of(app, event).seats_taken == 1
    assert audit_log(app) == [(ORGANISER, "cancel-registration", event.slug, "a@numerique.gouv.fr")]
    with app.app_context():
        reasons = [c.reason for c in db.session.get(Registration, seated.id).history]
    assert reasons[-1] == "annulée par l’organisation"


def test_cancelling_a_registration_awaiting_its_address_frees_no_seat(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    pending = make_registration(app, event, Status.PENDING)
    with app.app_context():
        api.cancel_registration(event, pending.public_id, ORGANISER)
    assert status_of(app, pending).status == Status.CANCELLED
    assert status_of(app, pending).expires_at is None
    assert record_of(app, event).seats_taken == 1
    assert len(outbox(app, "cancelled_by_organiser")) == 1


def test_cancelling_twice_is_refused_in_french_and_writes_nothing_more(app, event):
    seated = make_registration(app, event, Status.CONFIRMED)
    with app.app_context():
        api.cancel_registration(event, seated.public_id, ORGANISER)
        with pytest.raises(ActionRefused, match="déjà annulée"):
            api.cancel_registration(event, seated.public_id, ORGANISER)
    assert len(audit_log(app)) == 1 and len(outbox(app, "cancelled_by_organiser")) == 1


def test_a_registration_of_another_event_is_not_found(app, event, plain_event):
    other = make_registration(app, plain_event)
    with app.app_context(), pytest.raises(RegistrationNotFound):
        api.cancel_registration(event, other.public_id, ORGANISER)
    assert status_of(app, other).status == Status.CONFIRMED


# --- resend_confirmation --------------------------------------------------------------------


def test_a_fresh_link_goes_to_a_registration_awaiting_its_address(app, event):
    pending = make_registration(app, event, Status.PENDING, email="c@numerique.gouv.fr")
    set_now(app, "2023-05-21T09:00:00+02:00")  # a day later: the first link's hold is running
    with app.app_context():
        api.resend_confirmation(event, pending.public_id, ORGANISER)
    (message,) = outbox(app, "confirm_address")
    assert message.recipient == "c@numerique.gouv.fr"
    hold = timedelta(hours=app.config["PENDING_HOLD_HOURS"])
    assert status_of(app, pending).expires_at == app.config["FROZEN_NOW"] + hold
    assert audit_log(app) == [(ORGANISER, "resend-confirmation", event.slug, "c@numerique.gouv.fr")]
    # The fresh link works: the address is confirmed and takes its seat.
    token = message.params["confirm_token"]
    with app.test_request_context():
        assert registrations_api.confirm(event, token).status == Status.CONFIRMED


@pytest.mark.parametrize("status", [Status.CONFIRMED, Status.WAITLISTED, Status.CANCELLED])
def test_only_a_registration_awaiting_its_address_gets_a_fresh_link(app, event, status):
    registration = make_registration(app, event, status)
    with app.app_context(), pytest.raises(ActionRefused, match="en attente de confirmation"):
        api.resend_confirmation(event, registration.public_id, ORGANISER)
    assert outbox(app, "confirm_address") == [] and audit_log(app) == []


# --- promote_registration -------------------------------------------------------------------


def test_moving_up_takes_a_free_seat_and_e_mails_the_agent(app, event):
    make_record(app, event, capacity=2)
    make_registration(app, event, Status.CONFIRMED)
    waiting = make_registration(app, event, Status.WAITLISTED, email="d@numerique.gouv.fr")
    with app.app_context():
        api.promote_registration(event, waiting.public_id, ORGANISER)
    assert status_of(app, waiting).status == Status.CONFIRMED
    assert record_of(app, event).seats_taken == 2
    assert [m.recipient for m in outbox(app, "promoted")] == ["d@numerique.gouv.fr"]
    assert audit_log(app) == [
        (ORGANISER, "promote-registration", event.slug, "d@numerique.gouv.fr")
    ]


def test_moving_up_without_a_free_seat_is_refused_in_french(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    waiting = make_registration(app, event, Status.WAITLISTED)
    with app.app_context(), pytest.raises(NoSeatLeft, match=r"^Aucune place libre"):
        api.promote_registration(event, waiting.public_id, ORGANISER)
    assert status_of(app, waiting).status == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 1
    assert outbox(app, "promoted") == [] and audit_log(app) == []


def test_only_a_proven_address_on_the_waiting_list_moves_up(app, event):
    make_record(app, event, capacity=5)
    pending = make_registration(app, event, Status.PENDING)
    legacy = make_registration(app, event, Status.WAITLISTED, confirmed=False)
    with app.app_context():
        with pytest.raises(ActionRefused, match="pas sur la liste d’attente"):
            api.promote_registration(event, pending.public_id, ORGANISER)
        with pytest.raises(ActionRefused, match="pas encore confirmé son adresse"):
            api.promote_registration(event, legacy.public_id, ORGANISER)
    assert record_of(app, event).seats_taken == 0


def test_two_promotions_at_once_for_the_last_seat_take_it_once(make_app, event):
    """Two organisers click at the same moment, each for another agent, with one seat free:
    one gets it, the other is told there is none; the counter never passes the places."""
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 4, "max_overflow": 2})
    make_record(app, event, capacity=2)
    make_registration(app, event, Status.CONFIRMED)
    waiting = [make_registration(app, event, Status.WAITLISTED) for _ in range(2)]
    start = threading.Barrier(2)

    def promote(registration: Registration) -> str:
        with app.app_context():
            start.wait()
            try:
                api.promote_registration(event, registration.public_id, ORGANISER)
            except NoSeatLeft:
                return "refused"
            finally:
                db.session.remove()
            return "promoted"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(promote, waiting))
    assert outcomes == ["promoted", "refused"]
    assert record_of(app, event).seats_taken == 2
    assert sorted(r.status for r in registrations(app)) == sorted(
        [Status.CONFIRMED, Status.CONFIRMED, Status.WAITLISTED]
    )
    assert len(outbox(app, "promoted")) == 1 and len(audit_log(app)) == 1


# --- Saving a form unchanged ----------------------------------------------------------------


def test_saving_the_places_unchanged_writes_nothing(app, event):
    with app.app_context():
        api.change_capacity(event, ADMIN, 40)
        updated = record_of(app, event).updated_at
        set_now(app, "2023-05-21T09:00:00+02:00")
        api.change_capacity(event, ADMIN, 40)
    assert audit_log(app) == [(ADMIN, "capacity", event.slug, "100 → 40")]
    assert record_of(app, event).updated_at == updated


def test_the_files_number_set_by_the_admin_is_still_a_change(app, event):
    """100 places from the file, then 100 set by the admin: the number no longer follows the
    file, which is worth an entry."""
    with app.app_context():
        api.change_capacity(event, ADMIN, 100)
        api.use_file_capacity(event, ADMIN)
        api.use_file_capacity(event, ADMIN)  # unchanged now
    assert audit_log(app) == [
        (ADMIN, "capacity", event.slug, "100 → 100"),
        (ADMIN, "capacity", event.slug, "100 → 100 (valeur du fichier)"),
    ]


def test_closing_twice_with_the_same_message_writes_once(app, event):
    with app.app_context():
        api.set_registration_open(event, ADMIN, is_open=False, notice="Complet")
        api.set_registration_open(event, ADMIN, is_open=False, notice=" Complet ")
        api.set_registration_open(event, ADMIN, is_open=False, notice="Complet, merci")
    assert [details for *_, details in audit_log(app)] == [
        "message public : Complet",
        "message public : Complet, merci",
    ]


def test_the_confirmation_link_of_the_first_e_mail_keeps_working_after_a_resend(app, event):
    with app.test_request_context():
        registrations_api.register(
            event,
            registrations_api.Registrant(
                email="e@numerique.gouv.fr",
                first_name="Eve",
                last_name="Martin",
                employer="DINUM",
                job_title="Agente",
                answers={"atelier": "Accessibilité"},
            ),
        )
        first = db.session.scalars(sa.select(Registration)).one()
        token = links.confirm_token(first)
        db.session.remove()
    with app.app_context():
        api.resend_confirmation(event, first.public_id, ORGANISER)
    with app.test_request_context():
        assert registrations_api.confirm(event, token).status == Status.CONFIRMED
