"""E-mails through a real SMTP server on loopback: headers, parts, .ics, links, outages."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from registration import clock, links, mail
from registration.checkin import codes as checkin_codes
from registration.content import Event, load_site
from registration.db import transaction
from registration.extensions import db
from registration.models import OutboxMessage, OutboxStatus, Registration, Status
from registration.registrations import api

from .conftest import SMTPServer
from .factories import (
    form_data,
    make_record,
    make_registration,
    outbox,
    register_url,
    registrations,
    set_now,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CONTENT = Path(__file__).resolve().parent / "fixtures" / "content"
TITLE = "Atelier des communs numériques"
PLACE = "Hôtel de Cassini, 32 rue de Babylone, 75007 Paris"


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def link_in(message: EmailMessage, marker: str, base: str = "http://localhost") -> str:
    """The path of the first link with `marker` in the text part, which must be on `base`."""
    for word in text_of(message).split():
        if marker in word:
            assert word.startswith(f"{base}/"), word
            return word.removeprefix(base)
    raise AssertionError(f"no {marker!r} link in {text_of(message)!r}")


def ics_of(message: EmailMessage) -> icalendar.Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_content())


def queue(
    app: Flask, event: Event, kind: str, rows: list[Registration] | None = None, **fields: Any
) -> list[Registration]:
    """Queue a message of `kind` about each registration (one new one by default): nothing is
    sent until something delivers."""
    if rows is None:
        rows = [make_registration(app, event, **fields)]
    with app.app_context(), transaction() as session:
        for row in rows:
            mail.queue(session, kind, event, row)
    return rows


def deliver(app: Flask) -> mail.DeliveryReport:
    """What the outbox worker does in the background: send everything due."""
    with app.app_context():
        return mail.deliver_all(batch=100)


def manage_path(app: Flask, event: Event, registration: Registration) -> str:
    with app.app_context():
        return f"/agenda/{event.slug}/mon-inscription/{links.manage_token(registration)}"


@pytest.fixture
def mail_app(make_app, smtp_config):
    return make_app(**smtp_config)


# --- What a message says -------------------------------------------------------------------


def test_confirmation_request_arrives_with_headers_both_parts_and_a_working_link(
    mail_app, smtp, event
):
    client = mail_app.test_client()
    client.post(register_url(event), data=form_data())
    assert deliver(mail_app).sent == 1
    [message] = smtp.messages
    assert message["From"] == "Inscriptions DINUM <ne-pas-repondre@numerique.gouv.fr>"
    assert message["To"] == "camille.durand@numerique.gouv.fr"
    assert message["Subject"] == f"Confirmez votre inscription : {TITLE}"
    assert message["Message-ID"].endswith("@numerique.gouv.fr>")
    assert message["Date"]
    for part in (text_of(message), html_of(message)):
        assert "Camille Durand" in part
        assert "jeudi 15 juin 2023 à 09h30" in part
        assert PLACE in part
        assert "Métro 10, station Vaneau" in part
        assert f"http://localhost/agenda/{event.slug}/" in part
    assert client.get(link_in(message, f"/agenda/{event.slug}/")).status_code == 200
    assert client.post(link_in(message, "/confirmer/")).status_code == 302
    assert registrations(mail_app)[0].status == Status.CONFIRMED
    stored = outbox(mail_app, "confirm_address")[0]
    assert stored.status == OutboxStatus.SENT and stored.message_id == message["Message-ID"]


def test_the_mail_repeats_the_practical_information_and_is_signed_by_the_organiser(
    mail_app, smtp, event
):
    queue(mail_app, event, "confirmed")
    assert deliver(mail_app).sent == 1
    [message] = smtp.messages
    text, html = text_of(message), html_of(message)
    # inscription.infos_courriel: ["Accès"]; the other information fields stay on the page.
    assert "Accès Métro 10, station Vaneau" in text
    assert "<strong>Accès</strong> Métro 10, station Vaneau" in html
    assert "lien à ajouter" not in text + html
    # No organisateur in the file: the one from _config.yml signs.
    assert "L’équipe de la mission des communs numériques" in text
    assert "L’équipe de la mission des communs numériques." in html
    assert "La mission des communs numériques" in html  # the header, capitalised
    assert "jeudi 15 juin 2023 à 09h30 – 12h30" in text


def test_the_plain_event_mail_is_signed_by_its_own_organiser(mail_app, smtp, plain_event):
    queue(mail_app, plain_event, "confirmed")
    assert deliver(mail_app).sent == 1
    [message] = smtp.messages
    text, html = text_of(message), html_of(message)
    assert message["Subject"] == f"Inscription confirmée : {plain_event.title}"
    assert "L’équipe de la direction des achats de l’État" in text
    assert "L’équipe de la direction des achats de l’État." in html
    assert "mission des communs" not in text + html
    assert "Accès" not in text + html  # no infos_courriel
    assert "Date : mercredi 20 septembre 2023 à 14h00" in text.splitlines()  # no end time


def test_the_confirmation_carries_a_calendar_invite(mail_app, smtp, event):
    client = mail_app.test_client()
    client.post(register_url(event), data=form_data())
    deliver(mail_app)
    client.post(link_in(smtp.messages[0], "/confirmer/"))
    deliver(mail_app)
    [confirmed] = smtp.of_kind("Inscription confirmée")
    calendar = ics_of(confirmed)
    [entry] = calendar.walk("VEVENT")
    assert entry.decoded("dtstart").astimezone(UTC) == datetime(2023, 6, 15, 7, 30, tzinfo=UTC)
    assert entry.decoded("dtend").astimezone(UTC) == datetime(2023, 6, 15, 10, 30, tzinfo=UTC)
    assert str(entry["dtstart"].params["TZID"]) == "Europe/Paris"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert str(entry["location"]) == PLACE
    registration = registrations(mail_app)[0]
    assert str(entry["uid"]) == f"{registration.public_id}@localhost"  # PUBLIC_BASE_URL's host
    assert str(entry["summary"]) == TITLE
    assert str(entry["url"]) == f"http://localhost/agenda/{event.slug}/"


def test_an_invite_for_an_event_without_an_end_lasts_two_hours(mail_app, smtp, plain_event):
    queue(mail_app, plain_event, "confirmed")
    deliver(mail_app)
    [entry] = ics_of(smtp.messages[0]).walk("VEVENT")
    assert entry.decoded("dtstart").astimezone(UTC) == datetime(2023, 9, 20, 12, 0, tzinfo=UTC)
    assert entry.decoded("dtend").astimezone(UTC) == datetime(2023, 9, 20, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "status", "with_invite"),
    [
        ("confirm_address", Status.PENDING, False),
        ("confirmed", Status.CONFIRMED, True),
        ("waitlisted", Status.WAITLISTED, False),
        ("promoted", Status.CONFIRMED, True),  # promotion always gives a seat now
        ("review_received", Status.REVIEW, False),
        ("review_accepted", Status.CONFIRMED, True),
        ("review_accepted", Status.WAITLISTED, False),
        ("review_refused", Status.REFUSED, False),
        ("cancelled", Status.CANCELLED, False),
        ("cancelled_by_organiser", Status.CANCELLED, False),
        ("duplicate", Status.CONFIRMED, False),
        ("reminder", Status.CONFIRMED, True),
    ],
)
def test_only_messages_about_a_held_seat_carry_an_invite(app, event, kind, status, with_invite):
    queue(app, event, kind, status=status)
    [stored] = outbox(app, kind)
    assert (stored.ics is not None) is with_invite
    assert TITLE in stored.subject and stored.status == OutboxStatus.PENDING


# --- Links ---------------------------------------------------------------------------------


def all_links(message: EmailMessage) -> list[str]:
    words = text_of(message).split() + html_of(message).replace('"', " ").split()
    return [w for w in words if "://" in w]


@pytest.mark.parametrize(
    "base", ["https://evenements.example.gouv.fr", "https://www.example.gouv.fr/inscriptions"]
)
def test_reminder_links_are_absolute_on_the_public_address(
    make_app, smtp, smtp_config, event, base
):
    """The reminders run from the command line, outside any request."""
    app = make_app(**smtp_config, PUBLIC_BASE_URL=base)
    registration = make_registration(app, event)
    set_now(app, "2023-06-13T10:30:00+02:00")
    result = app.test_cli_runner().invoke(args=["reminders", "send", "--days", "2"])
    assert result.exit_code == 0, result.output
    [message] = smtp.of_kind("Rappel :")
    found = all_links(message)
    assert f"{base}/agenda/{event.slug}/" in found
    with app.app_context():
        token = links.manage_token(registration)
    assert f"{base}/agenda/{event.slug}/mon-inscription/{token}" in found
    assert all(link.startswith(f"{base}/") for link in found), found
    [entry] = ics_of(message).walk("VEVENT")
    assert str(entry["url"]) == f"{base}/agenda/{event.slug}/"


def test_links_are_on_the_public_address_whatever_host_the_request_came_to(
    make_app, smtp, smtp_config, event
):
    app = make_app(**smtp_config, PUBLIC_BASE_URL="https://evenements.example.gouv.fr")
    client = app.test_client()
    client.post(register_url(event), data=form_data(), base_url="http://10.0.0.7:8000")
    deliver(app)
    [message] = smtp.messages
    assert all(
        link.startswith("https://evenements.example.gouv.fr/") for link in all_links(message)
    )
    confirm = link_in(message, "/confirmer/", base="https://evenements.example.gouv.fr")
    assert client.post(confirm).status_code == 302
    assert registrations(app)[0].status == Status.CONFIRMED


def test_a_management_link_is_the_only_credential(mail_app, event):
    registration = make_registration(mail_app, event, status=Status.PENDING)
    client = mail_app.test_client()
    manage = manage_path(mail_app, event, registration)
    response = client.get(manage)
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "same-origin"  # the token stays here
    forged = manage[:-3] + ("abc" if not manage.endswith("abc") else "xyz")
    assert client.get(forged).status_code == 404
    assert client.post(forged + "/annuler").status_code == 404
    assert registrations(mail_app)[0].status == Status.PENDING


def test_cancelling_moves_the_waiting_list_up_and_sends_both_messages(mail_app, smtp, event):
    make_record(mail_app, event, capacity=1)
    first = make_registration(mail_app, event, email="camille.durand@numerique.gouv.fr")
    second = make_registration(
        mail_app, event, status=Status.WAITLISTED, confirmed=True, email="b@numerique.gouv.fr"
    )
    client = mail_app.test_client()
    manage = manage_path(mail_app, event, first)
    assert "Annuler mon inscription" in client.get(manage).get_data(as_text=True)
    confirm_page = client.get(manage + "/annuler").get_data(as_text=True)
    assert "Oui, annuler mon inscription" in confirm_page
    assert client.post(manage + "/annuler").status_code == 302
    deliver(mail_app)
    rows = registrations(mail_app)
    assert [(r.id, r.status) for r in rows] == [
        (first.id, Status.CANCELLED),
        (second.id, Status.CONFIRMED),
    ]
    [cancelled] = smtp.of_kind("Inscription annulée")
    [promoted] = smtp.of_kind("Une place s’est libérée")
    assert cancelled["To"] == "camille.durand@numerique.gouv.fr"
    assert promoted["To"] == "b@numerique.gouv.fr"
    assert str(ics_of(promoted).walk("VEVENT")[0]["uid"]).startswith(second.public_id)
    # The promoted agent's own link works.
    assert client.get(link_in(promoted, "/mon-inscription/")).status_code == 200


# --- Calendars follow cancellations (issue 14) ----------------------------------------------


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return part


def sign_up_and_confirm(app: Flask, smtp: SMTPServer, event: Event) -> EmailMessage:
    """Register through the form, follow the confirmation link: the confirmed message."""
    client = app.test_client()
    client.post(register_url(event), data=form_data())
    deliver(app)
    client.post(link_in(smtp.messages[-1], "/confirmer/"))
    deliver(app)
    return smtp.of_kind("Inscription confirmée")[-1]


def cancel_through_the_link(app: Flask, smtp: SMTPServer, confirmed: EmailMessage) -> EmailMessage:
    manage = link_in(confirmed, "/mon-inscription/")
    assert app.test_client().post(manage + "/annuler").status_code == 302
    deliver(app)
    return smtp.of_kind("Inscription annulée")[-1]


def test_the_cancellation_takes_the_event_out_of_the_calendar(mail_app, smtp, event):
    confirmed = sign_up_and_confirm(mail_app, smtp, event)
    cancelled = cancel_through_the_link(mail_app, smtp, confirmed)
    invite, cancel = ics_of(confirmed), ics_of(cancelled)
    assert str(invite["METHOD"]) == "REQUEST" and str(cancel["METHOD"]) == "CANCEL"
    [invited] = invite.walk("VEVENT")
    [withdrawn] = cancel.walk("VEVENT")
    assert str(withdrawn["UID"]) == str(invited["UID"])
    assert str(invited["UID"]) == f"{registrations(mail_app)[0].public_id}@localhost"
    assert (invited.decoded("SEQUENCE"), withdrawn.decoded("SEQUENCE")) == (0, 1)
    assert str(withdrawn["STATUS"]) == "CANCELLED" and "STATUS" not in invited
    assert withdrawn.decoded("dtstart") == invited.decoded("dtstart")
    # Each MIME part says its iTIP method, as calendar clients read it there.
    invite_part, cancel_part = calendar_part(confirmed), calendar_part(cancelled)
    assert invite_part.get_param("method") == "REQUEST"
    assert cancel_part.get_param("method") == "CANCEL"
    assert cancel_part.get_filename() == "annulation.ics"
    assert "L’annulation pour votre agenda est jointe" in text_of(cancelled)


def test_an_invitation_after_a_cancellation_outdoes_it(mail_app, smtp, event):
    """Signing up again reuses the registration, so its UID: the new invitation's SEQUENCE is
    above the cancellation's, or calendars would ignore it as outdated."""
    first = sign_up_and_confirm(mail_app, smtp, event)
    cancel_through_the_link(mail_app, smtp, first)
    again = sign_up_and_confirm(mail_app, smtp, event)
    second_cancel = cancel_through_the_link(mail_app, smtp, again)
    sequences = [
        ics_of(m).walk("VEVENT")[0].decoded("SEQUENCE")
        for m in (first, smtp.of_kind("Inscription annulée")[0], again, second_cancel)
    ]
    assert sequences == [0, 1, 2, 3]
    assert len({str(ics_of(m).walk("VEVENT")[0]["UID"]) for m in (first, again)}) == 1


