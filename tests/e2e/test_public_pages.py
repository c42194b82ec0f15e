"""A person opens the agenda, an event page and content pages in chromium."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from ..conftest import CONTENT, WITH_QUESTIONS, WITHOUT_QUESTIONS
from .helpers import check_accessibility

pytestmark = pytest.mark.e2e

TITLE = "Atelier des communs numériques"

# The legacy site's accordion, as content pages write it: a script and an onclick (both
# dropped by the sanitiser) on the legacy classes, which become a DSFR accordion.
ACCORDION_PAGE = """\
---
title: La DINUM
permalink: /dinum/
chapeau-text: Qui fait quoi.
---

<script>
function myFunction(id) {
  document.getElementById(id).className += " show";
}
</script>

<div class="margin-bottom-3 accordion no-bullet" data-allow-all-closed="true">
<div class="accordion-item">
<button onclick="myFunction('organigramme')" id="accordion-button" class="accordion-title" \
aria-controls="organigramme" aria-expanded="false">Version accessible de l'organigramme</button>
<div class="accordion-content" id="organigramme">
<ul>
<li><b>Direction :</b> Stéphanie Schaer.</li>
<li><b>le département « Appui, conseil et expertise » :</b> \
Chef du département : Jérémie Vallet.</li>
</ul>
</div>
</div>
</div>
"""


def test_agenda_then_event_page_then_follow_the_registration_button(live_server, page, tmp_path):
    page.goto(f"{live_server.url}/")
    # Two upcoming events: the home page lists them, in date order.
    expect(page.locator("h1")).to_have_text("Agenda")
    listed = page.get_by_role("link", name=re.compile("^(Atelier|Rencontre)"))
    expect(listed).to_have_text([TITLE, "Rencontre des acheteurs publics du numérique"])
    check_accessibility(page, tmp_path, "agenda")
    page.get_by_role("link", name=TITLE).click()

    expect(page).to_have_url(f"{live_server.url}/agenda/{WITH_QUESTIONS}/")
    expect(page).to_have_title(re.compile(f"^{TITLE}"))
    expect(page.locator("h1")).to_have_text(TITLE)
    expect(page.locator("#date-simulee")).to_be_visible()
    expect(page.locator("#etat-inscriptions")).to_contain_text(
        "Inscriptions ouvertes jusqu’au lundi 12 juin 2023 à 18h00"
    )
    expect(page.locator("#etat-inscriptions")).to_contain_text("100 places restantes.")
    check_accessibility(page, tmp_path, "evenement")
    state_box = page.locator("#etat-inscriptions").bounding_box()
    footer_box = page.locator("footer").bounding_box()
    assert state_box is not None and footer_box is not None
    assert state_box["y"] + state_box["height"] <= footer_box["y"]  # nothing spills over

    page.locator("#etat-inscriptions").get_by_role("link", name="S’inscrire").click()
    expect(page).to_have_url(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")
    expect(page.get_by_label("Prénom")).to_be_visible()
    check_accessibility(page, tmp_path, "formulaire")


@pytest.mark.parametrize("slug", [WITH_QUESTIONS, WITHOUT_QUESTIONS])
def test_event_page_of_each_fixture_event_is_accessible(live_server, page, tmp_path, slug):
    page.goto(f"{live_server.url}/agenda/{slug}/")
    expect(page.locator("#etat-inscriptions")).to_contain_text("Inscriptions ouvertes")
    check_accessibility(page, tmp_path, slug)


def test_body_button_leads_to_the_form(live_server, page):
    page.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/")
    page.locator(".app-content").get_by_role("link", name="S’inscrire").click()
    expect(page).to_have_url(f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription")


def test_legacy_accordion_opens_and_closes(live_server_factory, page, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "pages" / "dinum.md").write_text(ACCORDION_PAGE, encoding="utf-8")
    server = live_server_factory(CONTENT_DIR=str(content))

    page.goto(f"{server.url}/dinum/")
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
    "path",
    [
        "/accessibilite",
        "/mentions-legales",
        "/donnees-personnelles",
        "/gestion-des-cookies",
        "/a-propos/",
    ],
)
def test_footer_and_content_pages_are_accessible(live_server, page, tmp_path, path):
    response = page.goto(live_server.url + path)
    assert response is not None and response.status == 200
    check_accessibility(page, tmp_path, path.strip("/"))


def test_not_found_page_is_accessible(live_server, page, tmp_path):
    response = page.goto(f"{live_server.url}/nulle-part/")
    assert response is not None and response.status == 404
    check_accessibility(page, tmp_path, "404")
