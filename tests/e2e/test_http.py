"""Hardened HTTP in chromium: every page keeps to the Content-Security-Policy while the DSFR's
JavaScript still works; the error pages; the forms shown again after the session expired.

The browser context here never bypasses the policy: a violation is reported to the test by
a `securitypolicyviolation` listener and by chromium's console.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from werkzeug.serving import make_server

from registration import create_app, links
from registration.models import Status

from ..conftest import WITH_QUESTIONS, base_config
from ..factories import PASSWORD, make_registration, make_user
from .conftest import closing_on_disconnect
from .helpers import check_accessibility, fill_identity, settle, tick

pytestmark = pytest.mark.e2e

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/inscriptions"
LISTEN = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber} on ${document.location.pathname}`);
});
window.print = () => { window.printed = true; };  // the sign-in sheet's button
"""


@dataclass
class StrictPage:
    page: Page
    violations: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def visit(self, url: str, status: int = 200) -> None:
        response = self.page.goto(url, wait_until="networkidle")
        assert response is not None and response.status == status, (url, response)
        self.page.wait_for_load_state("load")
        self.dsfr_started()

    def dsfr_started(self) -> None:
        """The DSFR's JavaScript marks the root element once it runs."""
        expect(self.page.locator("html")).to_have_attribute("data-fr-js", "true")

    def clean(self) -> None:
        assert not self.violations, "\n".join(self.violations)
        assert not self.console, "\n".join(self.console)