def test_cancelling_before_any_seat_sends_no_calendar(mail_app, smtp, event):
    registration = make_registration(mail_app, event, status=Status.PENDING)
    manage = manage_path(mail_app, event, registration)
    assert mail_app.test_client().post(manage + "/annuler").status_code == 302
    deliver(mail_app)
    [cancelled] = smtp.of_kind("Inscription annulée")
    assert list(cancelled.iter_attachments()) == []
    assert "agenda" not in text_of(cancelled).replace("/agenda/", "")


def test_the_calendar_speaks_french(mail_app, smtp, event):
    confirmed = sign_up_and_confirm(mail_app, smtp, event)
    cancelled = cancel_through_the_link(mail_app, smtp, confirmed)
    for message in (confirmed, cancelled):
        comments = [str(c["COMMENT"]) for c in ics_of(message).walk() if "COMMENT" in c]
        assert comments, "no COMMENT"
        assert "This timezone" not in calendar_part(message).get_content()
    [tz] = ics_of(confirmed).walk("VTIMEZONE")
    assert str(tz["COMMENT"]) == "Ce fuseau horaire n’est décrit que du 01/01/1970 au 01/01/2038."
    [withdrawn] = ics_of(cancelled).walk("VEVENT")
    assert str(withdrawn["COMMENT"]) == "Votre inscription à cet événement est annulée."


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("cancelled", Status.CANCELLED),
        ("cancelled_by_organiser", Status.CANCELLED),
        ("review_refused", Status.REFUSED),
        ("reminder", Status.CANCELLED),  # whatever kind: a registration that is over
        ("duplicate", Status.EXPIRED),
    ],
)
def test_no_message_offers_to_manage_a_registration_that_is_over(
    mail_app, smtp, event, kind, status
):
    queue(mail_app, event, kind, status=status)
    deliver(mail_app)
    [message] = smtp.messages
    for part in (text_of(message), html_of(message)):
        assert "Voir ou annuler votre inscription" not in part
        assert "/mon-inscription/" not in part
        assert "Page de l’événement" in part


