"""Browser tests: a live server in a thread, Debian's chromium driven by Playwright, axe-core.

The live server runs on a fresh SQLite file and the fixture content (tests/fixtures/content).
Helpers the tests share live in tests/e2e/helpers.py.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from registration import create_app, mail
from registration.extensions import db

from ..conftest import base_config, sqlite_url, unavailable
from .helpers import AXE, CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        unavailable(f"chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    if not AXE.exists():
        unavailable(f"axe-core not installed at {AXE} (npm install)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def closing_on_disconnect(app: Flask) -> Any:
    """The app, with each response handed out through a generator that closes it however
    its iteration ends. werkzeug's development server drops a response it could not finish
    (the browser moved on to another page) without closing it: a static file stayed open,
    and its ResourceWarning failed a test now and then."""

    def wsgi(environ: Any, start_response: Any) -> Any:
        response = app(environ, start_response)

        def chunks() -> Iterator[bytes]:
            try:
                yield from response
            finally:
                if hasattr(response, "close"):
                    response.close()

        return chunks()

    return wsgi


class LiveServer:
    """The app served by werkzeug on a free loopback port, in a daemon thread, beside the
    outbox worker's own loop (`flask outbox worker`), polling every tenth of a second."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, closing_on_disconnect(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.stopping = mail.StopFlag()
        self.outbox = threading.Thread(target=self.deliver_outbox, daemon=True)
        self.outbox.start()

    def deliver_outbox(self) -> None:
        with self.app.app_context():
            mail.work(self.stopping, poll=0.1)

    def stop(self) -> None:
        self.stopping.set()
        self.outbox.join(timeout=5)
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def live_server_factory(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server on this test's SQLite file; keyword arguments override the config.
    CSRF is on, as in production: the browser posts the forms the pages render."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        url = sqlite_url(tmp_path, tmp_path_factory)
        config = base_config(
            tmp_path, SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=True, **overrides
        )
        app = create_app(config)
        server = LiveServer(app)
        app.config["PUBLIC_BASE_URL"] = server.url  # links in e-mails lead back to this server
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        with server.app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context per test, in French and Paris time; no JavaScript error allowed."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
