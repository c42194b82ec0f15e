"""Organisers and admins in chromium: sign in, download the CSV, close registration."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD, SLUG, form_data, make_user, register_url
from .conftest import check_accessibility

pytestmark = pytest.mark.e2e


def sign_in_as(page, server, email: str, tmp_path) -> None:
    page.goto(f"{server.url}/agenda/{SLUG}/")
    page.get_by_role("link", name="Espace organisateur").first.click()
    expect(page).to_have_title("Connexion – Inscriptions – DINUM")
    check_accessibility(page, tmp_path, "connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill("pas le bon")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#connexion-refusee")).to_contain_text(
        "Adresse e-mail ou mot de passe incorrect."
    )
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")


def seed(server) -> None:
    server.app.config["WTF_CSRF_ENABLED"] = False
    client = server.app.test_client()
    client.post(register_url(), data=form_data(departments=["Etalab"]))
    client.post(register_url(), data=form_data(email="zoe@interieur.gouv.fr", first_name="Zoé"))
    server.app.config["WTF_CSRF_ENABLED"] = True


def test_organiser_signs_in_and_downloads_the_csv(live_server, page, tmp_path):
    make_user(live_server.app, "orga@numerique.gouv.fr", "organiser")
    seed(live_server)
    sign_in_as(page, live_server, "orga@numerique.gouv.fr", tmp_path)
    check_accessibility(page, tmp_path, "espace-organisateur")

    page.get_by_role("link", name="La Dinum en action : lancement de la feuille de route").click()
    expect(page.locator("#compteurs")).to_contain_text("En attente de confirmation")
    check_accessibility(page, tmp_path, "tableau-de-bord")

    page.get_by_role("link", name="Inscrits", exact=True).click()
    expect(page.locator("#nombre-resultats")).to_have_text("2 inscriptions.")
    check_accessibility(page, tmp_path, "inscrits")
    page.get_by_label("Rechercher").fill("zoe@")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("#nombre-resultats")).to_have_text("1 inscription.")
    page.get_by_role("link", name="Durand Zoé").click()
    expect(page.locator("#historique")).to_contain_text("inscription reçue")
    check_accessibility(page, tmp_path, "fiche-inscrit")
    page.go_back()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter en CSV (Excel)").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"inscrits-{SLUG}-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:2] == ["Nom", "Prénom"] and [r[1] for r in rows[1:]] == ["Zoé"]

    page.goto(f"{live_server.url}/organisation/{SLUG}/emargement")
    check_accessibility(page, tmp_path, "emargement")
    page.goto(f"{live_server.url}/organisation/courriels")
    check_accessibility(page, tmp_path, "courriels")
    page.goto(f"{live_server.url}/administration/{SLUG}/")
    expect(page.locator("h1")).to_have_text("Accès refusé")

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("link", name="Espace organisateur")).to_be_visible()


def test_admin_closes_registration_and_the_public_form_refuses(live_server, page, tmp_path):
    make_user(live_server.app, "admin@numerique.gouv.fr", "admin")
    public = page.context.browser.new_page()
    public.goto(f"{live_server.url}/agenda/{SLUG}/inscription")  # a form opened before closing

    sign_in_as(page, live_server, "admin@numerique.gouv.fr", tmp_path)
    page.goto(f"{live_server.url}/administration/{SLUG}/")
    check_accessibility(page, tmp_path, "administration-evenement")
    page.get_by_role("link", name="Fermer les inscriptions").click()
    check_accessibility(page, tmp_path, "confirmer-fermeture")
    page.get_by_label("Message affiché sur la page publique").fill(
        "Merci, l’événement est complet."
    )
    page.get_by_role("button", name="Confirmer : fermer les inscriptions").click()
    expect(page.locator("#etat-admin")).to_contain_text("Fermées")

    # The form that was already open is refused, and keeps what was typed.
    public.fill("#first_name", "Camille")
    public.fill("#last_name", "Durand")
    public.fill("#email", "camille.durand@numerique.gouv.fr")
    public.fill("#employer", "DINUM")
    public.fill("#job_title", "Cheffe de projet")
    public.click("label[for=certify_agent]")
    public.click("label[for=accept_privacy]")
    public.get_by_role("button", name="S’inscrire").click()
    expect(public.locator("#inscription-refusee")).to_contain_text("Les inscriptions sont fermées.")
    expect(public.locator("#job_title")).to_have_value("Cheffe de projet")
    check_accessibility(public, tmp_path, "formulaire-ferme")

    public.goto(f"{live_server.url}/agenda/{SLUG}/")
    expect(public.locator("#etat-inscriptions")).to_contain_text("Inscriptions closes")
    expect(public.locator("#message-organisateurs")).to_have_text("Merci, l’événement est complet.")
    public.goto(f"{live_server.url}/agenda/{SLUG}/inscription")
    expect(public.locator("#inscriptions-closes")).to_be_visible()
    expect(public.locator("form[action$='/inscription']")).to_have_count(0)
    public.close()

    page.goto(f"{live_server.url}/administration/comptes")
    check_accessibility(page, tmp_path, "comptes")
    page.goto(f"{live_server.url}/administration/journal")
    expect(page.locator("#journal")).to_contain_text("close")
    check_accessibility(page, tmp_path, "journal")
