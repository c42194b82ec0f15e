"""An agent cancels from the link in the e-mail they received; the waiting list moves up."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..conftest import SLUG, attendees, form_data, register_url, set_capacity
from .conftest import check_accessibility

pytestmark = pytest.mark.e2e


def link_in(message, marker: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return next(word for word in text.split() if marker in word)


def test_cancel_from_the_email_link_moves_the_first_waiting_person_up(
    live_server_factory, smtp, smtp_config, page, tmp_path
):
    server = live_server_factory(**smtp_config)
    set_capacity(server.app, 1)
    client = server.app.test_client()
    server.app.config["WTF_CSRF_ENABLED"] = False  # the set-up posts come from the test client
    client.post(register_url(), data=form_data(), buffered=True)
    client.post(register_url(), data=form_data(email="bao@numerique.gouv.fr"), buffered=True)
    for message in smtp.of_kind("Confirmez"):
        path = link_in(message, "/confirmer/").split("://", 1)[1].partition("/")[2]
        client.post("/" + path, buffered=True)
    server.app.config["WTF_CSRF_ENABLED"] = True
    [confirmed] = smtp.of_kind("Inscription confirmée")
    assert confirmed["To"] == "camille.durand@numerique.gouv.fr"

    # The person opens the link from their mailbox in the browser.
    page.goto(link_in(confirmed, "/mon-inscription/"))
    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    check_accessibility(page, tmp_path, "mon-inscription")
    page.get_by_role("link", name="Annuler mon inscription").click()
    check_accessibility(page, tmp_path, "annuler")
    page.get_by_role("button", name="Oui, annuler mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("Annulée")
    expect(page.get_by_role("link", name="Annuler mon inscription")).to_have_count(0)

    first, second = attendees(server.app)
    assert first.status.value == "cancelled" and second.status.value == "confirmed"
    [promoted] = smtp.of_kind("Une place s’est libérée")
    assert promoted["To"] == "bao@numerique.gouv.fr"
    [cancelled] = smtp.of_kind("Inscription annulée")
    assert cancelled["To"] == "camille.durand@numerique.gouv.fr"

    page.goto(f"{server.url}/agenda/{SLUG}/")
    expect(page.locator("#etat-inscriptions")).to_contain_text("Complet")
