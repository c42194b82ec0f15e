"""E-mails through a real SMTP server on loopback: headers, parts, .ics, links, outages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from registration import mail
from registration.extensions import db
from registration.models import OutboxStatus, Status

from .conftest import (
    ROOT,
    SLUG,
    attendees,
    form_data,
    outbox,
    register_url,
    set_capacity,
    set_now,
)


def link_in(message, marker: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    for word in text.split():
        if marker in word:
            assert word.startswith("http://localhost/")
            return word.removeprefix("http://localhost")
    raise AssertionError(f"no {marker!r} link in {text!r}")


def ics_of(message) -> icalendar.Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_content())


@pytest.fixture
def mail_app(make_app, smtp_config):
    return make_app(**smtp_config)


def test_confirmation_request_arrives_with_headers_both_parts_and_a_working_link(mail_app, smtp):
    client = mail_app.test_client()
    client.post(register_url(), data=form_data())
    [message] = smtp.messages
    assert message["From"] == "Inscriptions DINUM <ne-pas-repondre@numerique.gouv.fr>"
    assert message["To"] == "camille.durand@numerique.gouv.fr"
    assert message["Subject"] == (
        "Confirmez votre inscription : La Dinum en action : lancement de la feuille de route"
    )
    assert message["Message-ID"].endswith("@numerique.gouv.fr>")
    assert message["Date"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for part in (text, html):
        assert "Camille Durand" in part
        assert "jeudi 1er juin 2023 à 14h00" in part
        assert "Cité Internationale Universitaire de Paris, 17 Bd Jourdan, 75014 Paris" in part
        assert "RER B, RER C, M4, T3a, Bus21" in part
        assert f"http://localhost/agenda/{SLUG}/" in part
    assert client.get(link_in(message, f"/agenda/{SLUG}/")).status_code == 200
    assert client.post(link_in(message, "/confirmer/")).status_code == 302
    assert attendees(mail_app)[0].status == Status.CONFIRMED
    stored = outbox(mail_app, "confirm_address")[0]
    assert stored.status == OutboxStatus.SENT and stored.message_id == message["Message-ID"]


def test_the_confirmation_carries_a_calendar_invite(mail_app, smtp):
    client = mail_app.test_client()
    client.post(register_url(), data=form_data())
    client.post(link_in(smtp.messages[0], "/confirmer/"))
    [confirmed] = smtp.of_kind("Inscription confirmée")
    calendar = ics_of(confirmed)
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart").astimezone(UTC) == datetime(2023, 6, 1, 12, 0, tzinfo=UTC)
    assert event.decoded("dtend").astimezone(UTC) == datetime(2023, 6, 1, 17, 0, tzinfo=UTC)
    assert str(event["dtstart"].params["TZID"]) == "Europe/Paris"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert str(event["location"]) == (
        "Cité Internationale Universitaire de Paris, 17 Bd Jourdan, 75014 Paris"
    )
    attendee = attendees(mail_app)[0]
    assert str(event["uid"]) == f"{attendee.public_id}@numerique.gouv.fr"
    assert str(event["summary"]) == "La Dinum en action : lancement de la feuille de route"


def test_smtp_down_keeps_the_registration_and_delivers_once_later(make_app, smtp, smtp_config):
    app = make_app(**smtp_config)
    smtp.stop()
    started = time.monotonic()
    response = app.test_client().post(register_url(), data=form_data())
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert elapsed < 2 * app.config["MAIL_TIMEOUT"] + 2  # answered, not hung on SMTP
    assert len(attendees(app)) == 1
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


def test_messages_that_keep_failing_end_up_failed_with_their_error(make_app, smtp, smtp_config):
    app = make_app(**smtp_config, OUTBOX_MAX_ATTEMPTS=2)
    smtp.stop()
    app.test_client().post(register_url(), data=form_data())
    set_now(app, "2023-05-20T12:00:00+02:00")
    app.test_cli_runner().invoke(args=["outbox", "deliver"])
    [stored] = outbox(app)
    assert stored.status == OutboxStatus.FAILED and stored.attempts == 2
    status = app.test_cli_runner().invoke(args=["outbox", "status"]).output
    assert "échec : 1" in status and "Connection refused" in status


def test_two_deliverers_at_once_send_each_message_once(make_app, smtp, smtp_config):
    app = make_app(**smtp_config)
    smtp.stop()  # queue while the server is down
    client = app.test_client()
    for i in range(30):
        client.post(register_url(), data=form_data(email=f"a{i}@numerique.gouv.fr"))
    smtp.start()
    set_now(app, "2023-05-20T10:05:00+02:00")
    barrier = threading.Barrier(2)

    def deliver() -> None:
        with app.app_context():
            barrier.wait()
            for _ in range(3):
                mail.deliver(limit=7)
            db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        mail.deliver()
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {m.status for m in outbox(app)} == {OutboxStatus.SENT}


def test_cancelling_moves_the_waiting_list_up_and_sends_both_messages(mail_app, smtp):
    set_capacity(mail_app, 1)
    client = mail_app.test_client()
    client.post(register_url(), data=form_data())
    client.post(register_url(), data=form_data(email="b@numerique.gouv.fr", first_name="Bao"))
    for message in smtp.of_kind("Confirmez"):
        client.post(link_in(message, "/confirmer/"))
    [first_confirmed] = smtp.of_kind("Inscription confirmée")
    [waitlisted] = smtp.of_kind("Vous êtes sur liste d’attente")
    assert waitlisted["To"] == "b@numerique.gouv.fr"

    manage = link_in(first_confirmed, "/mon-inscription/")
    assert "Annuler mon inscription" in client.get(manage).get_data(as_text=True)
    confirm_page = client.get(manage + "/annuler").get_data(as_text=True)
    assert "Oui, annuler mon inscription" in confirm_page
    assert client.post(manage + "/annuler").status_code == 302
    first, second = attendees(mail_app)
    assert (first.status, second.status) == (Status.CANCELLED, Status.CONFIRMED)
    [cancelled] = smtp.of_kind("Inscription annulée")
    [promoted] = smtp.of_kind("Une place s’est libérée")
    assert cancelled["To"] == "camille.durand@numerique.gouv.fr"
    assert promoted["To"] == "b@numerique.gouv.fr"
    assert str(ics_of(promoted).walk("VEVENT")[0]["uid"]).startswith(second.public_id)


def test_a_management_link_is_the_only_credential(mail_app, smtp):
    client = mail_app.test_client()
    client.post(register_url(), data=form_data())
    manage = link_in(smtp.messages[0], "/mon-inscription/")
    response = client.get(manage)
    assert response.headers["Referrer-Policy"] == "same-origin"  # the token stays here
    forged = manage[:-3] + ("abc" if not manage.endswith("abc") else "xyz")
    assert client.get(forged).status_code == 404
    assert client.post(forged + "/annuler").status_code == 404
    assert attendees(mail_app)[0].status == Status.PENDING


def test_duplicate_registration_sends_a_reminder_of_the_existing_one(mail_app, smtp):
    client = mail_app.test_client()
    client.post(register_url(), data=form_data())
    client.post(register_url(), data=form_data())
    [reminder] = smtp.of_kind("Rappel de votre inscription")
    assert "Vous êtes déjà inscrit" in reminder.get_body(preferencelist=("plain",)).get_content()


def test_reminders_go_once_to_confirmed_attendees(mail_app, smtp):
    client = mail_app.test_client()
    client.post(register_url(), data=form_data())
    client.post(register_url(), data=form_data(email="b@numerique.gouv.fr"))  # never confirms
    client.post(link_in(smtp.messages[0], "/confirmer/"))
    set_now(mail_app, "2023-05-30T15:00:00+02:00")
    runner = mail_app.test_cli_runner()
    runner.invoke(args=["reminders", "send", "--days", "1"])  # the event is 47 h away
    assert smtp.of_kind("Rappel :") == []
    runner.invoke(args=["reminders", "send", "--days", "2"])
    runner.invoke(args=["reminders", "send", "--days", "2"])
    reminders = smtp.of_kind("Rappel :")
    assert [m["To"] for m in reminders] == ["camille.durand@numerique.gouv.fr"]
    assert ics_of(reminders[0])


def test_dev_backend_writes_eml_files(app, tmp_path):
    app.test_client().post(register_url(), data=form_data())
    [path] = list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))
    assert "confirm_address" in path.name
    assert b"Subject: =?utf-8?" in path.read_bytes() or b"Subject:" in path.read_bytes()


def test_two_outbox_deliver_commands_at_once_send_each_message_once(
    make_app, smtp, smtp_config, database_url, tmp_path
):
    """Two `flask outbox deliver` processes, as two cron jobs or two hosts would run them."""
    app = make_app(**smtp_config)
    smtp.stop()
    client = app.test_client()
    for i in range(40):
        client.post(register_url(), data=form_data(email=f"p{i}@numerique.gouv.fr"))
    smtp.start()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
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


def test_a_claim_left_by_a_dead_deliverer_is_taken_over_later(mail_app, smtp):
    smtp.stop()
    mail_app.test_client().post(register_url(), data=form_data())  # first try fails: backoff
    set_now(mail_app, "2023-05-20T10:02:00+02:00")
    with mail_app.app_context():
        [_] = mail._claim(None, 10)  # a deliverer claims, then dies before sending
    assert outbox(mail_app)[0].status == OutboxStatus.SENDING
    smtp.start()
    set_now(mail_app, "2023-05-20T10:10:00+02:00")
    with mail_app.app_context():
        assert mail.deliver() == mail.DeliveryReport()  # still within the claim's lease
    set_now(mail_app, "2023-05-20T10:13:00+02:00")
    with mail_app.app_context():
        assert mail.deliver().sent == 1
    assert len(smtp.messages) == 1