@pytest.fixture
def strict(browser: Browser) -> Iterator[StrictPage]:
    """A browser context that keeps to the site's policy and reports every violation."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", bypass_csp=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    watched = StrictPage(page)
    context.expose_function("reportViolation", lambda text: watched.violations.append(text))
    context.add_init_script(LISTEN)

    def on_console(message: Any) -> None:
        text = message.text
        if any(
            marker in text
            for marker in ("Content Security Policy", "Refused to", "Permissions-Policy")
        ):
            watched.console.append(f"{message.type}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.console.append(f"pageerror: {error}"))
    yield watched
    context.close()


def test_every_page_keeps_to_the_policy_and_the_dsfr_still_works(
    live_server_factory, strict, event, tmp_path
):
    server = live_server_factory(PROPAGATE_EXCEPTIONS=False)

    def broken() -> str:
        raise RuntimeError("panne simulée")

    server.app.add_url_rule("/essai-500", view_func=broken)  # before the first request
    app, url, page = server.app, server.url, strict.page
    make_user(app, "admin@numerique.gouv.fr", "admin")
    pending = make_registration(app, event, Status.PENDING, email="zoe@interieur.gouv.fr")
    confirmed = make_registration(app, event, Status.CONFIRMED, last_name="Martin")
    with app.app_context():
        confirm_path = links.confirm_token(pending)
        manage_path = links.manage_token(confirmed)
    agenda = f"{url}/agenda/{WITH_QUESTIONS}"

    # Public pages, a phone-sized window: the DSFR's menu button opens its modal.
    page.set_viewport_size({"width": 390, "height": 844})
    strict.visit(f"{agenda}/")
    page.get_by_role("button", name="Menu").click()
    expect(page.locator("#menu-principal")).to_have_class(
        "fr-header__menu fr-modal fr-modal--opened"
    )
    page.get_by_role("button", name="Fermer").click()
    expect(page.locator("#menu-principal")).not_to_have_class("fr-modal--opened")
    page.set_viewport_size({"width": 1280, "height": 900})
    for path in ("/agenda/", "/a-propos/", "/accessibilite", "/mentions-legales"):
        strict.visit(url + path)
    strict.visit(f"{agenda}/inscription")
    page.get_by_role("button", name="S’inscrire").click()  # the form with its errors
    expect(page.locator("#resume-erreurs")).to_be_visible()
    settle(page)
    strict.dsfr_started()
    strict.visit(f"{agenda}/inscription/confirmer/{confirm_path}")
    strict.visit(f"{agenda}/mon-inscription/{manage_path}")
    strict.visit(f"{agenda}/mon-inscription/{manage_path}/annuler")

    # The back office.
    strict.visit(f"{url}/connexion")
    page.get_by_label("Adresse e-mail").fill("admin@numerique.gouv.fr")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    settle(page)
    base = f"{url}/organisation/{WITH_QUESTIONS}"
    for path in ("/", "/inscrits", f"/inscrits/{confirmed.public_id}", "/demandes"):
        strict.visit(base + path)
    strict.visit(f"{url}/organisation/courriels")
    strict.visit(f"{base}/emargement")
    expect(page.locator("#emargement")).to_contain_text("Martin")
    # The sheet's own style sheet applies: its cells are bordered.
    border = page.locator("#emargement td").first.evaluate(
        "td => getComputedStyle(td).borderTopStyle"
    )
    assert border == "solid"
    page.get_by_role("button", name="Imprimer").click()
    assert page.evaluate("window.printed") is True
    for path in (f"/{WITH_QUESTIONS}/", f"/{WITH_QUESTIONS}/fermer", "/comptes", "/journal"):
        strict.visit(f"{url}/administration{path}")

    # The error pages.
    strict.visit(f"{url}/nulle-part/", 404)
    strict.visit(f"{url}/agenda/?q=%00", 400)
    strict.visit(f"{url}/essai-500", 500)
    expect(page.locator("h1")).to_have_text("Erreur inattendue")
    check_accessibility(page, tmp_path, "500")
    strict.clean()


def post_from_the_page(page: Page, action: str, fields: dict[str, str]) -> None:
    """A form the page itself posts (the tests' own script, outside the page's policy)."""
    page.evaluate(
        """([action, fields]) => {
          const form = document.createElement("form");
          form.method = "post";
          form.action = action;
          for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value;
            form.append(input);
          }
          document.body.append(form);
          form.submit();
        }""",
        [action, fields],
    )


def test_the_error_pages_are_french_accessible_and_keep_to_the_policy(
    live_server_factory, strict, tmp_path
):
    server = live_server_factory(MAX_CONTENT_LENGTH=50_000)
    make_user(server.app, "orga@numerique.gouv.fr", "organiser")
    page = strict.page
    strict.visit(f"{server.url}/agenda/{WITH_QUESTIONS}/inscription")
    with page.expect_navigation():
        post_from_the_page(page, "/agenda/", {})
    expect(page.locator("h1")).to_have_text("Méthode non autorisée")
    settle(page)
    strict.dsfr_started()
    check_accessibility(page, tmp_path, "405")

    strict.visit(f"{server.url}/agenda/{WITH_QUESTIONS}/inscription")
    # Beyond MAX_CONTENT_LENGTH; set by script, since the field's maxlength stops a person.
    page.locator("#accessibility_needs").evaluate("field => { field.value = 'x'.repeat(60000) }")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("h1")).to_have_text("Envoi trop volumineux")
    expect(page.locator("#code-erreur")).to_have_text("Erreur 413")
    settle(page)
    check_accessibility(page, tmp_path, "413")

    strict.visit(f"{server.url}/agenda/?q=%00", 400)
    expect(page.locator("#contact")).to_have_attribute("href", "mailto:contact@example.gouv.fr")
    check_accessibility(page, tmp_path, "400")

    strict.visit(f"{server.url}/connexion")
    page.get_by_label("Adresse e-mail").fill("orga@numerique.gouv.fr")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    settle(page)
    strict.visit(f"{server.url}/administration/comptes", 403)
    expect(page.locator("h1")).to_have_text("Accès refusé")
    page.get_by_role("link", name="Espace organisateur").last.click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    settle(page)
    strict.clean()


@pytest.fixture
def unreachable_server(tmp_path: Path) -> Iterator[str]:
    """The app on a PostgreSQL server that is not there, served on loopback."""
    app = create_app(
        base_config(tmp_path, SQLALCHEMY_DATABASE_URI=UNREACHABLE, WTF_CSRF_ENABLED=True)
    )
    server = make_server("127.0.0.1", 0, closing_on_disconnect(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def test_a_database_outage_shows_the_503_page(unreachable_server, strict, tmp_path):
    strict.visit(f"{unreachable_server}/agenda/{WITH_QUESTIONS}/", 503)
    page = strict.page
    expect(page.locator("h1")).to_have_text("Service indisponible")
    expect(page.locator("#sorties")).to_contain_text("Page d’accueil")
    check_accessibility(page, tmp_path, "503")
    strict.clean()


def fill_valid(page: Page) -> None:
    fill_identity(page)
    tick(page, "Logiciels libres")
    tick(page, "Gouvernance")


def test_the_forms_come_back_with_their_values_after_the_session_expired(
    live_server, page, tmp_path
):
    register = f"{live_server.url}/agenda/{WITH_QUESTIONS}/inscription"
    page.goto(register, wait_until="networkidle")
    fill_valid(page)
    page.locator("#accessibility_needs").fill("Boucle magnétique")
    page.context.clear_cookies()  # the session, and its CSRF token, are gone
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("main")).to_contain_text("Votre session a expiré")
    settle(page)
    expect(page.locator(".fr-alert--error")).to_be_focused()
    expect(page.get_by_role("textbox", name="Fonction")).to_have_value("Cheffe de projet")
    expect(page.get_by_label("Adresse e-mail professionnelle")).to_have_value(
        "camille.durand@numerique.gouv.fr"
    )
    expect(page.locator("#accessibility_needs")).to_have_value("Boucle magnétique")
    expect(page.get_by_role("radio", name="Logiciels libres")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Gouvernance")).to_be_checked()
    check_accessibility(page, tmp_path, "formulaire-session-expiree")
    page.get_by_role("button", name="S’inscrire").click()  # with the fresh token
    expect(page.locator("h1")).to_have_text("Vérifiez votre messagerie")
    settle(page)

    make_user(live_server.app, "orga@numerique.gouv.fr", "organiser")
    page.goto(f"{live_server.url}/connexion", wait_until="networkidle")
    page.get_by_label("Adresse e-mail").fill("orga@numerique.gouv.fr")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.context.clear_cookies()
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("main")).to_contain_text("Votre session a expiré")
    settle(page)
    expect(page.locator(".fr-alert--error")).to_be_focused()
    expect(page.get_by_label("Adresse e-mail")).to_have_value("orga@numerique.gouv.fr")
    expect(page.get_by_label("Mot de passe")).to_have_value("")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")
    settle(page)


def test_a_429_shows_the_registration_form_again(
    live_server_factory: Callable[..., Any], page, tmp_path
):
    server = live_server_factory(RATELIMIT_ENABLED=True, REGISTRATION_RATE_LIMIT="1 per minute")
    register = f"{server.url}/agenda/{WITH_QUESTIONS}/inscription"
    page.goto(register, wait_until="networkidle")
    fill_valid(page)
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("h1")).to_have_text("Vérifiez votre messagerie")
    settle(page)
    page.goto(register, wait_until="networkidle")
    fill_identity(page, "zoe@interieur.gouv.fr")
    tick(page, "Données ouvertes")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("main")).to_contain_text("Trop de demandes en peu de temps")
    settle(page)
    expect(page.locator(".fr-alert--error")).to_be_focused()  # as after a failed submit
    expect(page.get_by_label("Adresse e-mail professionnelle")).to_have_value(
        "zoe@interieur.gouv.fr"
    )
    expect(page.get_by_role("radio", name="Données ouvertes")).to_be_checked()
    check_accessibility(page, tmp_path, "formulaire-429")