@pytest.mark.parametrize("status", [Status.CONFIRMED, Status.WAITLISTED, Status.PENDING])
def test_a_live_registration_keeps_its_management_link(mail_app, smtp, event, status):
    queue(mail_app, event, "duplicate", status=status)
    deliver(mail_app)
    [message] = smtp.messages
    for part in (text_of(message), html_of(message)):
        assert "Voir ou annuler votre inscription" in part and "/mon-inscription/" in part


def test_a_cancellation_queued_before_the_calendar_parameters_still_withdraws_the_event(
    mail_app, smtp, event
):
    """A row queued by the previous code has no `calendar` parameters: it renders, with the
    first round's SEQUENCE."""
    [registration] = queue(mail_app, event, "cancelled", status=Status.CANCELLED)
    with mail_app.app_context(), transaction() as session:
        [row] = session.scalars(sa.select(OutboxMessage)).all()
        row.params = {k: v for k, v in row.params.items() if k != "calendar"}
    assert deliver(mail_app).sent == 1
    [entry] = ics_of(smtp.messages[0]).walk("VEVENT")
    assert entry.decoded("SEQUENCE") == 1 and str(entry["STATUS"]) == "CANCELLED"
    assert str(entry["UID"]) == f"{registration.public_id}@numerique.gouv.fr"


def test_the_invitation_and_its_cancellation_name_the_organiser_and_the_agent(
    mail_app, smtp, event
):
    """iTIP wants an ORGANIZER, and Gmail and Outlook ignore a CANCEL without it and an
    ATTENDEE: both .ics name them, the same way."""
    confirmed = sign_up_and_confirm(mail_app, smtp, event)
    cancelled = cancel_through_the_link(mail_app, smtp, confirmed)
    for message in (confirmed, cancelled):
        [entry] = ics_of(message).walk("VEVENT")
        organizer, attendee = entry["ORGANIZER"], entry["ATTENDEE"]
        assert str(organizer) == "mailto:contact@example.gouv.fr"  # the event's contact
        assert organizer.params["CN"] == "La mission des communs numériques"
        assert str(attendee) == "mailto:camille.durand@numerique.gouv.fr"
        assert attendee.params["CN"] == "Camille Durand"
        assert (attendee.params["PARTSTAT"], attendee.params["RSVP"]) == ("ACCEPTED", "FALSE")


def test_without_a_contact_the_organizer_is_the_sender(make_app, smtp_config, smtp, tmp_path):
    site = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, site)
    config = site / "_config.yml"
    config.write_text(config.read_text("utf-8").replace("contact:", "# contact:"), "utf-8")
    app = make_app(CONTENT_DIR=str(site), **smtp_config)
    found = load_site(site).event("atelier-des-communs")
    assert found is not None and found.contact == ""
    queue(app, found, "confirmed", status=Status.CONFIRMED, email="agent@numerique.gouv.fr")
    deliver(app)
    [entry] = ics_of(smtp.messages[0]).walk("VEVENT")
    assert str(entry["ORGANIZER"]) == "mailto:ne-pas-repondre@numerique.gouv.fr"
    assert entry["ORGANIZER"].params["CN"] == "La mission des communs numériques"
    assert str(entry["ATTENDEE"]) == "mailto:agent@numerique.gouv.fr"


def test_the_uid_holds_when_the_sender_and_the_address_change_before_the_cancellation(
    mail_app, smtp, event
):
    """The UID is fixed when the first calendar message is queued, and every later one of the
    registration reuses it: the cancellation still finds the invitation."""
    confirmed = sign_up_and_confirm(mail_app, smtp, event)
    mail_app.config["MAIL_DEFAULT_SENDER"] = "Inscriptions <ne-pas-repondre@beta.gouv.fr>"
    mail_app.config["PUBLIC_BASE_URL"] = "https://inscriptions.beta.gouv.fr"
    manage = link_in(confirmed, "/mon-inscription/")
    assert mail_app.test_client().post(manage + "/annuler").status_code == 302
    deliver(mail_app)
    [cancelled] = smtp.of_kind("Inscription annulée")
    invited, withdrawn = (ics_of(m).walk("VEVENT")[0] for m in (confirmed, cancelled))
    assert str(withdrawn["UID"]) == str(invited["UID"])
    assert str(invited["UID"]) == f"{registrations(mail_app)[0].public_id}@localhost"


