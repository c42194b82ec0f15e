"""An editor breaks an event file while the service runs: in chromium, its page is the French
« momentanément indisponible » page in the design system, and the rest of the site works."""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect

from ..conftest import CONTENT, WITH_QUESTIONS, WITHOUT_QUESTIONS
from ..factories import make_user
from .helpers import check_accessibility, sign_in_as

pytestmark = pytest.mark.e2e

EDITED = "2023-09-20-rencontre-des-achats.md"
BLUE_FRANCE = "rgb(0, 0, 145)"  # DSFR's primary button: the design system's CSS is applied


def test_a_broken_event_shows_the_french_page_and_the_rest_works(
    live_server_factory, page, tmp_path
):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    server = live_server_factory(CONTENT_DIR=str(content))
    page.goto(f"{server.url}/agenda/")
    expect(
        page.get_by_role("link", name="Rencontre des acheteurs publics du numérique")
    ).to_be_visible()

    # The editor saves the file with a date the service cannot read.
    path = content / "agenda" / EDITED
    path.write_text(
        path.read_text("utf-8").replace("2023-09-20 14:00:00", "le 20 septembre"), "utf-8"
    )
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    response = page.goto(f"{server.url}/agenda/{WITHOUT_QUESTIONS}/")
    assert response is not None and response.status == 503
    expect(page).to_have_title("Page momentanément indisponible – Inscriptions – Communs")
    expect(page.locator("h1")).to_have_text("Cette page est momentanément indisponible")
    expect(page.locator(".fr-header")).to_be_visible()
    home = page.get_by_role("link", name="Retour à l’accueil")
    expect(home).to_have_css("background-color", BLUE_FRANCE)
    expect(page.locator("#contenu-invalide")).to_have_count(0)  # no details for the public
    check_accessibility(page, tmp_path, "contenu-indisponible")

    # The rest of the site: the one event left, which the home page now opens.
    home.click()
    expect(page).to_have_url(f"{server.url}/agenda/{WITH_QUESTIONS}/")
    expect(page.locator("h1")).to_have_text("Atelier des communs numériques")

    # An organiser sees which file and which key to fix.
    make_user(server.app, "orga@numerique.gouv.fr", "organiser")
    sign_in_as(page, server.url, WITH_QUESTIONS, "orga@numerique.gouv.fr", tmp_path)
    response = page.goto(f"{server.url}/organisation/{WITHOUT_QUESTIONS}/")
    assert response is not None and response.status == 503
    details = page.locator("#contenu-invalide")
    expect(details).to_contain_text(f"Le fichier de contenu agenda/{EDITED} est invalide")
    expect(details).to_contain_text("clé « event_start_date » : date illisible")
    check_accessibility(page, tmp_path, "contenu-indisponible-organisateur")
