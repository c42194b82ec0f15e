"""The back office in chromium: axe-core on every staff page at 375 and 1,280 px; the audit
log in French; disabling an account; an organiser's actions on a registration; the printed
sign-in sheet."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from registration import mail
from registration.backoffice import api
from registration.db import transaction
from registration.models import OutboxStatus, Registration, Status

from ..conftest import WITH_QUESTIONS
from ..factories import PASSWORD, make_record, make_registration, make_user
from .helpers import WIDTHS, check_accessibility, mail_files, settle, wait_for

pytestmark = pytest.mark.e2e

TITLE = "Atelier des communs numériques"
ADMIN = "admin@numerique.gouv.fr"
# 15 mm in CSS pixels (96 per inch), less a hair for rounding.
FIFTEEN_MM = 15 / 25.4 * 96 - 0.5


def sign_in(page: Page, url: str, email: str = ADMIN) -> None:
    page.goto(f"{url}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")


def failed_message(app, event) -> None:
    """A confirmation e-mail that failed for good, long error and all."""
    registration = make_registration(app, event, email="echec.envoi@numerique.gouv.fr")
    with app.test_request_context(), transaction() as session:
        message = mail.queue(
            session, "confirmed", event, session.get(Registration, registration.id)
        )
        message.status = OutboxStatus.FAILED
        message.attempts = 5
        message.last_error = "ConnectionRefusedError: [Errno 111] Connection refused " * 3


def seed_everything(app, event) -> Registration:
    """Something on every staff page: attendees of each status, a verification request, a
    failed e-mail, audit entries. Returns a waiting-list registration."""
    make_user(app, ADMIN, "admin")
    make_user(app, "orga.tres.long.nom.de.compte@numerique.gouv.fr", "organiser")
    make_record(app, event, capacity=3)
    for i, name in enumerate(("Lefèvre-Dubois de la Tour", "Martin", "Abadie")):
        make_registration(
            app,
            event,
            last_name=name,
            employer="Direction interministérielle du numérique (DINUM)",
            answers={"atelier": "Logiciels libres"},
            email=f"agent{i}@numerique.gouv.fr",
        )
    make_registration(app, event, Status.PENDING, last_name="Attente")
    make_registration(
        app,
        event,
        Status.REVIEW,
        email="agent@mairie-exemple.fr",
        email_confirmed_at=app.config["FROZEN_NOW"],
        justification="Agente de la mairie.",
    )
    failed_message(app, event)
    with app.app_context():
        api.set_registration_open(event, ADMIN, is_open=False, notice="Complet, merci !")
        api.set_registration_open(event, ADMIN, is_open=True)
        api.log_action(ADMIN, "user-desactiver", details="ancien.agent@numerique.gouv.fr")
    return make_registration(app, event, Status.WAITLISTED, last_name="Zola")


def staff_pages(url: str, waiting: Registration) -> dict[str, str]:
    organiser = f"{url}/organisation/{WITH_QUESTIONS}"
    admin = f"{url}/administration/{WITH_QUESTIONS}"
    return {
        "evenements": f"{url}/organisation/",
        "tableau-de-bord": f"{organiser}/",
        "inscrits": f"{organiser}/inscrits",
        "fiche-inscrit": f"{organiser}/inscrits/{waiting.public_id}",
        "confirmer-annulation": f"{organiser}/inscrits/{waiting.public_id}/annuler",
        "courriels-en-echec": f"{url}/organisation/courriels",
        "demandes": f"{organiser}/demandes",
        "journal": f"{url}/administration/journal",
        "comptes": f"{url}/administration/comptes",
        "administration-evenement": f"{admin}/",
        "confirmer-fermeture": f"{admin}/fermer",
        "confirmer-reouverture": f"{admin}/rouvrir",
        "emargement": f"{organiser}/emargement",
        "mot-de-passe": f"{url}/compte/mot-de-passe",
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_every_staff_page_passes_axe_at_both_widths(live_server, page, tmp_path, event, width):
    waiting = seed_everything(live_server.app, event)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url)
    # Entries in the audit log, made by clicking.
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    with page.expect_download():
        page.get_by_role("link", name="CSV avec virgules").click()
    pages = staff_pages(live_server.url, waiting)
    for name, address in pages.items():
        page.goto(address)
        settle(page)
        check_accessibility(page, tmp_path, name, widths=(width,))
        # Nothing spills sideways: wide tables scroll inside their own box.
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow} px wide at {width} px"
    # The disabling confirmation, reached as a person would.
    page.goto(pages["comptes"])
    page.get_by_role("link", name="Désactiver le compte orga.tres.long").click()
    check_accessibility(page, tmp_path, "confirmer-desactivation", widths=(width,))


def test_the_audit_log_reads_in_french(live_server, page, tmp_path, event):
    app = live_server.app
    make_user(app, ADMIN, "admin")
    make_record(app, event)
    make_registration(app, event, last_name="Dupont")
    sign_in(page, live_server.url)
    admin = f"{live_server.url}/administration/{WITH_QUESTIONS}/"

    page.goto(admin)
    page.get_by_role("link", name="Fermer les inscriptions").click()
    page.get_by_role("button", name="Confirmer : fermer les inscriptions").click()
    expect(page.get_by_role("status")).to_have_text("Les inscriptions sont fermées.")
    expect(page.locator("#etat-admin")).to_have_text(
        "Fermées par l’administration : plus personne ne peut s’inscrire."
    )
    page.get_by_role("link", name="Rouvrir les inscriptions").click()
    page.get_by_role("button", name="Confirmer : rouvrir les inscriptions").click()
    # One full stop, never two (« … fermées.. » was the bug).
    expect(page.locator("#etat-admin")).to_have_text(
        re.compile(r"^Ouvertes par l’administration\. Inscriptions ouvertes jusqu’au .*[^.]\.$")
    )

    page.get_by_label("Nombre de places").fill("250")
    page.get_by_role("button", name="Enregistrer le nombre de places").click()
    page.get_by_role("button", name="Enregistrer le nombre de places").click()  # unchanged

    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    page.get_by_label("Rechercher").fill("dupont")
    page.get_by_label("Statut").select_option(label="Confirmée")
    page.get_by_role("button", name="Filtrer").click()
    with page.expect_download():
        page.get_by_role("link", name="CSV avec virgules").click()
    page.get_by_role("link", name="Feuille d’émargement").click()
    expect(page.locator("h1")).to_have_text("Feuille d’émargement")

    page.goto(f"{live_server.url}/administration/journal")
    rows = page.locator("#journal tbody tr")
    cells = [
        [cell.strip() for cell in row.locator("td").all_inner_texts()[1:]] for row in rows.all()
    ]
    assert cells == [
        [
            ADMIN,
            "Export CSV (tableur, RFC 4180)",
            TITLE,
            "recherche : dupont ; statut : confirmée",
        ],
        [ADMIN, "Capacité : 100 → 250", TITLE, ""],
        [ADMIN, "Inscriptions rouvertes", TITLE, ""],
        [ADMIN, "Inscriptions fermées", TITLE, ""],
    ]
    check_accessibility(page, tmp_path, "journal-francais")


def test_disabling_an_account_asks_first(live_server, page, tmp_path):
    app = live_server.app
    make_user(app, ADMIN, "admin")
    make_user(app, "orga@numerique.gouv.fr", "organiser")
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/administration/comptes")
    row = page.locator("#comptes tr", has_text="orga@numerique.gouv.fr")
    expect(row.locator(".fr-badge--success")).to_have_text("Actif")

    row.get_by_role("link", name="Désactiver").click()
    expect(page.locator("h1")).to_have_text("Désactiver le compte orga@numerique.gouv.fr ?")
    page.get_by_role("link", name="Annuler").click()  # changed their mind: nothing happens
    expect(row.locator(".fr-badge--success")).to_have_text("Actif")

    row.get_by_role("link", name="Désactiver").click()
    page.get_by_role("button", name="Confirmer : désactiver le compte").click()
    expect(page.get_by_role("status")).to_have_text("Compte désactivé : orga@numerique.gouv.fr.")
    expect(row.locator(".fr-badge--error")).to_have_text("Désactivé")
    row.get_by_role("button", name="Réactiver").click()
    expect(row.locator(".fr-badge--success")).to_have_text("Actif")
    check_accessibility(page, tmp_path, "comptes-badges")


def test_an_organiser_cancels_resends_and_moves_up(live_server, page, tmp_path, event):
    app = live_server.app
    make_user(app, "orga@numerique.gouv.fr", "organiser")
    make_record(app, event, capacity=1)
    make_registration(app, event, email="assis@numerique.gouv.fr", last_name="Assis")
    make_registration(
        app, event, Status.WAITLISTED, email="attente@numerique.gouv.fr", last_name="Attente"
    )
    make_registration(
        app,
        event,
        Status.WAITLISTED,
        email="second@numerique.gouv.fr",
        last_name="Second",
        created_at=app.config["FROZEN_NOW"] + timedelta(minutes=1),
    )
    make_registration(app, event, Status.PENDING, email="lent@numerique.gouv.fr", last_name="Lent")
    sign_in(page, live_server.url, "orga@numerique.gouv.fr")
    folder = tmp_path / "mail"

    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    row = page.locator("#inscrits tr", has_text="Second")
    expect(row.locator(".fr-badge--warning")).to_have_text("Liste d’attente")
    expect(page.locator("#inscrits tr", has_text="Assis").locator(".fr-badge")).to_have_class(
        re.compile("fr-badge--success")
    )

    # Full: moving someone up is refused, in French.
    row.get_by_role("link", name="Second Camille").click()
    page.get_by_role("button", name="Sortir de la liste d’attente").click()
    expect(page.locator(".fr-alert--error")).to_contain_text("Aucune place libre")

    # A pending registration gets a fresh link.
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    page.get_by_role("link", name="Lent Camille").click()
    page.get_by_role("button", name="Renvoyer le lien de confirmation").click()
    expect(page.get_by_role("status")).to_have_text(
        "Un nouveau lien de confirmation est envoyé à lent@numerique.gouv.fr."
    )
    wait_for(lambda: mail_files(folder, "confirm_address"), "confirmation e-mail")

    # Cancelling a seat, confirmed first: the agent is told, the first in line moves up.
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    page.get_by_role("link", name="Assis Camille").click()
    page.get_by_role("link", name="Annuler l’inscription").click()
    check_accessibility(page, tmp_path, "confirmer-annulation")
    page.get_by_role("button", name="Confirmer : annuler l’inscription").click()
    expect(page.get_by_role("status")).to_have_text(
        "L’inscription de Camille Assis est annulée ; un e-mail le lui annonce."
    )
    expect(page.locator("#statut")).to_have_text("Annulée")
    expect(page.locator("#actions")).to_have_count(0)
    (cancelled,) = wait_for(
        lambda: mail_files(folder, "cancelled_by_organiser"), "cancellation e-mail"
    )
    assert cancelled["To"] == "assis@numerique.gouv.fr"
    assert mail_files(folder, "cancelled") == []  # the agent's own words are not sent
    (promoted,) = wait_for(lambda: mail_files(folder, "promoted"), "promotion e-mail")
    assert promoted["To"] == "attente@numerique.gouv.fr"
    check_accessibility(page, tmp_path, "fiche-annulee")

    # A seat comes free while Second still waits (the file's number of places was raised, and
    # nobody moved the list up yet): the organiser moves Second up, and Second is told.
    make_record(app, event, capacity=2)
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    page.get_by_role("link", name="Second Camille").click()
    page.get_by_role("button", name="Sortir de la liste d’attente").click()
    expect(page.get_by_role("status")).to_have_text(
        "Camille Second sort de la liste d’attente et obtient une place ; un e-mail le lui annonce."
    )
    expect(page.locator("#statut")).to_have_text("Confirmée")
    second = "second@numerique.gouv.fr"
    wait_for(
        lambda: [m for m in mail_files(folder, "promoted") if m["To"] == second],
        "promotion e-mail to Second",
    )
    check_accessibility(page, tmp_path, "fiche-sortie-liste-attente")


def test_the_sign_in_sheet_prints_with_title_date_and_page_numbers(
    live_server, page, tmp_path, event
):
    pypdf = pytest.importorskip("pypdf")
    app = live_server.app
    make_user(app, "orga@numerique.gouv.fr", "organiser")
    names = [f"Nom{i:02d}" for i in range(40)]
    for name in reversed(names):
        make_registration(app, event, last_name=name, employer="DINUM")
    make_registration(app, event, last_name="Émile", first_name="Zoé")
    make_registration(app, event, last_name="emery", first_name="Ali")
    make_registration(
        app,
        event,
        last_name="Anticonstitutionnellement-Développementdurable",
        employer="Ministère de la Transition écologique et de la Cohésion des territoires",
    )
    sign_in(page, live_server.url, "orga@numerique.gouv.fr")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/emargement")
    settle(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    surnames = page.locator("#emargement tbody tr td:first-child").all_inner_texts()
    assert surnames[:3] == ["Anticonstitutionnellement-Développementdurable", "emery", "Émile"]
    assert surnames[3:] == names

    page.emulate_media(media="print")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    page.screenshot(path=str(tmp_path / "emargement-impression.png"), full_page=True)
    heights = page.locator("#emargement tbody tr").evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    assert min(heights) >= FIFTEEN_MM
    pdf = pypdf.PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True)))
    pages = [p.extract_text() for p in pdf.pages]
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert TITLE in text, f"page {number}"
        assert "jeudi 15 juin 2023" in text, f"page {number}"
        assert f"Page {number} sur {len(pages)}" in text
