"""Browser tests: a live server in a thread, Debian's chromium driven by Playwright, axe-core."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from registration import create_app
from registration.extensions import db

from ..conftest import ROOT, _sqlite_url, base_config, unavailable

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        unavailable(f"chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    if not AXE.exists():
        unavailable(f"axe-core not installed at {AXE} (npm install)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def live_server_factory(tmp_path, tmp_path_factory):
    servers = []

    def start(**overrides) -> LiveServer:
        url = _sqlite_url(tmp_path, tmp_path_factory)
        config = base_config(
            tmp_path, SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=True, **overrides
        )
        app = create_app(config)
        server = LiveServer(app)
        app.config["PUBLIC_BASE_URL"] = server.url
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        with server.app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server(live_server_factory):
    return live_server_factory()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def check_accessibility(page, tmp_path: Path, name: str) -> None:
    """Run axe-core on the page as it stands, save a screenshot, expect no violation."""
    page.wait_for_load_state("load")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    report = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
    ]
    assert not report, f"axe-core on {page.url}:\n" + "\n".join(report)
