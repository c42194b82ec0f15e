"""Screenshots of what agents and staff see, at 375 px and 1,280 px, under docs/screenshots/.

    .venv/bin/python docs/screenshots.py

Starts the app itself, as the browser tests do (tests/e2e/conftest.py's LiveServer), on a
temporary SQLite database, the content of content/ and the tests' frozen clock (20 May 2023,
before the deadline), then drives Debian's chromium with Playwright. The data are made on the
way, through the services and the pages: registrations, a confirmation and a cancellation in
the browser, then an admin who lowers the places to those taken (full) and closes registration
with a public message (closed).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's `registration` and `tests`, wherever run from

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from registration import create_app, links  # noqa: E402
from registration.backoffice import api as backoffice  # noqa: E402
from registration.content import Event, load_site  # noqa: E402
from registration.extensions import db  # noqa: E402
from registration.models import Status  # noqa: E402
from registration.views import event_page  # noqa: E402
from tests.conftest import base_config, migrate_to_head  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.factories import PASSWORD, make_registration, make_user  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CONTENT = ROOT / "content"
WIDTHS = {375: 667, 1280: 800}  # width: height of the first screen
ADMIN = "admin@numerique.gouv.fr"
ATTENDEES = [
    ("Camille", "Durand", "DINUM"),
    ("Bao", "Nguyen", "Direction générale des finances publiques"),
    ("Inès", "Lefèvre", "Ministère de l’Intérieur"),
    ("Jean", "Martin", "Préfecture de la Gironde"),
    ("Aïcha", "Benali", "Centre hospitalier universitaire de Lille"),
    ("Louis", "Petit", "Région Bretagne"),
]


def shoot(page: Page, name: str) -> None:
    """The whole page at each width, without reloading it: a flashed message shows once."""
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_load_state("networkidle")
        # The design system folds the breadcrumb on a phone and unfolds it on the resize
        # event: the shot waits for it, else it sometimes shows the room but not the links.
        crumbs = page.locator(".fr-breadcrumb__list")
        if width >= 768 and crumbs.count():
            crumbs.first.wait_for(state="visible")
        path = OUT / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        print(path.relative_to(ROOT))


def event_page_shot(server: LiveServer, browser_context_factory, event: Event, name: str) -> None:
    """The event page as an anonymous visitor gets it, once the state just changed is read."""
    time.sleep(event_page.STATE_MAX_AGE)  # the seats left are read again after this long
    context = browser_context_factory()
    page = context.new_page()
    page.goto(f"{server.url}/agenda/{event.slug}/")
    page.set_viewport_size({"width": 375, "height": WIDTHS[375]})
    button = page.get_by_role("link", name="S’inscrire", exact=True)
    if button.count():
        box = button.first.bounding_box()
        assert box is not None
        top, bottom = box["y"], box["y"] + box["height"]
        print(f"{name}: at 375 px, the first « S’inscrire » from {top:.0f} to {bottom:.0f} px")
    shoot(page, name)
    context.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inscriptions-captures-") as folder:
        tmp = Path(folder)
        url = f"sqlite:///{tmp / 'captures.db'}"
        migrate_to_head(tmp, url)
        config = base_config(
            tmp, SQLALCHEMY_DATABASE_URI=url, CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=True
        )
        app = create_app(config)
        server = LiveServer(app)
        app.config["PUBLIC_BASE_URL"] = server.url
        try:
            run(server)
        finally:
            server.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def run(server: LiveServer) -> None:
    app = server.app
    event = next(e for e in load_site(CONTENT).events if e.published)
    make_user(app, ADMIN, "admin")
    for i, (first, last, employer) in enumerate(ATTENDEES):
        email = f"{first.lower()}.{last.lower()}.{i}@numerique.gouv.fr".replace("ï", "i")
        email = email.replace("è", "e").replace("î", "i").replace("’", "")
        make_registration(
            app, event, email=email, first_name=first, last_name=last, employer=employer
        )
    agent = make_registration(
        app,
        event,
        Status.PENDING,
        email="zoe.bernard@interieur.gouv.fr",
        first_name="Zoé",
        last_name="Bernard",
        employer="Ministère de l’Intérieur",
    )
    with app.app_context():
        confirm_path = f"{event.registration_url}/confirmer/{links.confirm_token(agent)}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def new_context():  # type: ignore[no-untyped-def]
            return browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")

        event_page_shot(server, new_context, event, "evenement-ouvert")

        context = new_context()
        page = context.new_page()
        page.goto(f"{server.url}{event.registration_url}")
        page.get_by_label("Adresse e-mail professionnelle").fill("zoe@gmail")
        page.get_by_role("button", name="S’inscrire").click()
        page.locator("#resume-erreurs").wait_for()
        shoot(page, "formulaire-erreurs")

        page.goto(server.url + confirm_path)
        page.get_by_role("button", name="Confirmer mon inscription").click()
        page.locator("#resultat-action").wait_for()
        shoot(page, "apres-confirmation")
        page.get_by_role("link", name="Annuler mon inscription").click()
        page.get_by_role("button", name="Oui, annuler mon inscription").click()
        page.locator("#resultat-action").wait_for()
        shoot(page, "apres-annulation")
        context.close()

        with app.app_context():
            backoffice.change_capacity(event, ADMIN, len(ATTENDEES))
        event_page_shot(server, new_context, event, "evenement-complet")
        with app.app_context():
            backoffice.set_registration_open(
                event, ADMIN, False, "La salle est pleine : merci de votre intérêt !"
            )
        event_page_shot(server, new_context, event, "evenement-clos")

        context = new_context()
        page = context.new_page()
        page.goto(f"{server.url}/connexion")
        page.get_by_label("Adresse e-mail").fill(ADMIN)
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(f"{server.url}/organisation/")
        page.goto(f"{server.url}/administration/journal")
        shoot(page, "journal")
        page.goto(f"{server.url}/organisation/{event.slug}/emargement")
        shoot(page, "emargement")
        context.close()
        browser.close()


if __name__ == "__main__":
    main()