def test_the_uid_is_fixed_when_queued_not_when_sent(mail_app, smtp, event):
    [registration] = queue(mail_app, event, "confirmed", status=Status.CONFIRMED)
    mail_app.config["MAIL_DEFAULT_SENDER"] = "Inscriptions <ne-pas-repondre@beta.gouv.fr>"
    mail_app.config["PUBLIC_BASE_URL"] = "https://inscriptions.beta.gouv.fr"
    deliver(mail_app)
    [entry] = ics_of(smtp.messages[0]).walk("VEVENT")
    assert str(entry["UID"]) == f"{registration.public_id}@localhost"


def test_a_cancellation_of_an_invitation_queued_before_the_uid_was_stored_matches_it(
    mail_app, smtp, event
):
    """An invitation queued by the previous code has no stored UID: it goes out with the
    sender's domain, as it always did, and so does the cancellation queued after it."""
    [registration] = queue(mail_app, event, "confirmed", status=Status.CONFIRMED)
    with mail_app.app_context(), transaction() as session:
        [row] = session.scalars(sa.select(OutboxMessage)).all()
        row.params = {**row.params, "calendar": {"cancellations": 0, "invited": False}}
    deliver(mail_app)
    with mail_app.app_context():
        api.cancel(event, links.manage_token(registration))
    deliver(mail_app)
    [confirmed] = smtp.of_kind("Inscription confirmée")
    [cancelled] = smtp.of_kind("Inscription annulée")
    invited, withdrawn = (ics_of(m).walk("VEVENT")[0] for m in (confirmed, cancelled))
    assert str(invited["UID"]) == f"{registration.public_id}@numerique.gouv.fr"
    assert str(withdrawn["UID"]) == str(invited["UID"])
    assert withdrawn.decoded("SEQUENCE") == 1


def test_a_cancellation_after_an_invitation_rendered_when_queued_takes_its_uid(
    mail_app, smtp, event
):
    """Rows from before rendering moved to the deliverer hold their .ics: its UID is read."""
    [registration] = queue(mail_app, event, "confirmed", status=Status.CONFIRMED)
    old_uid = f"{registration.public_id}@ancien.gouv.fr"
    with mail_app.app_context(), transaction() as session:
        [row] = session.scalars(sa.select(OutboxMessage)).all()
        rendered = mail.rendered(row)
        assert rendered.ics is not None
        row.body_text, row.body_html = rendered.body_text, rendered.body_html
        row.ics = rendered.ics.replace(f"{registration.public_id}@localhost", old_uid)
        row.params = None
    with mail_app.app_context():
        api.cancel(event, links.manage_token(registration))
    deliver(mail_app)
    [cancelled] = smtp.of_kind("Inscription annulée")
    assert str(ics_of(cancelled).walk("VEVENT")[0]["UID"]) == old_uid


# --- The organisers cancel (issue 14) -------------------------------------------------------


def test_an_organisers_cancellation_says_so_and_takes_the_event_out_of_the_calendar(
    mail_app, smtp, event
):
    from registration.backoffice import api as backoffice

    confirmed = sign_up_and_confirm(mail_app, smtp, event)
    [registration] = registrations(mail_app)
    with mail_app.app_context():
        backoffice.cancel_registration(event, registration.public_id, "orga@numerique.gouv.fr")
    deliver(mail_app)
    [cancelled] = smtp.of_kind("Inscription annulée par l’équipe organisatrice")
    assert cancelled["To"] == "camille.durand@numerique.gouv.fr"
    assert cancelled["Reply-To"] == "contact@example.gouv.fr"
    text, html = text_of(cancelled), html_of(cancelled)
    for part in (text, html):
        assert f"L’équipe organisatrice a annulé votre inscription à « {TITLE} »." in part
        assert "Si vous pensez qu’il s’agit d’une erreur, écrivez à" in part
        assert "Une question ? Écrivez à" in part and "contact@example.gouv.fr" in part
        assert "Si vous changez d’avis" not in part
        assert "Votre inscription est annulée." not in part
        assert "/mon-inscription/" not in part
    assert "L’annulation pour votre agenda est jointe" in text
    # The same CANCEL as the agent's own cancellation.
    invite, cancel = ics_of(confirmed), ics_of(cancelled)
    assert str(cancel["METHOD"]) == "CANCEL"
    assert calendar_part(cancelled).get_param("method") == "CANCEL"
    assert calendar_part(cancelled).get_filename() == "annulation.ics"
    [invited], [withdrawn] = invite.walk("VEVENT"), cancel.walk("VEVENT")
    assert str(withdrawn["UID"]) == str(invited["UID"])
    assert (invited.decoded("SEQUENCE"), withdrawn.decoded("SEQUENCE")) == (0, 1)
    assert str(withdrawn["STATUS"]) == "CANCELLED"
    assert str(withdrawn["ATTENDEE"]) == "mailto:camille.durand@numerique.gouv.fr"


def test_an_organisers_cancellation_before_any_seat_sends_no_calendar(mail_app, smtp, event):
    from registration.backoffice import api as backoffice

    registration = make_registration(mail_app, event, status=Status.PENDING)
    with mail_app.app_context():
        backoffice.cancel_registration(event, registration.public_id, "orga@numerique.gouv.fr")
    deliver(mail_app)
    [cancelled] = smtp.messages
    assert cancelled["Subject"].startswith("Inscription annulée par l’équipe organisatrice")
    assert list(cancelled.iter_attachments()) == []
    assert "agenda" not in text_of(cancelled).replace("/agenda/", "")


def test_the_agents_own_cancellation_keeps_its_words(mail_app, smtp, event):
    confirmed = sign_up_and_confirm(mail_app, smtp, event)
    cancelled = cancel_through_the_link(mail_app, smtp, confirmed)
    assert cancelled["Subject"] == f"Inscription annulée : {TITLE}"
    assert "Votre inscription est annulée. Si vous changez d’avis" in text_of(cancelled)
    assert "L’équipe organisatrice" not in text_of(cancelled)


# --- Reply-To and the contact (issue 14) ----------------------------------------------------


def test_replies_go_to_the_event_contact_named_in_the_footer(mail_app, smtp, event, plain_event):
    queue(mail_app, event, "confirmed")
    queue(mail_app, plain_event, "confirmed", email="b@numerique.gouv.fr")
    deliver(mail_app)
    by_title = {TITLE in m["Subject"]: m for m in smtp.messages}
    # The site's contact (_config.yml), and the event's own (inscription.contact).
    for message, contact in (
        (by_title[True], "contact@example.gouv.fr"),
        (by_title[False], "achats@example.gouv.fr"),
    ):
        assert message["Reply-To"] == contact
        assert f"Une question ? Écrivez à {contact}" in text_of(message)
        assert f'<a href="mailto:{contact}" style="color:#000091">{contact}</a>' in html_of(message)


