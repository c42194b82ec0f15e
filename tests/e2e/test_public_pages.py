"""A person opens the event page and the DINUM page in chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..conftest import SLUG
from .conftest import check_accessibility

pytestmark = pytest.mark.e2e


def test_event_page_then_follow_the_registration_button(live_server, page, tmp_path):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/agenda/{SLUG}/")
    expect(page).to_have_title(re.compile("^La Dinum en action"))
    expect(page.locator("h1")).to_have_text("La Dinum en action : lancement de la feuille de route")
    expect(page.locator("#date-simulee")).to_be_visible()
    expect(page.locator("#etat-inscriptions")).to_contain_text(
        "Inscriptions ouvertes jusqu’au vendredi 26 mai 2023 à 18h00"
    )
    check_accessibility(page, tmp_path, "evenement")
    state_box = page.locator("#etat-inscriptions").bounding_box()
    footer_box = page.locator("footer").bounding_box()
    assert state_box["y"] + state_box["height"] <= footer_box["y"]  # nothing spills over

    page.locator("#etat-inscriptions").get_by_role("link", name="S’inscrire").click()
    expect(page).to_have_url(f"{live_server.url}/agenda/{SLUG}/inscription")
    expect(page.get_by_label("Prénom")).to_be_visible()
    check_accessibility(page, tmp_path, "formulaire")


def test_body_button_leads_to_the_form(live_server, page):
    page.goto(f"{live_server.url}/agenda/{SLUG}/")
    page.locator(".app-content").get_by_role("link", name="S'inscrire").click()
    expect(page).to_have_url(f"{live_server.url}/agenda/{SLUG}/inscription")


def test_dinum_page_accordion_opens_and_closes(live_server, page, tmp_path):
    page.goto(f"{live_server.url}/dinum/")
    expect(page).to_have_title(re.compile("^La DINUM"))
    button = page.get_by_role("button", name="Version accessible de l'organigramme")
    panel = page.locator("#organigramme")
    expect(panel).to_be_hidden()
    check_accessibility(page, tmp_path, "dinum")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("Chef du département : Jérémie Vallet")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(panel).to_be_hidden()


@pytest.mark.parametrize(
    "path", ["/accessibilite", "/mentions-legales", "/donnees-personnelles", "/gestion-des-cookies"]
)
def test_footer_pages_are_accessible(live_server, page, tmp_path, path):
    page.goto(live_server.url + path)
    check_accessibility(page, tmp_path, path.strip("/"))


def test_not_found_page_is_accessible(live_server, page, tmp_path):
    response = page.goto(f"{live_server.url}/nulle-part/")
    assert response.status == 404
    check_accessibility(page, tmp_path, "404")
