"""An event with its own questions, end to end in chromium: the agent answers them, the
organiser reads the answers on the detail page, the dashboard and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from registration.models import Status

from ..conftest import WITH_QUESTIONS, WITHOUT_QUESTIONS
from ..factories import PASSWORD, make_registration, make_user, registrations
from .helpers import check_accessibility, fill_identity, link_in, mail_files, tick, wait_for

pytestmark = pytest.mark.e2e

TITLE = "Atelier des communs numériques"
ORGANISER = "orga@numerique.gouv.fr"


def answer_row(page: Page, label: str):
    """The <dd> that follows the <dt> of a question on the attendee's page."""
    return page.locator("dt", has_text=label).locator("xpath=following-sibling::dd[1]")


def counted(option: str, count: int) -> re.Pattern[str]:
    """A row of a dashboard table: the option, then its count, and nothing else."""
    return re.compile(rf"^\s*{re.escape(option)}\s*{count}\s*$")


def sign_in(browser: Browser, server_url: str, tmp_path: Path) -> Page:
    """The organiser, in their own browser."""
    page = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris").new_page()
    page.goto(f"{server_url}/connexion")
    page.get_by_label("Adresse e-mail").fill(ORGANISER)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    check_accessibility(page, tmp_path, "organisateur-espace")
    return page


