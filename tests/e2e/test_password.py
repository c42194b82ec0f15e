"""An organiser changes their password in chromium: errors next to the fields, this session
kept, the session in another browser ended."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ..conftest import WITH_QUESTIONS
from ..factories import PASSWORD, make_user
from .helpers import check_accessibility, sign_in_as

pytestmark = pytest.mark.e2e

ORGA = "orga@numerique.gouv.fr"
NEW_PASSWORD = "une toute nouvelle phrase secrète"


def fill_password_form(page: Page, current: str, new: str, confirmation: str) -> None:
    page.get_by_label("Mot de passe actuel").fill(current)
    page.get_by_label(re.compile("^Nouveau mot de passe")).fill(new)
    page.get_by_label("Confirmation du nouveau mot de passe").fill(confirmation)
    page.get_by_role("button", name="Changer le mot de passe").click()


def test_organiser_changes_their_password(live_server, browser, page, tmp_path):
    make_user(live_server.app, ORGA, "organiser")
    # The same account, signed in in another browser.
    elsewhere = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    other = elsewhere.new_page()
    other.goto(f"{live_server.url}/connexion")
    other.get_by_label("Adresse e-mail").fill(ORGA)
    other.get_by_label("Mot de passe").fill(PASSWORD)
    other.get_by_role("button", name="Se connecter").click()
    expect(other.locator("h1")).to_have_text("Espace organisateur")

    sign_in_as(page, live_server.url, WITH_QUESTIONS, ORGA, tmp_path)
    page.get_by_role("link", name="Mot de passe").click()
    expect(page).to_have_title("Changer de mot de passe – Inscriptions – Communs")
    check_accessibility(page, tmp_path, "mot-de-passe")

    # A wrong current password, and a guessable new one: each error under its field.
    fill_password_form(page, "pas le bon mot de passe", "xxxxxxxxxxxx", "xxxxxxxxxxxx")
    expect(page.locator("#current_password-erreur")).to_have_text(
        "Le mot de passe actuel est incorrect."
    )
    expect(page.locator("#current_password")).to_have_attribute("aria-invalid", "true")
    fill_password_form(page, PASSWORD, "xxxxxxxxxxxx", "xxxxxxxxxxxx")
    expect(page.locator("#new_password-erreur")).to_contain_text("trop facile à deviner")
    expect(page.locator("#resume-erreurs")).to_contain_text("Nouveau mot de passe")
    check_accessibility(page, tmp_path, "mot-de-passe-erreurs")
    fill_password_form(page, PASSWORD, NEW_PASSWORD, "une autre phrase")
    expect(page.locator("#confirmation-erreur")).to_have_text(
        "Les deux mots de passe ne sont pas identiques."
    )

    fill_password_form(page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    expect(page.get_by_role("status")).to_contain_text("Votre mot de passe est changé.")
    page.reload()
    expect(page.locator("h1")).to_have_text("Espace organisateur")  # still signed in here

    other.reload()  # the other browser's session has ended
    expect(other.locator("h1")).to_have_text("Connexion à l’espace organisateur")
    other.get_by_label("Adresse e-mail").fill(ORGA)
    other.get_by_label("Mot de passe").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Se connecter").click()
    expect(other.locator("h1")).to_have_text("Espace organisateur")
    elsewhere.close()

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("link", name="Espace organisateur")).to_be_visible()
