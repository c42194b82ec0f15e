"""An agent registers with ProConnect in chromium, against the provider on loopback: the
button, the provider's page, the prefilled form, a registration confirmed at once, and the
ProConnect session ended from the form afterwards."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..conftest import WITH_QUESTIONS
from ..factories import make_user
from .helpers import check_accessibility, mail_files, tick, wait_for

pytestmark = pytest.mark.e2e


def test_an_agent_registers_with_proconnect(live_server_factory, oidc, page, tmp_path):
    server = live_server_factory(**oidc.settings())
    oidc.redirect_uris = (f"{server.url}/proconnect/retour",)
    oidc.post_logout_uris = (f"{server.url}/proconnect/deconnexion/retour",)

    page.goto(f"{server.url}/agenda/{WITH_QUESTIONS}/inscription")
    button = page.get_by_role("button", name="S’identifier avec ProConnect")
    expect(button).to_be_visible()
    expect(page.get_by_role("link", name="Qu’est-ce que ProConnect ?")).to_have_attribute(
        "target", "_blank"
    )
    check_accessibility(page, tmp_path, "proconnect-bouton")
    button.click()

    # The provider’s own page (not ours: no axe here): the person picks their account.
    page.get_by_role("button", name=re.compile("Camille Durand")).click()

    expect(page.locator("#proconnect-identite")).to_contain_text("camille.durand@test.proconnect")
    expect(page.get_by_role("textbox", name="Prénom")).to_have_value("Camille")
    expect(page.locator("#last_name")).to_have_value("Durand")
    email = page.get_by_label("Adresse e-mail professionnelle")
    expect(email).to_have_value("camille.durand@test.proconnect.gouv.fr")
    expect(email).to_have_attribute("readonly", "")
    expect(page.get_by_label("Administration ou employeur")).to_have_value(
        "Direction interministérielle du numérique"
    )
    check_accessibility(page, tmp_path, "proconnect-prerempli")

    page.get_by_role("textbox", name="Fonction").fill("Cheffe de projet")
    tick(page, "Logiciels libres")
    page.get_by_role("button", name="S’inscrire").click()

    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    expect(page.get_by_text("Votre inscription est confirmée.")).to_be_visible()
    check_accessibility(page, tmp_path, "proconnect-inscrite")
    [message] = wait_for(lambda: mail_files(tmp_path / "mail", "confirmed"), "the e-mail")
    assert message["To"] == "camille.durand@test.proconnect.gouv.fr"
    assert mail_files(tmp_path / "mail", "confirm_address") == []

    # Back on the form: the identity is forgotten, the ProConnect session can be ended.
    page.goto(f"{server.url}/agenda/{WITH_QUESTIONS}/inscription")
    expect(page.locator("#proconnect-identite")).to_have_count(0)
    expect(page.get_by_label("Adresse e-mail professionnelle")).to_have_value("")
    sign_out = page.get_by_role("button", name="Se déconnecter de ProConnect")
    check_accessibility(page, tmp_path, "proconnect-session-ouverte")
    sign_out.click()
    expect(page).to_have_url(f"{server.url}/agenda/{WITH_QUESTIONS}/inscription")
    expect(page.get_by_role("button", name="Se déconnecter de ProConnect")).to_have_count(0)
    assert len(oidc.logouts) == 1


def test_an_organiser_signs_in_and_out_with_proconnect(live_server_factory, oidc, page, tmp_path):
    server = live_server_factory(**oidc.settings())
    oidc.redirect_uris = (f"{server.url}/proconnect/retour",)
    oidc.post_logout_uris = (f"{server.url}/proconnect/deconnexion/retour",)
    make_user(server.app, "orga@numerique.gouv.fr")

    page.goto(f"{server.url}/connexion")
    check_accessibility(page, tmp_path, "connexion-proconnect")
    page.get_by_role("button", name="S’identifier avec ProConnect").click()
    page.get_by_role("button", name=re.compile("Ornella Garnier")).click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")

    page.get_by_role("button", name="Se déconnecter").click()
    # Through ProConnect's end_session endpoint, and back home.
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/"))
    expect(page.get_by_text("Vous êtes déconnecté.")).to_be_visible()
    [logout] = oidc.logouts
    assert logout["post_logout_redirect_uri"] == f"{server.url}/proconnect/deconnexion/retour"
    page.goto(f"{server.url}/organisation/")
    expect(page).to_have_url(re.compile(r"/connexion"))
