"""« Paramètres d’affichage » in the footer: the DSFR's light, dark and system themes, under the
Content-Security-Policy, remembered from one page to the next; and the accessibility statement."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from ..conftest import WITH_QUESTIONS
from ..factories import PASSWORD, make_registration, make_user
from .helpers import WIDTHS, check_accessibility, settle

pytestmark = pytest.mark.e2e


def watch_csp(page: Page) -> list[str]:
    """What the browser refused under the Content-Security-Policy (reported on the console)."""
    refused: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", note)
    return refused


def open_display_settings(page: Page) -> None:
    button = page.get_by_role("button", name="Paramètres d’affichage")
    button.scroll_into_view_if_needed()
    button.click()
    modal = page.locator("#fr-theme-modal")
    expect(modal).to_have_class(re.compile(r"\bfr-modal--opened\b"))
    expect(page.get_by_role("dialog", name="Paramètres d’affichage")).to_be_visible()
    still(page)


def still(page: Page) -> None:
    """Wait for the modal's and the theme's CSS transitions to end: axe-core reads colours."""
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dark_theme_is_chosen_and_stays_on_another_page(
    live_server, browser: Browser, tmp_path, width
):
    context = browser.new_context(
        locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": width, "height": 900}
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        refused = watch_csp(page)
        page.goto(f"{live_server.url}/")
        html = page.locator("html")
        expect(html).to_have_attribute("data-fr-theme", "light")  # the system's, here light
        open_display_settings(page)
        check_accessibility(page, tmp_path, "parametres-affichage", widths=(width,))
        page.get_by_text("Thème sombre", exact=True).click()
        expect(page.get_by_role("radio", name="Thème sombre")).to_be_checked()
        expect(html).to_have_attribute("data-fr-theme", "dark")
        assert page.evaluate("localStorage.getItem('scheme')") == "dark"
        still(page)
        page.get_by_role("button", name="Fermer").last.click()
        expect(page.locator("#fr-theme-modal")).to_be_hidden()

        page.goto(f"{live_server.url}/agenda/{WITH_QUESTIONS}/")
        expect(html).to_have_attribute("data-fr-theme", "dark")
        page.reload()
        expect(html).to_have_attribute("data-fr-theme", "dark")
        open_display_settings(page)
        expect(page.get_by_role("radio", name="Thème sombre")).to_be_checked()
        check_accessibility(page, tmp_path, "parametres-affichage-sombre", widths=(width,))
        page.get_by_text("Thème clair", exact=True).click()
        expect(html).to_have_attribute("data-fr-theme", "light")
        settle(page)
        assert not errors, errors
        assert not refused, refused
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_accessibility_statement_is_accessible(live_server, browser: Browser, tmp_path, width):
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        page.get_by_role("link", name="Accessibilité : non conforme").click()
        expect(page.locator("h1")).to_have_text("Déclaration d’accessibilité")
        expect(page.get_by_role("heading", name="Voies de recours")).to_be_visible()
        scroll, client = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client
        check_accessibility(page, tmp_path, "accessibilite", widths=(width,))
        settle(page)
    finally:
        context.close()


def test_the_event_page_the_form_and_the_sign_in_sheet_pass_axe_in_the_dark_theme(
    live_server, browser: Browser, tmp_path, event
):
    """The theme chosen earlier (the DSFR keeps it in localStorage): colours from the design
    system's variables, never a hard-coded dark grey on the dark background."""
    app = live_server.app
    make_user(app, "orga@numerique.gouv.fr", "organiser")
    make_registration(app, event, last_name="Durand", employer="DINUM")
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    context.add_init_script("localStorage.setItem('scheme', 'dark')")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        html = page.locator("html")
        for name, path in (
            ("evenement-sombre", f"/agenda/{WITH_QUESTIONS}/"),
            ("formulaire-sombre", f"/agenda/{WITH_QUESTIONS}/inscription"),
        ):
            page.goto(live_server.url + path)
            expect(html).to_have_attribute("data-fr-theme", "dark")
            still(page)
            check_accessibility(page, tmp_path, name)

        page.goto(f"{live_server.url}/connexion")
        page.get_by_label("Adresse e-mail").fill("orga@numerique.gouv.fr")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        expect(page.locator("h1")).to_have_text("Espace organisateur")
        page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/emargement")
        expect(html).to_have_attribute("data-fr-theme", "dark")
        expect(page.locator("#emargement")).to_contain_text("Durand")
        still(page)
        border, background = page.evaluate(
            """() => [
              getComputedStyle(document.querySelector("#emargement td")).borderTopColor,
              getComputedStyle(document.body).backgroundColor,
            ]"""
        )
        assert border != background, "the sheet's borders vanish into the dark background"
        assert border != "rgb(22, 22, 22)"  # #161616, the dark theme's own background
        check_accessibility(page, tmp_path, "emargement-sombre")
        settle(page)
        assert not errors, errors
    finally:
        context.close()
