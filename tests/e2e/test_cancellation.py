"""An agent cancels from the link in the e-mail they received; the waiting list moves up."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from registration import links
from registration.models import Status

from ..factories import make_record, make_registration, registrations
from .helpers import check_accessibility, link_in, wait_for

pytestmark = pytest.mark.e2e


def test_cancel_from_the_email_link_moves_the_first_waiting_person_up(
    live_server_factory, smtp, smtp_config, page, tmp_path, event
):
    server = live_server_factory(**smtp_config)
    make_record(server.app, event, capacity=1)
    camille = make_registration(
        server.app, event, Status.PENDING, email="camille.durand@numerique.gouv.fr"
    )
    with server.app.app_context():
        confirm_path = f"{event.registration_url}/confirmer/{links.confirm_token(camille)}"

    # Camille confirms her address, which takes the only seat; the service e-mails her the
    # link to her registration.
    page.goto(server.url + confirm_path)
    page.get_by_role("button", name="Confirmer mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    [confirmed] = wait_for(lambda: smtp.of_kind("Inscription confirmée"), "confirmation e-mail")
    assert confirmed["To"] == "camille.durand@numerique.gouv.fr"
    # Bao came after, and confirmed too: on the waiting list.
    make_registration(server.app, event, Status.WAITLISTED, email="bao@numerique.gouv.fr")

    # The person opens the link from their mailbox in the browser.
    page.goto(link_in(confirmed, "/mon-inscription/"))
    expect(page.locator("#statut-inscription")).to_contain_text("Confirmée")
    check_accessibility(page, tmp_path, "mon-inscription")
    page.get_by_role("link", name="Annuler mon inscription").click()
    check_accessibility(page, tmp_path, "annuler")
    page.get_by_role("button", name="Oui, annuler mon inscription").click()
    expect(page.locator("#statut-inscription")).to_contain_text("Annulée")
    expect(page.get_by_role("link", name="Annuler mon inscription")).to_have_count(0)

    first, second = registrations(server.app)
    assert first.status == Status.CANCELLED and second.status == Status.CONFIRMED
    [promoted] = wait_for(lambda: smtp.of_kind("Une place s’est libérée"), "promotion e-mail")
    assert promoted["To"] == "bao@numerique.gouv.fr"
    [cancelled] = wait_for(lambda: smtp.of_kind("Inscription annulée"), "cancellation e-mail")
    assert cancelled["To"] == "camille.durand@numerique.gouv.fr"

    page.goto(f"{server.url}/agenda/{event.slug}/")
    expect(page.locator("#etat-inscriptions")).to_contain_text("Complet")


def test_a_broken_link_says_so_accessibly(live_server, page, tmp_path, event):
    """A link cut short by a mail client, or forged: the link-error page, in French."""
    response = page.goto(f"{live_server.url}/agenda/{event.slug}/mon-inscription/lien-coupe")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Lien non valide")
    check_accessibility(page, tmp_path, "lien-non-valide")
