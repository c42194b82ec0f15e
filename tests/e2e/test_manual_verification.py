"""Manual verification in chromium: an agent the list does not know asks for a verification,
confirms their address; an organiser accepts; the agent gets a seat and the invitation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from registration.models import Status

from ..conftest import WITH_QUESTIONS
from ..factories import PASSWORD, make_registration, make_user, registrations
from .helpers import check_accessibility, link_in, mail_files, sign_in_as, tick, wait_for

pytestmark = pytest.mark.e2e

AGENT = "prenom.nom@ccas-exemple.fr"
ORGA = "orga@numerique.gouv.fr"
JUSTIFICATION = "Je suis travailleuse sociale au CCAS d’Exemple-sur-Mer, qui a son propre domaine."
MESSAGE = "Bienvenue à l’atelier, nous avons vérifié auprès de votre CCAS."
TITLE = "Atelier des communs numériques"


def delivered(app, folder, kind: str) -> list:
    """The e-mails of one kind, once written (the live server's outbox sends them)."""
    return wait_for(lambda: mail_files(folder, kind), f"{kind} e-mail")


def fill_form(page: Page) -> None:
    page.get_by_role("textbox", name="Prénom").fill("Léa")
    page.locator("#last_name").fill("Martin")
    page.get_by_label("Adresse e-mail professionnelle").fill(AGENT)
    page.get_by_label("Administration ou employeur").fill("CCAS d’Exemple-sur-Mer")
    page.get_by_role("textbox", name="Fonction").fill("Travailleuse sociale")
    tick(page, "Logiciels libres")


def test_an_agent_outside_the_list_is_verified_and_accepted(live_server, page, tmp_path):
    mail_dir = tmp_path / "mail"
    make_user(live_server.app, ORGA, "organiser")

    # The agent fills in the form, and is refused with an offer of verification.
    page.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    check_accessibility(page, tmp_path, "formulaire")
    fill_form(page)
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("#eligibilite")).to_contain_text("réservé aux agents publics")
    ask = page.get_by_role("button", name="Je suis agent public : demander une vérification")
    expect(ask).to_be_visible()
    check_accessibility(page, tmp_path, "formulaire-refuse")

    # They ask: the form comes back with what they typed, and a justification field.
    ask.click()
    expect(page.locator("#verification legend")).to_have_text("Demande de vérification")
    expect(page.get_by_label("Adresse e-mail professionnelle")).to_have_value(AGENT)
    expect(page.get_by_role("textbox", name="Fonction")).to_have_value("Travailleuse sociale")
    expect(page.get_by_role("radio", name="Logiciels libres")).to_be_checked()
    check_accessibility(page, tmp_path, "formulaire-verification")
    page.get_by_label("Pourquoi votre adresse n’est-elle pas reconnue ?").fill(JUSTIFICATION)
    page.get_by_role("button", name="Envoyer ma demande de vérification").click()
    expect(page.locator("#resultat-verification")).to_contain_text("Votre demande sera vérifiée")
    expect(page.locator("#resultat")).to_contain_text(AGENT)
    check_accessibility(page, tmp_path, "demande-envoyee")
    [request] = registrations(live_server.app)
    assert request.status == Status.REVIEW and request.justification == JUSTIFICATION

    # They confirm their address with the e-mailed link.
    [confirm_mail] = delivered(live_server.app, mail_dir, "confirm_address")
    assert confirm_mail["To"] == AGENT
    page.goto(link_in(confirm_mail, "/confirmer/"))
    check_accessibility(page, tmp_path, "confirmer")
    page.get_by_role("button", name="Confirmer mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("À vérifier")
    check_accessibility(page, tmp_path, "mon-inscription-a-verifier")
    delivered(live_server.app, mail_dir, "review_received")

    # An organiser signs in, finds the request, and accepts it with a message.
    organiser = page.context.browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    try:
        staff = organiser.new_page()
        staff.set_default_timeout(10_000)
        sign_in_as(staff, live_server.url, WITH_QUESTIONS, ORGA, tmp_path)
        staff.get_by_role("link", name=TITLE).click()
        check_accessibility(staff, tmp_path, "tableau-de-bord")
        staff.get_by_role("link", name="Demandes à vérifier").click()
        expect(staff.locator("h1")).to_have_text("Demandes à vérifier")
        card = staff.locator(f"#demande-{request.public_id}")
        expect(card).to_contain_text("Léa Martin")
        expect(card.locator(".app-domaine")).to_have_text("ccas-exemple.fr")
        expect(card.locator(".app-justification")).to_have_text(JUSTIFICATION)
        expect(card).to_contain_text("CCAS d’Exemple-sur-Mer")
        check_accessibility(staff, tmp_path, "demandes-a-verifier")
        card.get_by_label("Message pour l’agent (facultatif)").fill(MESSAGE)
        card.get_by_role("button", name="Accepter").click()
        expect(staff.locator(".fr-alert--success")).to_contain_text(
            "Demande de Léa Martin acceptée ; un e-mail le lui annonce."
        )
        expect(staff.locator("#aucune-demande")).to_be_visible()
        check_accessibility(staff, tmp_path, "demande-acceptee")
    finally:
        organiser.close()

    # The agent gets the decision with the message and the invitation; their seat is theirs.
    [accepted] = delivered(live_server.app, mail_dir, "review_accepted")
    assert accepted["To"] == AGENT
    text = accepted.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert MESSAGE in text and "Votre place est réservée." in text
    [invite] = [part for part in accepted.iter_attachments() if part.get_filename()]
    assert invite.get_filename() == "invitation.ics"
    assert invite.get_content_type() == "text/calendar"
    ics = invite.get_content()
    ics = ics.decode() if isinstance(ics, bytes) else ics
    assert "BEGIN:VEVENT" in ics and f"{request.public_id}@" in ics
    page.goto(link_in(accepted, "/mon-inscription/"))
    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    check_accessibility(page, tmp_path, "mon-inscription-confirmee")
    [registration] = registrations(live_server.app)
    assert registration.status == Status.CONFIRMED


def test_each_request_reads_top_down_who_then_the_decision(live_server, page, tmp_path, event):
    """The card shows who asks before the buttons that decide: the name and the details come
    first on screen, as they do in the page's source and for a screen reader."""
    make_user(live_server.app, ORGA, "organiser")
    request = make_registration(
        live_server.app,
        event,
        Status.REVIEW,
        email=AGENT,
        confirmed=True,
        first_name="Léa",
        last_name="Martin",
        justification=JUSTIFICATION,
    )
    page.goto(f"{live_server.url}/connexion")
    page.get_by_label("Adresse e-mail").fill(ORGA)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/demandes")
    card = page.locator(f"#demande-{request.public_id}")
    name = card.get_by_role("heading", name="Léa Martin").bounding_box()
    justification = card.locator(".app-justification").bounding_box()
    message = card.get_by_label("Message pour l’agent (facultatif)").bounding_box()
    accept = card.get_by_role("button", name="Accepter").bounding_box()
    assert name and justification and message and accept
    check_accessibility(page, tmp_path, "demandes-ordre")
    assert name["y"] < justification["y"] < message["y"] < accept["y"]
