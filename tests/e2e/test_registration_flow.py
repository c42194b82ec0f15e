"""A person registers in chromium: mistakes first, then a valid form, then the e-mailed link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from registration.models import Status

from ..conftest import WITH_QUESTIONS
from ..factories import link_from, make_record, outbox, registrations
from .helpers import check_accessibility, fill_identity, tick

pytestmark = pytest.mark.e2e


def fill_valid(page: Page, email_address: str = "camille.durand@numerique.gouv.fr") -> None:
    fill_identity(page, email_address)
    tick(page, "Logiciels libres")  # the required "Atelier du matin"
    tick(page, "Gouvernance")


def test_register_with_mistakes_then_confirm(live_server, page, tmp_path):
    page.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page).to_have_title(re.compile("^Erreur : "))
    expect(page.locator("#resume-erreurs")).to_contain_text("Le formulaire contient")
    first_name = page.get_by_role("textbox", name="Prénom")
    expect(first_name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#first_name-erreur")).to_have_text("Renseignez votre prénom.")
    check_accessibility(page, tmp_path, "formulaire-erreurs")

    # A private address: explained, nothing lost.
    fill_valid(page, email_address="camille@gmail.com")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("#eligibilite")).to_contain_text("réservé aux agents publics")
    expect(page.get_by_role("textbox", name="Fonction")).to_have_value("Cheffe de projet")
    expect(page.get_by_role("radio", name="Logiciels libres")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Gouvernance")).to_be_checked()
    check_accessibility(page, tmp_path, "formulaire-eligibilite")

    page.get_by_label("Adresse e-mail professionnelle").fill("camille.durand@numerique.gouv.fr")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("h1")).to_have_text("Vérifiez votre messagerie")
    expect(page.locator("#resultat")).to_contain_text("camille.durand@numerique.gouv.fr")
    expect(page.locator("#courriels-demo")).to_contain_text(".eml")
    check_accessibility(page, tmp_path, "inscription-envoyee")

    [message] = outbox(live_server.app, "confirm_address")
    page.goto(live_server.url + link_from(message, "/confirmer/"))
    check_accessibility(page, tmp_path, "confirmer")
    page.get_by_role("button", name="Confirmer mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    check_accessibility(page, tmp_path, "mon-inscription")
    [registration] = registrations(live_server.app)
    assert registration.status == Status.CONFIRMED
    assert registration.answers == {"atelier": "Logiciels libres", "sujets": ["Gouvernance"]}


def test_a_full_event_says_so_before_and_after(live_server, page, tmp_path, event):
    make_record(live_server.app, event, capacity=0)
    page.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    expect(page.locator("#liste-attente")).to_contain_text("Toutes les places sont prises")
    check_accessibility(page, tmp_path, "formulaire-complet")
    fill_valid(page)
    page.get_by_role("button", name="Rejoindre la liste d’attente").click()
    expect(page.locator("#resultat-liste-attente")).to_contain_text("L’événement est complet")
    check_accessibility(page, tmp_path, "inscription-liste-attente")
    [registration] = registrations(live_server.app)
    assert registration.status == Status.PENDING  # on the list once the address is proven

    [message] = outbox(live_server.app, "confirm_address")
    page.goto(live_server.url + link_from(message, "/confirmer/"))
    page.get_by_role("button", name="Confirmer mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("Liste d’attente")
    [registration] = registrations(live_server.app)
    assert registration.status == Status.WAITLISTED
