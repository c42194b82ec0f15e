"""What an agent sees, at a phone's width (375 px) and a desktop's (1,280 px): the event page
open, full and closed; the form and its errors; the outcome of confirming and cancelling."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from registration import links
from registration.models import Status

from ..factories import make_record, make_registration
from .helpers import check_accessibility, settle

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}


def at_both_widths(page: Page, tmp_path: Path, name: str) -> None:
    """axe-core on the page as it stands, at 375 px and at 1,280 px (the helper's widths)."""
    check_accessibility(page, tmp_path, name)


def test_on_a_phone_the_registration_box_comes_before_the_programme(
    live_server, page, tmp_path, event
):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/agenda/{event.slug}/")
    button = page.get_by_role("link", name="S’inscrire", exact=True).first
    box = button.bounding_box()
    assert box is not None and box["y"] < PHONE["height"], box  # on the first screen
    date = page.locator("#date-evenement").bounding_box()
    programme = page.get_by_role("heading", name="Présentation").bounding_box()
    assert date is not None and programme is not None and date["y"] < programme["y"]
    check_accessibility(page, tmp_path, "evenement-375")

    # On a desktop, the box stands on the right of the programme, as before.
    page.set_viewport_size(DESKTOP)
    callout = page.locator("#etat-inscriptions").bounding_box()
    programme = page.get_by_role("heading", name="Présentation").bounding_box()
    assert callout is not None and programme is not None
    assert callout["x"] > programme["x"] + programme["width"] / 2
    check_accessibility(page, tmp_path, "evenement-1280")
    settle(page)


def test_a_closed_event_offers_no_way_to_the_form_and_says_why(live_server, page, tmp_path, event):
    make_record(live_server.app, event, is_open=False, notice="La salle est pleine, merci !")
    page.goto(f"{live_server.url}/agenda/{event.slug}/")
    callout = page.locator("#etat-inscriptions")
    expect(callout.locator(".fr-badge").first).to_have_text("Inscriptions closes")
    expect(callout.locator("#message-organisateurs")).to_have_text("La salle est pleine, merci !")
    expect(page.locator(f'a[href="{event.registration_url}"]')).to_have_count(0)
    expect(page.get_by_text("S’inscrire", exact=False)).to_have_count(0)
    # The body's button and the practical information's link gave way to the reason.
    reasons = page.locator(".app-registration-closed")
    expect(reasons).to_have_count(2)
    for reason in reasons.all():
        expect(reason).to_contain_text("Inscriptions closes Les inscriptions sont fermées.")
        expect(reason).to_contain_text("La salle est pleine, merci !")
    at_both_widths(page, tmp_path, "evenement-clos")
    settle(page)


def test_a_full_event_says_waiting_list(live_server, page, tmp_path, event):
    make_record(live_server.app, event, capacity=1)
    make_registration(live_server.app, event, Status.CONFIRMED)
    page.goto(f"{live_server.url}/agenda/{event.slug}/")
    callout = page.locator("#etat-inscriptions")
    expect(callout.locator(".fr-badge").first).to_have_text("Complet – liste d’attente")
    expect(callout.get_by_text("Inscriptions ouvertes", exact=True)).to_have_count(0)
    expect(callout.get_by_role("link", name="S’inscrire")).to_be_visible()
    at_both_widths(page, tmp_path, "evenement-complet")
    settle(page)


def test_the_form_is_a_column_and_its_errors_take_the_focus(live_server, page, tmp_path, event):
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/agenda/{event.slug}/inscription")
    expect(page.locator("h1")).to_have_text(f"Inscription à {event.title}")
    field = page.get_by_label("Adresse e-mail professionnelle").bounding_box()
    assert field is not None and field["width"] < 700, field
    expect(page.get_by_role("checkbox", name="Je certifie", exact=False)).to_have_count(0)
    expect(page.locator("#notice-donnees")).to_contain_text("mission d’intérêt public")
    page.get_by_role("button", name="S’inscrire").click()
    expect(page.locator("#resume-erreurs")).to_be_focused()
    at_both_widths(page, tmp_path, "formulaire-erreurs")
    settle(page)


def test_confirming_then_cancelling_each_end_on_a_focused_success_alert(
    live_server, page, tmp_path, event
):
    agent = make_registration(live_server.app, event, Status.PENDING)
    with live_server.app.app_context():
        confirm_path = f"{event.registration_url}/confirmer/{links.confirm_token(agent)}"
    page.goto(live_server.url + confirm_path)
    page.get_by_role("button", name="Confirmer mon inscription").click()
    alert = page.locator("#resultat-action")
    expect(alert).to_have_class("fr-alert fr-alert--success fr-mb-4w")
    expect(alert).to_have_text("Votre inscription est confirmée : votre place est réservée.")
    expect(alert).to_be_focused()
    at_both_widths(page, tmp_path, "apres-confirmation")

    page.get_by_role("link", name="Annuler mon inscription").click()
    page.get_by_role("button", name="Oui, annuler mon inscription").click()
    expect(alert).to_contain_text("Votre inscription est annulée.")
    expect(alert).to_be_focused()
    expect(page.locator("#statut-inscription")).to_contain_text("Annulée")
    at_both_widths(page, tmp_path, "apres-annulation")
    alert.get_by_role("link", name=f"s’inscrire à « {event.title} »").click()
    expect(page.locator("h1")).to_have_text(f"Inscription à {event.title}")
    settle(page)
