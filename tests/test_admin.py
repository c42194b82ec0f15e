"""Admins: closing and reopening, places, accounts, audit log, retention purge."""

from __future__ import annotations

import threading
import time

from registration import services
from registration.models import Status

from .conftest import (
    SLUG,
    attendees,
    event_row,
    form_data,
    link_from,
    outbox,
    register_url,
    set_capacity,
    set_now,
    sign_in,
)

BASE = f"/administration/{SLUG}"


def test_closing_has_a_confirmation_step_and_takes_effect_at_once(app, admin_client):
    public = app.test_client()
    assert "<form" in public.get(register_url()).get_data(as_text=True)  # a form is already open
    step = admin_client.get(f"{BASE}/fermer").get_data(as_text=True)
    assert "Confirmer : fermer les inscriptions" in step
    assert event_row(app).is_open  # nothing happened on GET
    response = admin_client.post(f"{BASE}/fermer", data={"notice": "Merci, c’est complet !"})
    assert response.status_code == 302

    page = public.get(f"/agenda/{SLUG}/").get_data(as_text=True)
    assert "Inscriptions closes" in page and "Merci, c’est complet !" in page
    refused = public.post(register_url(), data=form_data(job_title="Gardé"))
    text = refused.get_data(as_text=True)
    assert "Les inscriptions sont fermées." in text and 'value="Gardé"' in text
    assert attendees(app) == []

    admin_client.post(f"{BASE}/rouvrir", data={"notice": ""})
    assert public.post(register_url(), data=form_data()).status_code == 302
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "close" in journal and "reopen" in journal and "Merci, c’est complet !" in journal


def test_closing_while_a_submission_is_in_flight_refuses_it(app, event):
    """The admin's transaction holds the event lock; the submission waits, then sees it closed."""
    locked = threading.Event()
    outcome: dict[str, object] = {}

    def close_slowly() -> None:
        with app.test_request_context(), services.transaction() as session:
            state = services.lock_event(session, event)
            state.is_open = False
            locked.set()
            time.sleep(0.5)

    def submit() -> None:
        locked.wait()
        with app.test_request_context():
            try:
                services.register_attendee(
                    event,
                    services.Registrant(
                        email="vol@numerique.gouv.fr",
                        first_name="En",
                        last_name="Vol",
                        employer="DINUM",
                        job_title="Test",
                    ),
                )
                outcome["result"] = "registered"
            except services.RegistrationClosed as error:
                outcome["result"] = error.message

    threads = [threading.Thread(target=close_slowly), threading.Thread(target=submit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome["result"] == "Les inscriptions sont fermées."
    assert attendees(app) == []


def test_lowering_places_below_seats_taken_is_refused(app, admin_client):
    set_capacity(app, 5)
    public = app.test_client()
    for i in range(3):
        public.post(register_url(), data=form_data(email=f"a{i}@numerique.gouv.fr"))
    response = admin_client.post(f"{BASE}/places", data={"capacity": "2"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Impossible de descendre à 2 places : 3 sont déjà prises" in text
    assert 'aria-invalid="true"' in text
    assert event_row(app).capacity == 5


def test_raising_places_moves_people_up_from_the_waiting_list(app, admin_client):
    set_capacity(app, 1)
    public = app.test_client()
    for i in range(3):
        public.post(register_url(), data=form_data(email=f"a{i}@numerique.gouv.fr"))
    assert [a.status for a in attendees(app)] == [
        Status.PENDING,
        Status.WAITLISTED,
        Status.WAITLISTED,
    ]
    admin_client.post(f"{BASE}/places", data={"capacity": "2"})
    assert [a.status for a in attendees(app)] == [Status.PENDING, Status.PENDING, Status.WAITLISTED]
    assert [m.recipient for m in outbox(app, "promoted")] == ["a1@numerique.gouv.fr"]
    assert event_row(app).capacity == 2 and event_row(app).seats_taken == 2
    assert "capacity" in admin_client.get("/administration/journal").get_data(as_text=True)


def test_admins_manage_organiser_accounts(app, admin_client):
    response = admin_client.post(
        "/administration/comptes",
        data={
            "email": "new@numerique.gouv.fr",
            "role": "organiser",
            "password": "provisoire-123456",
        },
    )
    assert response.status_code == 302
    assert (
        sign_in(app.test_client(), "new@numerique.gouv.fr", "provisoire-123456").status_code == 302
    )
    duplicate = admin_client.post(
        "/administration/comptes",
        data={
            "email": "new@numerique.gouv.fr",
            "role": "organiser",
            "password": "provisoire-123456",
        },
    )
    assert "Un compte existe déjà" in duplicate.get_data(as_text=True)
    from registration.accounts import find

    with app.app_context():
        user_id = find("new@numerique.gouv.fr").id
    admin_client.post(f"/administration/comptes/{user_id}/desactiver")
    assert (
        sign_in(app.test_client(), "new@numerique.gouv.fr", "provisoire-123456").status_code == 200
    )
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "create-user" in journal and "user-desactiver" in journal


def test_purge_deletes_attendees_of_long_past_events_and_tells_admins(app, admin_client):
    public = app.test_client()
    public.post(register_url(), data=form_data())
    [message] = outbox(app, "confirm_address")
    public.post(link_from(message, "/confirmer/"))
    runner = app.test_cli_runner()
    set_now(app, "2023-08-01T12:00:00+02:00")  # the event ended 61 days ago
    assert (
        "Aucun événement"
        in runner.invoke(args=["attendees", "purge", "--older-than", "90d"]).output
    )
    assert len(attendees(app)) == 1
    set_now(app, "2023-09-01T12:00:00+02:00")
    result = runner.invoke(args=["attendees", "purge", "--older-than", "90d"])
    assert f"{SLUG} : 1 inscription(s) supprimée(s)" in result.output
    assert attendees(app) == [] and event_row(app).seats_taken == 0
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "purge" in journal and "1 inscription(s) supprimée(s)" in journal
    bad = runner.invoke(args=["attendees", "purge", "--older-than", "trois mois"])
    assert bad.exit_code != 0
