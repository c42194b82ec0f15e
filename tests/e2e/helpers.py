"""Helpers shared by the browser tests: axe-core, signing in, ticking DSFR boxes, e-mails."""

from __future__ import annotations

import email
import email.policy
import os
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from ..conftest import ROOT
from ..factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/__e2e__/axe.min.js"  # served by Playwright itself, never by the app
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Every page passes axe-core on a phone and on a desktop (issue 14).
WIDTHS = (375, 1280)
NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
# How long to wait for what the server does after it answered (e-mails are sent then).
AFTER_RESPONSE_TIMEOUT = 10.0

T = TypeVar("T")


def load_axe(page: Page) -> None:
    """Add axe-core to the page as a script of the site's own origin, answered by Playwright:
    the Content-Security-Policy (script-src 'self') refuses the inline script that
    `add_script_tag(path=...)` would insert, and no test needs to bypass it."""
    pattern = f"**{AXE_PATH}"
    page.route(pattern, lambda route: route.fulfill(path=AXE, content_type="text/javascript"))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    try:
        page.add_script_tag(url=origin + AXE_PATH)
    finally:
        page.unroute(pattern)  # while a route is set, the page loads without the browser's cache


def check_accessibility(
    page: Page, tmp_path: Path, name: str, widths: tuple[int, ...] = WIDTHS
) -> None:
    """Run axe-core on the page as it stands, at each width in turn (the same page, resized:
    one load for both), save a screenshot of each, expect no violation; the window gets its
    size back afterwards."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        load_axe(page)
    before = page.viewport_size
    report: list[str] = []
    try:
        for width in widths:
            page.set_viewport_size({"width": width, "height": before["height"] if before else 900})
            # Two frames: the layout and the DSFR's resize handlers follow the new width.
            page.evaluate(NEXT_FRAMES)
            violations = page.evaluate("async () => (await axe.run(document)).violations")
            page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
            report += [
                f"{width} px: {v['id']} ({v['impact']}): {v['help']} — "
                f"{[n['target'] for n in v['nodes']][:3]}"
                for v in violations
            ]
    finally:
        if before is not None:
            page.set_viewport_size(before)
    assert not report, f"axe-core on {page.url}:\n" + "\n".join(report)


def settle(page: Page) -> None:
    """Let the page finish loading what it asks for (icons come from its style sheets) before
    the test moves on: the development server leaves a file open when the browser drops the
    connection of a half-served request, which the test run would report as a leak."""
    page.wait_for_load_state("networkidle")


def wait_for(find: Callable[[], T], what: str) -> T:
    """Poll until `find` returns something truthy: the server sends e-mails once it has
    answered the browser, so they may land a moment after the page shows."""
    deadline = time.monotonic() + AFTER_RESPONSE_TIMEOUT
    while True:
        found = find()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still no {what} after {AFTER_RESPONSE_TIMEOUT} s")
        time.sleep(0.02)


def mail_files(folder: Path, kind: str) -> list[EmailMessage]:
    """The messages of one kind the file mail backend wrote (`…-<id>-<kind>.eml`; it writes
    each aside and renames it, so a file here is whole)."""
    if not folder.is_dir():
        return []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(folder.glob(f"*-{kind}.eml"))
    ]


def link_in(message: EmailMessage, marker: str) -> str:
    """The first absolute link in a message's plain text that contains `marker`."""
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    return next(word for word in text.split() if marker in word and "://" in word)


def sign_in_as(page: Page, server_url: str, slug: str, email_address: str, tmp_path: Path) -> None:
    """From an event page, the header link; a wrong password first, then the right one."""
    page.goto(f"{server_url}/agenda/{slug}/")
    page.get_by_role("link", name="Espace organisateur").first.click()
    expect(page).to_have_title("Connexion – Inscriptions – Communs")
    check_accessibility(page, tmp_path, "connexion")
    page.get_by_label("Adresse e-mail").fill(email_address)
    page.get_by_label("Mot de passe").fill("pas le bon")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#connexion-refusee")).to_contain_text(
        "Adresse e-mail ou mot de passe incorrect."
    )
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")


def tick(page: Page, label: str) -> None:
    """DSFR draws the checkbox on its label: a person clicks the label."""
    box = page.get_by_label(label, exact=False).first
    if not box.is_checked():
        page.locator("label.fr-label", has_text=label).click()
    expect(box).to_be_checked()


def fill_identity(page: Page, email_address: str = "camille.durand@numerique.gouv.fr") -> None:
    """The fields every event asks for."""
    page.get_by_role("textbox", name="Prénom").fill("Camille")
    page.locator("#last_name").fill("Durand")
    page.get_by_label("Adresse e-mail professionnelle").fill(email_address)
    page.get_by_label("Administration ou employeur").fill("DINUM")
    page.get_by_role("textbox", name="Fonction").fill("Cheffe de projet")