def test_no_reply_to_and_no_contact_line_without_a_contact(make_app, smtp_config, smtp, tmp_path):
    elsewhere = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, elsewhere)
    config = elsewhere / "_config.yml"
    config.write_text(config.read_text("utf-8").replace("contact:", "# contact:"), "utf-8")
    app = make_app(**smtp_config, CONTENT_DIR=str(elsewhere))
    found = load_site(elsewhere).event("atelier-des-communs")
    assert found is not None and found.contact == ""
    queue(app, found, "confirmed")
    deliver(app)
    [message] = smtp.messages
    assert message["Reply-To"] is None
    assert "Une question" not in text_of(message) + html_of(message)


def test_duplicate_registration_sends_a_reminder_of_the_existing_one(mail_app, smtp, event):
    make_registration(
        mail_app, event, status=Status.PENDING, email="camille.durand@numerique.gouv.fr"
    )
    mail_app.test_client().post(register_url(event), data=form_data())
    deliver(mail_app)
    [reminder] = smtp.of_kind("Rappel de votre inscription")
    assert "Vous êtes déjà inscrit" in text_of(reminder)
    assert len(registrations(mail_app)) == 1


# --- Reminders -----------------------------------------------------------------------------


def test_reminders_go_once_to_confirmed_attendees(mail_app, smtp, event, plain_event):
    make_registration(mail_app, event, email="camille.durand@numerique.gouv.fr")
    make_registration(mail_app, event, status=Status.PENDING, email="b@numerique.gouv.fr")
    make_registration(mail_app, event, status=Status.CANCELLED, email="c@numerique.gouv.fr")
    make_registration(mail_app, plain_event, email="d@numerique.gouv.fr")  # in September
    set_now(mail_app, "2023-06-13T10:30:00+02:00")  # the event is 47 h away
    runner = mail_app.test_cli_runner()
    result = runner.invoke(args=["reminders", "send", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert smtp.of_kind("Rappel :") == []
    first = runner.invoke(args=["reminders", "send", "--days", "2"])
    assert f"{event.slug} : 1 rappel(s) en attente" in first.output
    assert "envoyés : 1" in first.output
    again = runner.invoke(args=["reminders", "send", "--days", "2"])
    assert f"{event.slug} : 0 rappel(s) en attente" in again.output
    reminders = smtp.of_kind("Rappel :")
    assert [m["To"] for m in reminders] == ["camille.durand@numerique.gouv.fr"]
    assert reminders[0]["Subject"] == f"Rappel : {TITLE}, bientôt"
    assert ics_of(reminders[0])
    assert "jeudi 15 juin 2023 à 09h30" in text_of(reminders[0])


def test_no_reminder_once_the_event_has_started(mail_app, smtp, event):
    make_registration(mail_app, event)
    set_now(mail_app, "2023-06-15T09:30:00+02:00")
    mail_app.test_cli_runner().invoke(args=["reminders", "send", "--days", "2"])
    assert smtp.messages == []


# --- Outages and retries -------------------------------------------------------------------


def test_a_web_request_never_talks_to_smtp_even_to_a_silent_server(make_app, silent_smtp, event):
    """A server that accepts connections and never answers (it made a page take 11.8 s when
    mail went out after each response). The test client closes responses as a WSGI server
    does, so after-response work would run: the server must see no connection at all."""
    app = make_app(
        MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=silent_smtp.port, MAIL_TIMEOUT=1
    )
    client = app.test_client()
    assert client.get(f"/agenda/{event.slug}/").status_code == 200
    response = client.post(register_url(event), data=form_data())
    assert response.status_code == 302
    assert silent_smtp.connections() == 0
    [stored] = outbox(app)
    assert stored.status == OutboxStatus.PENDING and stored.attempts == 0
    assert registrations(app)[0].email == "camille.durand@numerique.gouv.fr"


def test_smtp_down_keeps_the_message_and_delivers_it_once_later(make_app, smtp, smtp_config, event):
    app = make_app(**smtp_config)
    smtp.stop()
    response = app.test_client().post(register_url(event), data=form_data())
    assert response.status_code == 302
    assert deliver(app) == mail.DeliveryReport(retrying=1)
    [stored] = outbox(app)
    assert stored.status == OutboxStatus.PENDING and "Connection refused" in stored.last_error

    smtp.start()
    runner = app.test_cli_runner()
    set_now(app, "2023-05-20T10:05:00+02:00")  # past the first back-off
    result = runner.invoke(args=["outbox", "deliver"])
    assert "envoyés : 1" in result.output
    runner.invoke(args=["outbox", "deliver"])
    assert len(smtp.messages) == 1
    assert outbox(app)[0].status == OutboxStatus.SENT


def test_a_silent_smtp_server_times_out_and_the_batch_waits_for_later(make_app, silent_smtp, event):
    """MAIL_TIMEOUT ends the wait for the greeting. Without a timeout the wait would last until
    the server closes the connection (after 10 s here), and the error would then be a closed
    connection, not a timeout: the test fails."""
    app = make_app(
        MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=silent_smtp.port, MAIL_TIMEOUT=0.2
    )
    queue_many(app, event, 3)
    closer = threading.Timer(10, silent_smtp.close)
    closer.start()
    try:
        report = deliver(app)
    finally:
        closer.cancel()
        closer.join()
    assert report == mail.DeliveryReport(retrying=3)
    assert silent_smtp.connections() == 1  # one try for the whole batch, not one a message
    for stored in outbox(app):
        assert stored.status == OutboxStatus.PENDING
        assert "timed out" in stored.last_error, stored.last_error


def test_messages_that_keep_failing_end_up_failed_with_their_error(
    make_app, smtp, smtp_config, event
):
    app = make_app(**smtp_config, OUTBOX_MAX_ATTEMPTS=2)
    smtp.stop()
    queue(app, event, "confirm_address", status=Status.PENDING)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["outbox", "deliver"])
    assert "envoyés : 0, à réessayer : 1, en échec : 0" in first.output
    assert outbox(app)[0].status == OutboxStatus.PENDING
    set_now(app, "2023-05-20T12:00:00+02:00")
    second = runner.invoke(args=["outbox", "deliver"])
    assert "envoyés : 0, à réessayer : 0, en échec : 1" in second.output
    [stored] = outbox(app)
    assert stored.status == OutboxStatus.FAILED and stored.attempts == 2
    status = runner.invoke(args=["outbox", "status"]).output
    assert "échec : 1" in status and "Connection refused" in status
    assert "en attente : 0" in status


# --- Addresses with a UTF-8 local part -----------------------------------------------------

UTF8_ADDRESS = "é1@numerique.gouv.fr"


def queue_utf8_then_plain(app: Flask, event: Event) -> None:
    """The bad one first: the good one after it, in the same batch, must still go."""
    rows = [
        make_registration(app, event, status=Status.PENDING, email=UTF8_ADDRESS),
        make_registration(app, event, status=Status.PENDING, email="ok@numerique.gouv.fr"),
    ]
    queue(app, event, "confirm_address", rows)


def test_a_utf8_local_part_goes_out_with_smtputf8_where_the_server_offers_it(mail_app, smtp, event):
    queue_utf8_then_plain(mail_app, event)
    assert deliver(mail_app) == mail.DeliveryReport(sent=2)
    first, second = smtp.envelopes
    assert first.rcpt_tos == [UTF8_ADDRESS]
    assert "SMTPUTF8" in first.mail_options
    assert second.rcpt_tos == ["ok@numerique.gouv.fr"]
    assert [m["To"] for m in smtp.messages] == [UTF8_ADDRESS, "ok@numerique.gouv.fr"]
    assert smtp.messages[0]["Subject"] == f"Confirmez votre inscription : {TITLE}"
    assert {m.status for m in outbox(mail_app)} == {OutboxStatus.SENT}


@pytest.fixture
def ascii_smtp():
    server = SMTPServer(smtputf8=False)
    server.start()
    yield server
    server.stop()


def test_a_utf8_local_part_fails_at_once_with_a_reason_where_the_server_lacks_smtputf8(
    make_app, ascii_smtp, event
):
    app = make_app(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=ascii_smtp.port)
    queue_utf8_then_plain(app, event)
    assert deliver(app) == mail.DeliveryReport(sent=1, failed=1)
    assert [e.rcpt_tos for e in ascii_smtp.envelopes] == [["ok@numerique.gouv.fr"]]
    bad, good = outbox(app)
    assert bad.status == OutboxStatus.FAILED and bad.attempts == 1
    assert bad.last_error == mail.SMTPUTF8_REFUSED
    assert "SMTPUTF8" in bad.last_error and "non ASCII" in bad.last_error
    assert good.status == OutboxStatus.SENT


def test_accents_in_the_sender_name_or_the_domain_need_no_smtputf8(make_app, ascii_smtp, event):
    """Only a local part beyond ASCII does: a display name is encoded in the header, and an
    internationalised domain goes as IDNA."""
    app = make_app(
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=ascii_smtp.port,
        MAIL_DEFAULT_SENDER="Ministère de l’Économie <ne-pas-repondre@economie.gouv.fr>",
    )
    queue(app, event, "confirm_address", status=Status.PENDING, email="agent@économie.gouv.fr")
    assert deliver(app) == mail.DeliveryReport(sent=1)
    [envelope] = ascii_smtp.envelopes
    assert envelope.rcpt_tos == ["agent@xn--conomie-9xa.gouv.fr"]
    assert "SMTPUTF8" not in envelope.mail_options
    [message] = ascii_smtp.messages
    assert message["From"] == "Ministère de l’Économie <ne-pas-repondre@economie.gouv.fr>"


def test_the_file_backend_writes_a_utf8_local_part_too(app, event):
    queue_utf8_then_plain(app, event)
    assert deliver(app) == mail.DeliveryReport(sent=2)
    paths = sorted(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths
    ]
    assert [m["To"] for m in messages] == [UTF8_ADDRESS, "ok@numerique.gouv.fr"]


def test_an_unexpected_error_on_one_message_settles_it_and_the_batch_goes_on(
    mail_app, smtp, event, monkeypatch
):
    queue_many(mail_app, event, 3)
    as_email = mail.as_email

    def broken_for_the_first(claim: mail.Claim) -> EmailMessage:
        if claim.recipient == "p0@numerique.gouv.fr":
            raise RuntimeError("gabarit cassé")
        return as_email(claim)

    monkeypatch.setattr(mail, "as_email", broken_for_the_first)
    assert deliver(mail_app) == mail.DeliveryReport(sent=2, retrying=1)
    broken, *others = outbox(mail_app)
    assert broken.status == OutboxStatus.PENDING
    assert broken.last_error == "RuntimeError: gabarit cassé"
    assert [m.status for m in others] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert sorted(m["To"] for m in smtp.messages) == [
        "p1@numerique.gouv.fr",
        "p2@numerique.gouv.fr",
    ]


def test_a_message_that_breaks_the_connection_does_not_stop_the_next(mail_app, smtp, event):
    """The server hangs up while the first message is sent: a new connection takes the next."""
    queue_many(mail_app, event, 2)
    smtp.hang_up = 1
    report = deliver(mail_app)
    assert report == mail.DeliveryReport(sent=1, retrying=1)
    first, second = outbox(mail_app)
    assert first.status == OutboxStatus.PENDING
    assert first.last_error.startswith("SMTPServerDisconnected"), first.last_error
    assert second.status == OutboxStatus.SENT
    assert [m["To"] for m in smtp.messages] == ["p1@numerique.gouv.fr"]


# --- Claims, retries and the Message-ID ----------------------------------------------------


def test_a_claim_left_by_a_dead_deliverer_is_taken_back_after_a_minute(mail_app, smtp, event):
    queue(mail_app, event, "confirm_address", status=Status.PENDING)
    set_now(mail_app, "2023-05-20T10:02:00+02:00")
    with mail_app.app_context():
        [_] = mail._claim(10)  # a deliverer claims, then dies before sending
    assert outbox(mail_app)[0].status == OutboxStatus.SENDING
    set_now(mail_app, "2023-05-20T10:02:59+02:00")
    assert deliver(mail_app) == mail.DeliveryReport()  # a fresh claim is left alone
    assert smtp.messages == []
    set_now(mail_app, "2023-05-20T10:03:01+02:00")
    assert deliver(mail_app).sent == 1
    assert len(smtp.messages) == 1
    assert outbox(mail_app)[0].attempts == 2


def test_a_live_deliverer_renews_its_claims_so_none_is_taken_back(mail_app, smtp, event):
    """Each send takes 50 s of the test's clock: the batch takes longer than STALE_CLAIM, yet
    no message is sent under a claim older than that (which another could have taken back)."""
    queue_many(mail_app, event, 3)

    def slow_send(_server: object) -> None:
        now = mail_app.config["FROZEN_NOW"]
        mail_app.config["FROZEN_NOW"] = now + timedelta(seconds=50)

    smtp.on_data = slow_send
    with mail_app.app_context():
        report = mail.deliver(limit=3)
    assert report == mail.DeliveryReport(sent=3)
    rows = outbox(mail_app)
    assert [r.status for r in rows] == [OutboxStatus.SENT] * 3
    assert rows[2].sent_at - rows[0].claimed_at > mail.STALE_CLAIM  # the batch took long
    for row in rows:
        assert row.sent_at - row.claimed_at < mail.STALE_CLAIM
        assert row.attempts == 1
    assert len(smtp.messages) == 3


def test_a_claim_taken_back_by_another_is_neither_sent_nor_settled(mail_app, smtp, event):
    queue_many(mail_app, event, 2)
    with mail_app.app_context():
        mine = mail._claim(2)
    set_now(mail_app, "2023-05-20T10:01:30+02:00")
    with mail_app.app_context():
        [theirs] = mail._claim(1)  # the first claim looked dead to another deliverer
        assert theirs.id == mine[0].id and theirs.attempts == 2
        assert [c.id for c in mail._renew(mine)] == [mine[1].id]
        mail._settle(mine[0], None)  # a late mark from the first deliverer changes nothing
    first = outbox(mail_app)[0]
    assert first.status == OutboxStatus.SENDING and first.attempts == 2
    assert first.sent_at is None and smtp.messages == []


def test_a_retry_reaches_the_server_with_the_same_message_id(mail_app, smtp, event):
    """The server takes the first attempt's DATA and answers a temporary error: the retry it
    receives later carries the very same Message-ID."""
    queue(mail_app, event, "confirm_address", status=Status.PENDING)
    smtp.refuse = 1
    assert deliver(mail_app) == mail.DeliveryReport(retrying=1)
    set_now(mail_app, "2023-05-20T10:05:00+02:00")
    assert deliver(mail_app) == mail.DeliveryReport(sent=1)
    first, retry = smtp.received
    assert first["Message-ID"] == retry["Message-ID"] == outbox(mail_app)[0].message_id
    assert outbox(mail_app)[0].attempts == 2


def test_a_message_sent_by_a_deliverer_that_died_goes_again_with_the_same_message_id(
    mail_app, smtp, event
):
    """At least once: the send happened, the mark did not; the copy can be told a duplicate."""
    queue(mail_app, event, "confirm_address", status=Status.PENDING)
    with mail_app.app_context():
        [claim] = mail._claim(10)
        connection = mail.SMTPConnection()
        connection.send(mail.as_email(claim))  # ...and the deliverer dies here
        connection.close()
    set_now(mail_app, "2023-05-20T10:01:01+02:00")
    assert deliver(mail_app).sent == 1
    first, again = smtp.messages
    assert first["Message-ID"] == again["Message-ID"] == claim.message_id


def test_stopping_finishes_the_message_in_hand_and_gives_the_others_back(mail_app, smtp, event):
    queue_many(mail_app, event, 3)
    stop = mail.StopFlag()
    smtp.on_data = stop.set  # the stop request comes while the first message is sent
    with mail_app.app_context():
        report = mail.deliver(limit=3, should_stop=stop)
    assert report == mail.DeliveryReport(sent=1, released=2)
    sent, *given_back = outbox(mail_app)
    assert sent.status == OutboxStatus.SENT
    assert [(m.status, m.attempts) for m in given_back] == [(OutboxStatus.PENDING, 0)] * 2


# --- Two deliverers at once ----------------------------------------------------------------


def queue_many(app: Flask, event: Event, count: int) -> None:
    rows = [
        make_registration(app, event, status=Status.PENDING, email=f"p{i}@numerique.gouv.fr")
        for i in range(count)
    ]
    queue(app, event, "confirm_address", rows)


def test_two_deliverers_at_once_send_each_message_once(mail_app, smtp, event):
    queue_many(mail_app, event, 30)
    barrier = threading.Barrier(2)

    def run() -> None:
        with mail_app.app_context():
            barrier.wait()
            for _ in range(3):
                mail.deliver(limit=7)
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver(mail_app)
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {m.status for m in outbox(mail_app)} == {OutboxStatus.SENT}


def test_two_outbox_deliver_commands_at_once_send_each_message_once(
    make_app, smtp, smtp_config, database_url, event
):
    """Two `flask outbox deliver` processes, as two cron jobs or two hosts would run them."""
    app = make_app(**smtp_config)
    queue_many(app, event, 40)
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "CONTENT_DIR": str(FIXTURE_CONTENT),
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "FROZEN_NOW": "2023-05-20T10:05:00+02:00",
        "FLASK_APP": "wsgi:app",
    }
    command = [sys.executable, "-m", "flask", "outbox", "deliver", "--batch", "3"]
    runs = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    sent = [int(out.split("envoyés : ")[1].split(",")[0]) for out in outputs]
    assert sum(sent) == 40
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert {m.status for m in outbox(app)} == {OutboxStatus.SENT}


