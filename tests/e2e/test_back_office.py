"""Organisers and admins in chromium: sign in, download the CSV, close registration."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from registration.models import Status

from ..conftest import WITH_QUESTIONS
from ..factories import make_registration, make_user
from .helpers import check_accessibility, fill_identity, sign_in_as, tick

pytestmark = pytest.mark.e2e

TITLE = "Atelier des communs numériques"


def seed(app, event) -> None:
    """Two registrations awaiting the confirmation of their address."""
    make_registration(
        app,
        event,
        Status.PENDING,
        email="camille.durand@numerique.gouv.fr",
        answers={"atelier": "Logiciels libres", "sujets": ["Gouvernance"]},
    )
    make_registration(
        app,
        event,
        Status.PENDING,
        email="zoe@interieur.gouv.fr",
        first_name="Zoé",
        answers={"atelier": "Accessibilité"},
    )


def test_organiser_signs_in_and_downloads_the_csv(live_server, page, tmp_path, event):
    make_user(live_server.app, "orga@numerique.gouv.fr", "organiser")
    seed(live_server.app, event)
    sign_in_as(page, live_server.url, WITH_QUESTIONS, "orga@numerique.gouv.fr", tmp_path)
    check_accessibility(page, tmp_path, "espace-organisateur")

    page.get_by_role("link", name=TITLE).click()
    expect(page.locator("#compteurs")).to_contain_text("En attente de confirmation")
    check_accessibility(page, tmp_path, "tableau-de-bord")

    page.get_by_role("link", name="Inscrits", exact=True).click()
    expect(page.locator("#nombre-resultats")).to_have_text("2 inscriptions.")
    check_accessibility(page, tmp_path, "inscrits")
    page.get_by_label("Rechercher").fill("zoe@")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("#nombre-resultats")).to_have_text("1 inscription.")
    page.get_by_role("link", name="Durand Zoé").click()
    expect(page.locator("#statut")).to_have_text("En attente de confirmation")
    expect(page.locator("#historique")).to_contain_text("créée par le test")
    check_accessibility(page, tmp_path, "fiche-inscrit")
    page.go_back()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter en CSV (Excel)").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"inscrits-{WITH_QUESTIONS}-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:2] == ["Nom", "Prénom"] and [r[1] for r in rows[1:]] == ["Zoé"]

    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/emargement")
    check_accessibility(page, tmp_path, "emargement")
    page.goto(f"{live_server.url}/organisation/courriels")
    check_accessibility(page, tmp_path, "courriels")
    page.goto(f"{live_server.url}/administration/{WITH_QUESTIONS}/")
    expect(page.locator("h1")).to_have_text("Accès refusé")

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("link", name="Espace organisateur")).to_be_visible()


def test_admin_closes_registration_and_the_public_form_refuses(
    live_server, browser, page, tmp_path
):
    make_user(live_server.app, "admin@numerique.gouv.fr", "admin")
    # Someone else, in their own browser: not signed in.
    visitor = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    public = visitor.new_page()
    public.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")  # opened before closing

    sign_in_as(page, live_server.url, WITH_QUESTIONS, "admin@numerique.gouv.fr", tmp_path)
    page.goto(f"{live_server.url}/administration/{WITH_QUESTIONS}/")
    check_accessibility(page, tmp_path, "administration-evenement")
    page.get_by_role("link", name="Fermer les inscriptions").click()
    check_accessibility(page, tmp_path, "confirmer-fermeture")
    page.get_by_label("Message affiché sur la page publique").fill(
        "Merci, l’événement est complet."
    )
    page.get_by_role("button", name="Confirmer : fermer les inscriptions").click()
    expect(page.locator("#etat-admin")).to_contain_text("Fermées")

    # The form that was already open is refused, and keeps what was typed.
    fill_identity(public)
    tick(public, "Logiciels libres")
    public.get_by_role("button", name="S’inscrire").click()
    expect(public.locator("#inscription-refusee")).to_contain_text("Les inscriptions sont fermées.")
    expect(public.locator("#job_title")).to_have_value("Cheffe de projet")
    expect(public.get_by_role("radio", name="Logiciels libres")).to_be_checked()
    check_accessibility(public, tmp_path, "formulaire-ferme")

    public.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/")
    expect(public.locator("#etat-inscriptions")).to_contain_text("Inscriptions closes")
    expect(public.locator("#message-organisateurs")).to_have_text("Merci, l’événement est complet.")
    public.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    expect(public.locator("#inscriptions-closes")).to_be_visible()
    expect(public.locator("form[action$='/inscription']")).to_have_count(0)
    visitor.close()

    page.goto(f"{live_server.url}/administration/comptes")
    check_accessibility(page, tmp_path, "comptes")
    page.goto(f"{live_server.url}/administration/journal")
    expect(page.locator("#journal")).to_contain_text("Inscriptions fermées")
    check_accessibility(page, tmp_path, "journal")
