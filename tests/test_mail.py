"""E-mails through a real SMTP server on loopback: headers, parts, .ics, links, outages."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest
from flask import Flask

from registration import links, mail
from registration.content import Event
from registration.db import transaction
from registration.extensions import db
from registration.models import OutboxStatus, Registration, Status

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
    """Queue a message of `kind` about each registration (one new one by default), outside
    any request: nothing is sent until something delivers."""
    if rows is None:
        rows = [make_registration(app, event, **fields)]
    with app.app_context(), transaction() as session:
        for row in rows:
            mail.queue(session, kind, event, row)
    return rows


def deliver(app: Flask) -> mail.DeliveryReport:
    with app.app_context():
        return mail.deliver()


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
    client.post(link_in(smtp.messages[0], "/confirmer/"))
    [confirmed] = smtp.of_kind("Inscription confirmée")
    calendar = ics_of(confirmed)
    [entry] = calendar.walk("VEVENT")
    assert entry.decoded("dtstart").astimezone(UTC) == datetime(2023, 6, 15, 7, 30, tzinfo=UTC)
    assert entry.decoded("dtend").astimezone(UTC) == datetime(2023, 6, 15, 10, 30, tzinfo=UTC)
    assert str(entry["dtstart"].params["TZID"]) == "Europe/Paris"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert str(entry["location"]) == PLACE
    registration = registrations(mail_app)[0]
    assert str(entry["uid"]) == f"{registration.public_id}@numerique.gouv.fr"
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


def test_duplicate_registration_sends_a_reminder_of_the_existing_one(mail_app, smtp, event):
    make_registration(
        mail_app, event, status=Status.PENDING, email="camille.durand@numerique.gouv.fr"
    )
    mail_app.test_client().post(register_url(event), data=form_data())
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


def test_smtp_down_keeps_the_registration_and_delivers_once_later(
    make_app, smtp, smtp_config, event
):
    app = make_app(**smtp_config)
    smtp.stop()
    response = app.test_client().post(register_url(event), data=form_data())
    assert response.status_code == 302
    assert len(registrations(app)) == 1
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


def test_a_silent_smtp_server_times_out_instead_of_hanging_the_request(make_app, event):
    """A server that accepts the connection and never says hello: MAIL_TIMEOUT ends the wait.

    Without a timeout the wait would last until the listening socket is closed (after 10 s
    here), and the error would then be a reset connection, not a timeout: the test fails.
    """
    silent = socket.create_server(("127.0.0.1", 0))  # never accepts, never answers
    port = silent.getsockname()[1]
    closer = threading.Timer(10, silent.close)
    closer.start()
    try:
        app = make_app(
            MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=0.2
        )
        response = app.test_client().post(register_url(event), data=form_data())
    finally:
        closer.cancel()
        closer.join()
        silent.close()
    assert response.status_code == 302
    [stored] = outbox(app)
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


def test_a_claim_left_by_a_dead_deliverer_is_taken_over_later(mail_app, smtp, event):
    queue(mail_app, event, "confirm_address", status=Status.PENDING)
    set_now(mail_app, "2023-05-20T10:02:00+02:00")
    with mail_app.app_context():
        [_] = mail._claim(None, 10)  # a deliverer claims, then dies before sending
    assert outbox(mail_app)[0].status == OutboxStatus.SENDING
    set_now(mail_app, "2023-05-20T10:10:00+02:00")
    assert deliver(mail_app) == mail.DeliveryReport()  # still within the claim's lease
    assert smtp.messages == []
    set_now(mail_app, "2023-05-20T10:13:00+02:00")
    assert deliver(mail_app).sent == 1
    assert len(smtp.messages) == 1
    assert outbox(mail_app)[0].attempts == 2


def test_a_retry_keeps_the_message_id(make_app, smtp, smtp_config, event):
    app = make_app(**smtp_config)
    smtp.stop()
    queue(app, event, "confirm_address", status=Status.PENDING)
    deliver(app)
    smtp.start()
    set_now(app, "2023-05-20T10:05:00+02:00")
    assert deliver(app).sent == 1
    [message] = smtp.messages
    assert message["Message-ID"] == outbox(app)[0].message_id


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
    [path] = list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))
    assert "confirm_address" in path.name
    assert b"Subject: =?utf-8?" in path.read_bytes() or b"Subject:" in path.read_bytes()
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Confirmez votre inscription : {TITLE}"
    assert message["To"] == "camille.durand@numerique.gouv.fr"
    assert outbox(app)[0].status == OutboxStatus.SENT
