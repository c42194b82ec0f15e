"""`flask outbox worker`: a real process on SQLite and PostgreSQL, woken by NOTIFY on the
latter, stopped cleanly by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from registration import create_app, links, mail
from registration.content import Event
from registration.db import transaction
from registration.extensions import db
from registration.models import OutboxStatus, Registration, Status
from registration.registrations import api

from .conftest import CONTENT, ROOT, SMTPServer, base_config, postgres_url
from .factories import make_registration, outbox, registrant, statements

FLASK = Path(sys.executable).with_name("flask")  # .venv/bin/flask
DEADLINE = 60.0  # generous: the worker looks at least every 2 s; a busy machine is slow


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds; fail after DEADLINE seconds (never a timing claim)."""
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"still waiting after {DEADLINE} s: {what}")
        time.sleep(0.05)


def queue_one(app: Flask, event: Event, email: str = "camille.durand@numerique.gouv.fr") -> None:
    registration = make_registration(app, event, status=Status.PENDING, email=email)
    with app.app_context(), transaction() as session:
        mail.queue(session, "confirm_address", event, session.get(Registration, registration.id))


@pytest.fixture
def worker(
    database_url: str, smtp: SMTPServer, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The worker as production runs it, on this test's database, with its log in a file."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"FROZEN_NOW", "FLASK_APP"}},
        "APP_ENV": "test",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "CONTENT_DIR": str(CONTENT),
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "MAIL_DEFAULT_SENDER": "Inscriptions DINUM <ne-pas-repondre@numerique.gouv.fr>",
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [str(FLASK), "--app", "wsgi:app", "outbox", "worker"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        started = lambda: "worker démarré" in worker_log(tmp_path)  # noqa: E731
        wait_for(lambda: started() or process.poll() is not None, "the worker's start")
        assert started(), worker_log(tmp_path)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def worker_log(tmp_path: Path) -> str:
    return (tmp_path / "worker.log").read_text("utf-8", errors="replace")


def test_the_worker_sends_what_is_queued_after_it_started_and_stops_on_sigterm(
    worker, app, smtp, event, tmp_path, database_url
):
    queue_one(app, event)
    wait_for(lambda: len(smtp.messages) == 1, "the message at the SMTP server")
    assert smtp.messages[0]["To"] == "camille.durand@numerique.gouv.fr"
    wait_for(lambda: outbox(app)[0].status == OutboxStatus.SENT, "the message marked sent")

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=DEADLINE) == 0
    log = worker_log(tmp_path)
    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert f"worker démarré ({dialect}" in log
    if dialect == "postgresql":
        assert "LISTEN outbox" in log
    assert "envoyés : 1, à réessayer : 0, en échec : 0" in log
    assert "worker arrêté" in log
    assert "camille.durand" not in log  # counts, never addresses
    assert len(smtp.messages) == 1


def test_the_worker_logs_a_failure_without_the_address(worker, app, smtp, event, tmp_path):
    smtp.refuse = 1
    queue_one(app, event, email="dominique.martin@numerique.gouv.fr")
    wait_for(lambda: "à réessayer : 1" in worker_log(tmp_path), "the failure in the log")
    worker.send_signal(signal.SIGINT)  # Ctrl-C stops it as cleanly
    assert worker.wait(timeout=DEADLINE) == 0
    log = worker_log(tmp_path)
    assert "message 1 à réessayer : SMTPDataError" in log
    assert "dominique.martin" not in log


@pytest.fixture
def postgres_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url(tmp_path)))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_queue_notifies_the_workers_when_its_transaction_commits(postgres_app, event):
    registration = make_registration(postgres_app, event, status=Status.PENDING)
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN outbox")
        with postgres_app.app_context(), transaction() as session:
            row = session.get(Registration, registration.id)
            mail.queue(session, "confirm_address", event, row)
            assert list(listener.notifies(timeout=0.5)) == []  # nothing before the commit
        [notice] = list(listener.notifies(timeout=DEADLINE, stop_after=1))
    assert notice.channel == "outbox"


@pytest.mark.postgres
def test_a_sign_up_wakes_the_workers_after_each_commit_not_inside_it(
    postgres_app, event, monkeypatch
):
    """The NOTIFY leaves after the commit, on its own: inside the transaction it would
    serialise the commits of every sign-up behind one lock."""
    monkeypatch.setattr(mail, "WAKE_EVERY", 0.0)  # each commit wakes them, however close
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN outbox")
        with statements(postgres_app) as sent, postgres_app.app_context():
            api.register(event, registrant())
            [row] = db.session.scalars(sa.select(Registration)).all()
            api.confirm(event, links.confirm_token(row))
        assert not any("pg_notify" in statement for statement in sent), sent
        notices = list(listener.notifies(timeout=DEADLINE, stop_after=2))
    assert [n.channel for n in notices] == ["outbox", "outbox"]


@pytest.mark.postgres
def test_a_rush_of_commits_wakes_the_workers_once_per_moment(postgres_app, event, monkeypatch):
    """Commits in quick succession send one NOTIFY: the worker it wakes is busy with them."""
    monkeypatch.setattr(mail, "WAKE_EVERY", 60.0)
    monkeypatch.setattr(mail._Woken, "at", -60.0)
    registrations = [make_registration(postgres_app, event, status=Status.PENDING) for _ in "ab"]
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN outbox")
        for registration in registrations:
            with postgres_app.app_context(), transaction() as session:
                row = session.get(Registration, registration.id)
                mail.queue(session, "confirm_address", event, row)
        notices = list(listener.notifies(timeout=1.0))
    assert [n.channel for n in notices] == ["outbox"]
    assert len(outbox(postgres_app)) == 2


@pytest.mark.postgres
def test_a_transaction_rolled_back_wakes_no_worker(postgres_app, event):
    registration = make_registration(postgres_app, event, status=Status.PENDING)
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN outbox")
        with (
            postgres_app.app_context(),
            pytest.raises(RuntimeError),
            transaction() as session,
        ):
            row = session.get(Registration, registration.id)
            mail.queue(session, "confirm_address", event, row)
            raise RuntimeError("rolled back")
        with postgres_app.app_context(), transaction() as session:  # the same connection
            session.execute(sa.select(1))
        assert list(listener.notifies(timeout=0.5)) == []
    assert outbox(postgres_app) == []


def test_the_worker_loop_in_a_thread_delivers_then_stops(mail_app, smtp, event):
    """What the browser tests' live server runs beside the app."""
    stop = mail.StopFlag()

    def run() -> None:
        with mail_app.app_context():
            mail.work(stop, poll=0.05)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        queue_one(mail_app, event)
        wait_for(lambda: len(smtp.messages) == 1, "the message at the SMTP server")
    finally:
        stop.set()
        thread.join(timeout=DEADLINE)
    assert not thread.is_alive()
    with mail_app.app_context():
        db.session.remove()


@pytest.fixture
def mail_app(make_app, smtp_config):
    return make_app(**smtp_config)
