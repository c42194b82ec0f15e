"""Admin pages (registration.views.admin): closing and reopening, places, accounts, the
audit log."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from registration import accounts
from registration.backoffice import api
from registration.models import Status

from ..factories import (
    form_data,
    make_record,
    make_registration,
    make_user,
    outbox,
    record_of,
    register_url,
    registrations,
    set_now,
    sign_in,
)

SLUG = "atelier-des-communs"
BASE = f"/administration/{SLUG}"
FROM_FILE = "nombre prévu par le fichier de l’événement"
FROM_ADMIN = "nombre fixé par l’administration"
USE_FILE = "Revenir au nombre prévu par le fichier de l’événement"


def places_in_force(text: str) -> str:
    """The sentence that says which number of places is in force, on one line."""
    match = re.search(r'<p id="places-en-vigueur">(.*?)</p>', text, re.S)
    assert match, "no places-en-vigueur paragraph"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", match[1])).split())


# --- Closing and reopening ------------------------------------------------------------------


def test_closing_has_a_confirmation_step_and_takes_effect_at_once(app, admin_client, event):
    make_record(app, event)
    public = app.test_client()
    assert "<form" in public.get(register_url(event)).get_data(as_text=True)  # already open
    step = admin_client.get(f"{BASE}/fermer").get_data(as_text=True)
    assert "Confirmer : fermer les inscriptions" in step
    assert record_of(app, event).is_open  # nothing happened on GET
    response = admin_client.post(f"{BASE}/fermer", data={"notice": "Merci, c’est complet !"})
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/"

    page = public.get(f"/agenda/{SLUG}/").get_data(as_text=True)
    assert "Inscriptions closes" in page and "Merci, c’est complet !" in page
    refused = public.post(register_url(event), data=form_data(job_title="Gardé"))
    text = refused.get_data(as_text=True)
    assert "Les inscriptions sont fermées." in text and 'value="Gardé"' in text
    assert registrations(app) == []
    admin_page = admin_client.get(f"{BASE}/").get_data(as_text=True)
    assert "Fermées" in admin_page and "Rouvrir les inscriptions" in admin_page

    admin_client.post(f"{BASE}/rouvrir", data={"notice": ""})
    assert public.post(register_url(event), data=form_data()).status_code == 302
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "Inscriptions fermées" in journal and "Inscriptions rouvertes" in journal
    assert "Message public : « Merci, c’est complet ! »" in journal
    assert "Atelier des communs numériques" in journal  # the event's title, not its slug


def test_a_notice_too_long_is_refused(app, admin_client, event):
    make_record(app, event)
    response = admin_client.post(f"{BASE}/fermer", data={"notice": "x" * 501})
    assert response.status_code == 200
    assert "500 caractères au maximum." in response.get_data(as_text=True)
    assert record_of(app, event).is_open


# --- Places ---------------------------------------------------------------------------------


def test_the_event_page_says_the_files_number_is_in_force(admin_client):
    text = admin_client.get(f"{BASE}/").get_data(as_text=True)
    assert places_in_force(text) == f"100 places, {FROM_FILE} (clé inscription.places)."
    assert USE_FILE not in text  # nothing to go back to
    assert re.search(r'<input [^>]*id="capacity"[^>]*value="100"', text)


def test_the_event_page_says_the_admin_set_the_number(app, admin_client, event):
    make_record(app, event, capacity=40)
    text = admin_client.get(f"{BASE}/").get_data(as_text=True)
    assert places_in_force(text) == (
        f"40 places, {FROM_ADMIN} (le fichier de l’événement en prévoit 100)."
    )
    assert f'name="use_file" type="submit" value="{USE_FILE}"' in text


def test_the_event_page_of_an_event_without_a_limit(app, admin_client, plain_event):
    base = f"/administration/{plain_event.slug}"
    text = admin_client.get(f"{base}/").get_data(as_text=True)
    assert places_in_force(text) == f"Places illimitées, {FROM_FILE} (clé inscription.places)."
    make_record(app, plain_event, capacity=30)
    text = admin_client.get(f"{base}/").get_data(as_text=True)
    assert places_in_force(text) == (
        f"30 places, {FROM_ADMIN} (le fichier de l’événement n’en fixe pas)."
    )


def test_the_use_file_button_brings_the_files_number_back(app, admin_client, event):
    make_record(app, event, capacity=40)
    response = admin_client.post(f"{BASE}/places", data={"capacity": "40", "use_file": USE_FILE})
    assert response.status_code == 302
    record = record_of(app, event)
    assert record.capacity_overridden is False and record.capacity_override is None
    text = admin_client.get(f"{BASE}/").get_data(as_text=True)
    assert "Le nombre de places est enregistré." in text
    assert places_in_force(text) == f"100 places, {FROM_FILE} (clé inscription.places)."
    assert USE_FILE not in text
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "40 → 100 (valeur du fichier)" in journal


def test_the_use_file_button_is_refused_below_the_seats_taken(app, admin_client, event):
    make_record(app, event, capacity=150, taken=101)
    response = admin_client.post(f"{BASE}/places", data={"use_file": USE_FILE})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Le fichier prévoit 100 places, mais 101 sont déjà prises." in text
    assert 'aria-invalid="true"' in text
    assert record_of(app, event).capacity_override == 150


def test_lowering_places_below_seats_taken_is_refused(app, admin_client, event):
    make_record(app, event, capacity=5)
    for _ in range(3):
        make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)  # holds no seat
    response = admin_client.post(f"{BASE}/places", data={"capacity": "2"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Impossible de descendre à 2 places : 3 sont déjà prises" in text
    assert 'aria-invalid="true"' in text
    assert record_of(app, event).capacity_override == 5


def test_raising_places_moves_people_up_from_the_waiting_list(app, admin_client, event):
    make_record(app, event, capacity=1)
    start = app.config["FROZEN_NOW"]
    make_registration(app, event, Status.CONFIRMED, email="a0@numerique.gouv.fr", created_at=start)
    for i in (1, 2):
        make_registration(
            app,
            event,
            Status.WAITLISTED,
            email=f"a{i}@numerique.gouv.fr",
            created_at=start + timedelta(minutes=i),
        )
    response = admin_client.post(f"{BASE}/places", data={"capacity": "2"})
    assert response.status_code == 302
    assert [a.status for a in registrations(app)] == [
        Status.CONFIRMED,
        Status.CONFIRMED,
        Status.WAITLISTED,
    ]
    assert [m.recipient for m in outbox(app, "promoted")] == ["a1@numerique.gouv.fr"]
    record = record_of(app, event)
    assert record.capacity_override == 2 and record.seats_taken == 2
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "Capacité : 1 → 2" in journal


def test_an_empty_number_of_places_means_no_limit(app, admin_client, event):
    response = admin_client.post(f"{BASE}/places", data={"capacity": ""})
    assert response.status_code == 302
    record = record_of(app, event)
    assert record.capacity_overridden is True and record.capacity_override is None
    text = admin_client.get(f"{BASE}/").get_data(as_text=True)
    assert places_in_force(text) == (
        f"Places illimitées, {FROM_ADMIN} (le fichier de l’événement en prévoit 100)."
    )


@pytest.mark.parametrize("value", ["-1", "deux", "1000001"])
def test_a_number_of_places_out_of_range_is_refused(app, admin_client, event, value):
    make_record(app, event)
    response = admin_client.post(f"{BASE}/places", data={"capacity": value})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert record_of(app, event).capacity_overridden is False


def test_unknown_event_is_not_found(admin_client):
    assert admin_client.get("/administration/inconnu/").status_code == 404
    assert admin_client.post("/administration/inconnu/places", data={}).status_code == 404


# --- Accounts -------------------------------------------------------------------------------

NEW = {"email": "new@numerique.gouv.fr", "role": "organiser", "password": "provisoire-123456"}


def test_admins_manage_organiser_accounts(app, admin_client):
    response = admin_client.post("/administration/comptes", data=NEW)
    assert response.status_code == 302
    assert sign_in(app.test_client(), NEW["email"], NEW["password"]).status_code == 302
    duplicate = admin_client.post("/administration/comptes", data=NEW)
    assert "Un compte existe déjà" in duplicate.get_data(as_text=True)
    with app.app_context():
        user_id = accounts.find(NEW["email"]).id
    step = admin_client.get(f"/administration/comptes/{user_id}/desactiver")
    assert "Confirmer : désactiver le compte" in step.get_data(as_text=True)
    assert sign_in(app.test_client(), NEW["email"], NEW["password"]).status_code == 302
    admin_client.post(f"/administration/comptes/{user_id}/desactiver")
    assert sign_in(app.test_client(), NEW["email"], NEW["password"]).status_code == 200
    admin_client.post(f"/administration/comptes/{user_id}/reactiver")
    assert sign_in(app.test_client(), NEW["email"], NEW["password"]).status_code == 302
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "Compte créé : new@numerique.gouv.fr (organisateur)" in journal
    assert "Compte désactivé : new@numerique.gouv.fr" in journal
    assert "Compte réactivé : new@numerique.gouv.fr" in journal


def test_a_new_account_needs_a_long_enough_password_and_a_valid_address(app, admin_client):
    short = admin_client.post("/administration/comptes", data={**NEW, "password": "court"})
    assert "12 caractères au moins." in short.get_data(as_text=True)
    bad = admin_client.post("/administration/comptes", data={**NEW, "email": "pas une adresse"})
    assert "Saisissez une adresse e-mail valide" in bad.get_data(as_text=True)
    with app.app_context():
        assert accounts.find(NEW["email"]) is None


def test_an_admin_account_can_be_created(app, admin_client):
    admin_client.post("/administration/comptes", data={**NEW, "role": "admin"})
    client = app.test_client()
    sign_in(client, NEW["email"], NEW["password"])
    assert client.get("/administration/comptes").status_code == 200


def test_an_admin_cannot_disable_their_own_account(app, admin_client):
    with app.app_context():
        me = accounts.find("admin@numerique.gouv.fr")
    response = admin_client.post(f"/administration/comptes/{me.id}/desactiver")
    assert response.status_code == 302
    page = admin_client.get("/administration/comptes").get_data(as_text=True)
    assert "Vous ne pouvez pas désactiver votre propre compte." in page
    assert admin_client.get("/administration/comptes").status_code == 200  # still signed in
    with app.app_context():
        assert accounts.find("admin@numerique.gouv.fr").active


def test_disabling_signs_the_account_out(app, admin_client):
    make_user(app, "orga@numerique.gouv.fr")
    with app.app_context():  # make_user's row comes back expired and detached: look it up
        other_id = accounts.find("orga@numerique.gouv.fr").id
    client = app.test_client()
    sign_in(client, "orga@numerique.gouv.fr")
    assert client.get("/organisation/").status_code == 200
    admin_client.post(f"/administration/comptes/{other_id}/desactiver")
    assert client.get("/organisation/").status_code == 302


def test_an_unknown_account_is_not_found(admin_client):
    assert admin_client.post("/administration/comptes/999/desactiver").status_code == 404


# --- Audit log ------------------------------------------------------------------------------


def test_the_audit_log_shows_the_purge_latest_first(app, admin_client, event):
    make_registration(app, event)
    set_now(app, "2023-09-14T12:31:00+02:00")  # 91 days after the event ended
    with app.app_context():
        api.log_action("admin@numerique.gouv.fr", "create-user", details="x@numerique.gouv.fr")
        api.purge_registrations([event], timedelta(days=90), "flask attendees purge")
    text = admin_client.get("/administration/journal").get_data(as_text=True)
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", text)
    assert rows == [
        (
            "14/09/2023 12:31",
            "flask attendees purge",
            "Inscriptions supprimées (durée de conservation)",
        ),
        ("14/09/2023 12:31", "admin@numerique.gouv.fr", "Compte créé : x@numerique.gouv.fr"),
    ]
    assert "1 inscription(s) supprimée(s)" in text


def test_the_audit_log_is_paginated(app, admin_client):
    with app.app_context():
        for i in range(101):
            api.log_action("admin@numerique.gouv.fr", "create-user", details=f"n{i:03d}")
    first = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "n100" in first and "n001" in first and "n000" not in first
    second = admin_client.get("/administration/journal?page=2").get_data(as_text=True)
    assert "n000" in second and "n001" not in second


def test_the_audit_log_when_empty(admin_client):
    assert "Aucune action." in admin_client.get("/administration/journal").get_data(as_text=True)