def test_the_agent_answers_the_questions_and_the_organiser_reads_them(
    live_server, browser, page, tmp_path, event
):
    # --- The agent: from the agenda to the form.
    page.goto(f"{live_server.url}/")
    check_accessibility(page, tmp_path, "agenda")
    page.get_by_role("link", name=TITLE).click()
    expect(page.locator("h1")).to_have_text(TITLE)
    check_accessibility(page, tmp_path, "evenement")
    page.locator("#etat-inscriptions").get_by_role("link", name="S’inscrire").click()
    expect(page).to_have_url(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    atelier = page.locator("fieldset#q_atelier")
    expect(atelier.locator("legend")).to_contain_text("Atelier du matin")
    expect(page.locator("fieldset#q_sujets legend")).to_contain_text("(facultatif)")
    check_accessibility(page, tmp_path, "formulaire-questions")

    # Everything but the required question: the error sits in its fieldset and in the summary.
    fill_identity(page)
    page.get_by_role("button", name="S’inscrire").click()
    expect(page).to_have_title(re.compile("^Erreur : "))
    expect(atelier).to_have_class(re.compile(r"\bfr-fieldset--error\b"))
    expect(atelier.locator("#q_atelier-erreur")).to_have_text("Choisissez une réponse.")
    expect(atelier).to_have_attribute("aria-labelledby", "q_atelier-legende q_atelier-erreur")
    summary = page.locator("#resume-erreurs")
    expect(summary).to_contain_text("Le formulaire contient une erreur")
    expect(summary.get_by_role("link")).to_have_text(["Atelier du matin : Choisissez une réponse."])
    expect(summary.get_by_role("link")).to_have_attribute("href", "#q_atelier")
    expect(page.get_by_role("textbox", name="Fonction")).to_have_value("Cheffe de projet")
    check_accessibility(page, tmp_path, "formulaire-question-manquante")
    assert registrations(live_server.app) == []

    tick(page, "Données ouvertes")
    tick(page, "Gouvernance")
    tick(page, "Communauté")
    page.get_by_label("Régime alimentaire").fill("végétarien")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("h1")).to_have_text("Vérifiez votre messagerie")
    expect(page.locator("#resultat")).to_contain_text("camille.durand@numerique.gouv.fr")
    check_accessibility(page, tmp_path, "inscription-envoyee")

    # --- The e-mail, written as a file once the response has gone.
    [message] = wait_for(
        lambda: mail_files(tmp_path / "mail", "confirm_address"), "confirmation e-mail file"
    )
    assert message["To"] == "camille.durand@numerique.gouv.fr"
    confirm_link = link_in(message, "/confirmer/")
    assert confirm_link.startswith(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription/")
    page.goto(confirm_link)
    check_accessibility(page, tmp_path, "confirmer")
    page.get_by_role("button", name="Confirmer mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    check_accessibility(page, tmp_path, "mon-inscription")
    [registration] = registrations(live_server.app)
    assert registration.status == Status.CONFIRMED
    assert registration.answers == {
        "atelier": "Données ouvertes",
        "sujets": ["Gouvernance", "Communauté"],
        "regime": "végétarien",
    }

    # A second agent, written directly, so that the counts add up over two registrations.
    make_registration(
        live_server.app,
        event,
        email="zoe@interieur.gouv.fr",
        first_name="Zoé",
        last_name="Martin",
        answers={"atelier": "Accessibilité", "sujets": ["Gouvernance", "Financement"]},
    )

    # --- The organiser.
    make_user(live_server.app, ORGANISER, "organiser")
    orga = sign_in(browser, live_server.url, tmp_path)
    try:
        orga.get_by_role("link", name=TITLE).click()
        sujets = orga.locator("table#question-sujets")
        expect(sujets.locator("tbody tr")).to_have_text(
            [
                counted("Gouvernance", 2),
                counted("Financement", 1),
                counted("Communauté", 1),
            ]
        )
        expect(orga.locator("table#question-atelier tbody tr")).to_have_text(
            [
                counted("Données ouvertes", 1),
                counted("Logiciels libres", 0),
                counted("Accessibilité", 1),
            ]
        )
        check_accessibility(orga, tmp_path, "organisateur-tableau-de-bord")

        orga.get_by_role("link", name="Inscrits", exact=True).click()
        expect(orga.locator("#nombre-resultats")).to_have_text("2 inscriptions.")
        orga.get_by_role("link", name="Durand Camille").click()
        expect(orga.locator("h1")).to_have_text("Camille Durand")
        expect(answer_row(orga, "Atelier du matin")).to_have_text("Données ouvertes")
        expect(answer_row(orga, "Sujets qui vous intéressent")).to_have_text(
            "Gouvernance, Communauté"
        )
        expect(answer_row(orga, "Régime alimentaire")).to_have_text("végétarien")
        expect(orga.locator("#historique")).to_contain_text("inscription reçue")
        expect(orga.locator("#historique")).to_contain_text("adresse confirmée")
        check_accessibility(orga, tmp_path, "organisateur-fiche")
        orga.go_back()

        with orga.expect_download() as download_info:
            orga.get_by_role("link", name="Exporter en CSV (Excel)").click()
        text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    finally:
        orga.context.close()
    header, *rows = csv.reader(io.StringIO(text), delimiter=";")
    assert header[-5:] == [
        "Atelier du matin",
        "Sujets : Gouvernance",
        "Sujets : Financement",
        "Sujets : Communauté",
        "Régime alimentaire",
    ]
    by_email = {
        row[header.index("Adresse e-mail")]: dict(zip(header, row, strict=True)) for row in rows
    }
    assert set(by_email) == {"camille.durand@numerique.gouv.fr", "zoe@interieur.gouv.fr"}
    camille = by_email["camille.durand@numerique.gouv.fr"]
    assert camille["Atelier du matin"] == "Données ouvertes"
    assert camille["Sujets : Gouvernance"] == "oui"
    assert camille["Sujets : Financement"] == ""
    assert camille["Sujets : Communauté"] == "oui"
    assert camille["Régime alimentaire"] == "végétarien"
    zoe = by_email["zoe@interieur.gouv.fr"]
    assert [zoe[f"Sujets : {o}"] for o in ("Gouvernance", "Financement", "Communauté")] == [
        "oui",
        "oui",
        "",
    ]
    assert zoe["Régime alimentaire"] == ""


def test_the_event_without_questions_shows_no_question(live_server, page, tmp_path):
    page.goto(f"{live_server.url}/agenda/{WITHOUT_QUESTIONS}/inscription")
    expect(page.get_by_label("Prénom")).to_be_visible()
    form = page.locator("form[action$='/inscription']")
    expect(form.locator("fieldset > legend")).to_have_text(["Vous", "Accessibilité"])
    expect(form.locator("[name^='q_']")).to_have_count(0)
    expect(form.get_by_role("radio")).to_have_count(0)
    check_accessibility(page, tmp_path, "formulaire-sans-questions")

    # The same form on the event with questions has them: the check above can fail.
    page.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    expect(form.locator("[name^='q_']").first).to_be_attached()
