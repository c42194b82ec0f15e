"""« Paramètres d’affichage » in the footer: the DSFR's light, dark and system themes, under the
Content-Security-Policy, remembered from one page to the next; and the accessibility statement."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from ..conftest import WITH_QUESTIONS
from .helpers import check_accessibility, settle

pytestmark = pytest.mark.e2e

WIDTHS = [375, 1280]


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
        check_accessibility(page, tmp_path, f"parametres-affichage-{width}")
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
        check_accessibility(page, tmp_path, f"parametres-affichage-sombre-{width}")
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
        check_accessibility(page, tmp_path, f"accessibilite-{width}")
        settle(page)
    finally:
        context.close()