# --- The development backend ---------------------------------------------------------------


def test_dev_backend_writes_eml_files(app, event):
    app.test_client().post(register_url(event), data=form_data())
    assert deliver(app).sent == 1
    [path] = list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))
    assert "confirm_address" in path.name
    assert b"Subject: =?utf-8?" in path.read_bytes() or b"Subject:" in path.read_bytes()
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Confirmez votre inscription : {TITLE}"
    assert message["To"] == "camille.durand@numerique.gouv.fr"
    assert outbox(app)[0].status == OutboxStatus.SENT


# --- Rendered by the deliverer -------------------------------------------------------------
# The outbox keeps a message's kind and its templates' parameters; the deliverer renders it.
# tests/fixtures/email/rendered-at-queue-time.json holds every kind as the code rendered it
# when queueing, before rendering moved (see the folder's README.md): the same inputs must
# read the same, to the byte.

RENDERED_BEFORE = json.loads(
    (
        Path(__file__).resolve().parent / "fixtures" / "email" / "rendered-at-queue-time.json"
    ).read_text("utf-8")
)


def case_registration(app: Flask, name: str) -> tuple[Event, Registration]:
    given = RENDERED_BEFORE[name]["given"]
    found = load_site(FIXTURE_CONTENT).event(given["event"])
    assert found is not None
    registration = make_registration(
        app,
        found,
        Status(given["status"]),
        email=given["email"],
        public_id=given["public_id"],
        first_name="Camille",
        last_name="Durand-Lefèvre",
        review_message=given.get("review_message", ""),
        confirmed=given["confirmed"],
    )
    return found, registration


def as_before(rendering: mail.Rendered) -> dict[str, str | None]:
    return {
        "subject": rendering.subject,
        "body_text": rendering.body_text,
        "body_html": rendering.body_html,
        "ics": rendering.ics,
    }


def expected(name: str) -> dict[str, str | None]:
    return {k: v for k, v in RENDERED_BEFORE[name].items() if k != "given"}


@pytest.mark.parametrize("name", sorted(RENDERED_BEFORE))
def test_every_kind_reads_as_when_it_was_rendered_at_queue_time(app, name, monkeypatch):
    # The check-in code (issue 15) is the one addition since, in the messages of a held seat:
    # left out here, tested in tests/views/test_checkin.py.
    monkeypatch.setattr(checkin_codes, "code_in_message", lambda kind, params: None)
    found, registration = case_registration(app, name)
    kind = RENDERED_BEFORE[name]["given"]["kind"]
    with app.app_context(), transaction() as session:
        mail.queue(session, kind, found, registration)  # the ORM's way (staff, waiting list)
        mail.queue_row(  # the sign-up's way, in SQL
            session.connection(),
            kind,
            found,
            mail.MailRegistration.of(registration),
            registration.id,
            registration.email,
        )
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [row.body_text for row in rows] == [None, None]  # nothing rendered when queued
        assert [as_before(mail.rendered(row)) for row in rows] == [expected(name)] * 2
    # And as it leaves: the deliverer's parts are the same text, HTML and invitation.
    assert deliver(app).sent == 2
    before = expected(name)
    for path in sorted(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml")):
        sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert " ".join(sent["Subject"].split()) == before["subject"]  # folded when long
        assert on_the_wire(before["body_text"]) == text_of(sent)
        assert on_the_wire(before["body_html"]) == html_of(sent)
        invites = [p.get_content() for p in sent.iter_attachments()]
        assert invites == ([before["ics"]] if before["ics"] else [])


def on_the_wire(body: str | None) -> str:
    """A body as a MIME part carries it: lines end in CRLF, the last one too."""
    assert body is not None
    return body.replace("\n", "\r\n").rstrip("\r\n") + "\r\n"


def test_queueing_renders_nothing(app, client, event, monkeypatch):
    """Registering and confirming write the messages' parameters; no template, no .ics."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered while queueing")

    monkeypatch.setattr(mail, "render_template", refuse)
    monkeypatch.setattr(mail, "calendar_invite", refuse)
    client.post(register_url(event), data=form_data())
    [registration] = registrations(app)
    with app.app_context():
        token = links.confirm_token(registration)
    assert client.post(f"/agenda/{event.slug}/inscription/confirmer/{token}").status_code == 302
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(r.kind, r.body_text, r.body_html, r.ics) for r in rows] == [
            ("confirm_address", None, None, None),
            ("confirmed", None, None, None),
        ]
        assert all(r.params and r.params["event"] == event.slug for r in rows)
        assert rows[1].params["registration"]["public_id"] == registration.public_id


def test_a_message_says_what_was_true_when_it_was_queued(app, event):
    """Cancelled before the worker got to it, the confirmation still reads as one, with its
    invitation: then the cancellation message follows."""
    [registration] = queue(app, event, "confirmed", status=Status.CONFIRMED)
    with app.app_context():
        api.cancel(event, links.manage_token(registration))
    assert deliver(app).sent == 2
    confirmed, cancelled = outbox(app)
    assert (confirmed.kind, cancelled.kind) == ("confirmed", "cancelled")
    assert "Votre inscription est confirmée." in (confirmed.body_text or "")
    assert confirmed.ics is not None and "METHOD:REQUEST" in confirmed.ics
    assert cancelled.ics is not None and "METHOD:CANCEL" in cancelled.ics


def test_the_invite_is_stamped_when_it_is_rendered(app, event):
    """The one part that depends on the time: DTSTAMP says when the invitation was made."""
    queue(app, event, "confirmed", status=Status.CONFIRMED)
    set_now(app, "2023-05-21T08:30:00+02:00")
    assert deliver(app).sent == 1
    [path] = Path(app.config["MAIL_FILE_DIR"]).glob("*.eml")
    sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    [entry] = ics_of(sent).walk("VEVENT")
    assert entry["DTSTAMP"].dt == datetime(2023, 5, 21, 6, 30, tzinfo=UTC)


def test_a_message_whose_event_left_the_content_waits_and_goes_once_it_is_back(
    make_app, tmp_path, event
):
    app = make_app()
    queue(app, event, "confirmed", status=Status.CONFIRMED)
    elsewhere = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, elsewhere)
    moved = next((elsewhere / "agenda").glob(f"*{event.slug}.md"))
    kept = moved.read_bytes()
    moved.unlink()
    without = make_app(CONTENT_DIR=str(elsewhere))
    report = deliver(without)
    assert (report.sent, report.retrying) == (0, 1)
    [stored] = outbox(app)
    assert stored.status == OutboxStatus.PENDING
    assert f"événement « {event.slug} » absent du contenu ou invalide" in stored.last_error
    moved.write_bytes(kept)
    with without.app_context(), transaction() as session:  # due now, not after its back-off
        session.execute(sa.update(OutboxMessage).values(next_attempt_at=clock.now()))
    assert deliver(without).sent == 1


# --- Rows queued before rendering moved to the deliverer -----------------------------------

BEFORE_PARAMS = "9c41d7e2b8a5"  # the revision before b5d0f3a9c1e7


def test_a_message_queued_before_the_migration_goes_out_as_it_was_written(app, event):
    make_record(app, event)
    with app.app_context():
        downgrade(revision=BEFORE_PARAMS)
        db.engine.dispose()
    try:
        with app.app_context(), transaction() as session:
            session.execute(
                sa.text(
                    "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, ics,"
                    " message_id, status, attempts, last_error, created_at, next_attempt_at)"
                    " VALUES ('confirmed', 'agent@numerique.gouv.fr', 'Écrit avant',"
                    " 'Le texte écrit avant.', '<p>Le HTML écrit avant.</p>',"
                    " 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n', '<avant@numerique.gouv.fr>',"
                    " 'pending', 0, '', :now, :now)"
                ),
                {"now": datetime(2023, 5, 20, 8, 0)},
            )
    finally:
        with app.app_context():
            db.session.remove()
            upgrade()
            db.engine.dispose()
    assert deliver(app).sent == 1
    [path] = Path(app.config["MAIL_FILE_DIR"]).glob("*.eml")
    sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert (sent["Subject"], sent["Message-ID"]) == ("Écrit avant", "<avant@numerique.gouv.fr>")
    assert text_of(sent) == on_the_wire("Le texte écrit avant.")
    assert html_of(sent) == on_the_wire("<p>Le HTML écrit avant.</p>")
    [invite] = [p.get_content() for p in sent.iter_attachments()]
    assert invite == "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"


def test_going_back_before_the_migration_waits_for_unrendered_messages(app, event, capfd):
    queue(app, event, "confirmed", status=Status.CONFIRMED)
    try:
        with app.app_context(), pytest.raises(SystemExit):
            downgrade(revision=BEFORE_PARAMS)
        said = capfd.readouterr().err
        assert "1 message(s) de la file d’envoi ne sont pas encore rédigés" in said
    finally:
        with app.app_context():
            db.session.remove()
            upgrade()
            db.engine.dispose()
    assert deliver(app).sent == 1
    with app.app_context():
        downgrade(revision=BEFORE_PARAMS)  # every message sent: nothing is lost
        db.engine.dispose()
    with app.app_context():
        upgrade()
        db.engine.dispose()
