"""The production setup for real: two gunicorn instances (gunicorn.conf.py) and the outbox
worker on one PostgreSQL database and one Redis, registrations through both at once; and the
deployment files themselves (gunicorn.conf.py, deploy/systemd/)."""

from __future__ import annotations

import json
import os
import re
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest
import redis
import sqlalchemy as sa

from registration.models import EventRecord, OutboxMessage, OutboxStatus, Registration, Status

from .conftest import (
    CONTENT,
    POSTGRES_DB,
    REDIS_URL,
    ROOT,
    WITH_QUESTIONS,
    postgres_database,
    reset_schema,
    unavailable,
)
from .factories import form_data

BIN = Path(sys.executable).parent  # the virtualenv's gunicorn and flask
WORKER = [str(BIN / "flask"), "--app", "wsgi:app", "outbox", "worker"]
PLACES = 5
PEOPLE = 16  # each registers once, through one instance or the other
TWICE = "deux.fois@numerique.gouv.fr"  # registers through both instances at the same moment
# Every registration form sent counts, valid or not: two more are allowed after the burst.
RATE_LIMIT = PEOPLE + 2 + 2
FORM = f"/agenda/{WITH_QUESTIONS}/inscription"
DEADLINE = 90  # seconds: generous, for a loaded machine; only ever waited for, never measured


# --- A browser of sorts: cookies, CSRF token, no redirect followed --------------------------


class _KeepRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # a 302 is an answer to look at, not to follow


class Browser:
    """One visitor on one instance: keeps its cookies, reads the CSRF token of the forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), _KeepRedirects())

    def request(self, path: str, data: dict[str, Any] | None = None) -> tuple[int, Any, str]:
        body = urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(Request(self.base + path, data=body), timeout=60) as response:
                return response.status, response.headers, response.read().decode()
        except HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def form_token(self, path: str) -> str:
        status, _, page = self.request(path)
        assert status == 200, (path, status)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert found, f"no CSRF token on {path}"
        return found.group(1)


def all_at_once(jobs: list[Callable[[threading.Barrier], Any]]) -> list[Any]:
    """Run the jobs in threads; each waits at the barrier, so that they send together."""
    barrier = threading.Barrier(len(jobs))
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: job(barrier), jobs))


def register(base: str, email: str) -> Callable[[threading.Barrier], tuple[int, Any, str]]:
    def job(barrier: threading.Barrier) -> tuple[int, Any, str]:
        browser = Browser(base)
        token = browser.form_token(FORM)
        barrier.wait(timeout=DEADLINE)
        return browser.request(FORM, {**form_data(email=email), "csrf_token": token})

    return job


def confirm(base: str, path: str) -> Callable[[threading.Barrier], tuple[int, Any, str]]:
    def job(barrier: threading.Barrier) -> tuple[int, Any, str]:
        browser = Browser(base)
        token = browser.form_token(path)  # the page with the button
        barrier.wait(timeout=DEADLINE)
        return browser.request(path, {"csrf_token": token})

    return job


# --- The processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """The servers this test starts, their stderr kept in files; stopped with SIGTERM."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], **env: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=log
            )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                pytest.fail(f"{name} stopped ({process.returncode}):\n{self.log(name)[-3000:]}")

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Wait for a condition, as long as the servers run; fail after a generous deadline."""
        give_up = time.monotonic() + DEADLINE
        while not condition():
            self.check_alive()
            if time.monotonic() > give_up:
                logs = "\n".join(f"--- {n}\n{self.log(n)[-2000:]}" for n in self.running)
                pytest.fail(f"still waiting for {what} after {DEADLINE} s\n{logs}")
            time.sleep(0.2)

    def stop(self) -> dict[str, int]:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


def healthy(base: str) -> bool:
    try:
        status, _, body = Browser(base).request("/healthz")
    except (URLError, ConnectionError):
        return False
    return status == 200 and json.loads(body) == {"status": "ok", "database": "ok"}


# --- What the test needs: PostgreSQL, Redis, content ----------------------------------------


@pytest.fixture
def live_redis() -> Iterator[tuple[str, str]]:
    """The Redis URL and a key prefix of this test's own, whose keys are deleted afterwards
    (the database is shared: nothing else is touched, nothing is flushed)."""
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        store.ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    prefix = f"test-deployment-{secrets.token_hex(8)}"
    yield REDIS_URL, prefix
    for key in store.scan_iter(match=f"*{prefix}*"):
        store.delete(key)
    store.close()


def few_places(tmp_path: Path) -> Path:
    """The fixture content, with only PLACES places for the event with questions."""
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    [page] = folder.glob(f"agenda/*-{WITH_QUESTIONS}.md")
    text = page.read_text()
    assert "  places: 100\n" in text
    page.write_text(text.replace("  places: 100\n", f"  places: {PLACES}\n"))
    return folder


def confirmation_path(message: Any) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(r"https?://\S+/inscription/confirmer/\S+", text)
    assert found, text
    return urlsplit(found.group(0)).path


@pytest.mark.postgres
def test_two_instances_and_the_worker_keep_every_promise(tmp_path, smtp, live_redis):
    """Capacity, one row per address, a rate limit shared by both instances, every message
    delivered by the worker, and logs without an address nor a token."""
    redis_url, prefix = live_redis
    # Our own database, created if missing; emptied, then migrated by the README's command.
    database = postgres_database(f"{POSTGRES_DB}_deploy")
    reset_schema(database)
    ports = [free_port(), free_port()]
    instances = [f"http://127.0.0.1:{port}" for port in ports]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "FLASK_APP"))},
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(16),
        "DATABASE_URL": database,
        "CONTENT_DIR": str(few_places(tmp_path)),
        "FROZEN_NOW": "2023-05-20T10:00:00+02:00",  # before the deadline
        "PUBLIC_BASE_URL": instances[0],
        "SESSION_COOKIE_SECURE": "false",  # plain HTTP on loopback
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": prefix,
        "REGISTRATION_RATE_LIMIT": f"{RATE_LIMIT} per hour",
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "2",
    }
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi:app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    engine = sa.create_engine(database)
    servers = Processes(tmp_path, env)
    try:
        for name, port in zip(("web-a", "web-b"), ports, strict=True):
            gunicorn = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
            servers.start(name, gunicorn, GUNICORN_BIND=f"127.0.0.1:{port}")
        servers.start("worker", WORKER)
        for base in instances:
            servers.wait_for(f"{base}/healthz", lambda base=base: healthy(base))

        # Many more people than places, half through each instance, and one address
        # through both at the same moment.
        people = [f"agent.{i:02d}@numerique.gouv.fr" for i in range(PEOPLE)]
        jobs = [register(instances[i % 2], email) for i, email in enumerate(people)]
        answers = all_at_once([*jobs, register(instances[0], TWICE), register(instances[1], TWICE)])
        servers.check_alive()
        assert [status for status, _, _ in answers] == [302] * (PEOPLE + 2)
        assert all("/inscription/envoyee" in headers["Location"] for _, headers, _ in answers)
        assert all(re.fullmatch(r"[0-9a-f]{32}", h["X-Request-ID"]) for _, h, _ in answers)

        # The rate limit is one counter for both instances (one client address).
        def refused(base: str) -> int:
            browser = Browser(base)
            return browser.request(FORM, {"csrf_token": browser.form_token(FORM)})[0]

        assert [refused(base) for base in instances * 2] == [200, 200, 429, 429]

        # Each address confirms its mailbox through the link the worker delivered, half of
        # them through each instance, all at once: the seats go to the first five.
        everyone = {*people, TWICE}

        def confirmations() -> list[Any]:
            return smtp.of_kind("Confirmez votre inscription")

        servers.wait_for(
            "the confirmation e-mails", lambda: {m["To"] for m in confirmations()} == everyone
        )
        links = sorted({confirmation_path(m) for m in confirmations()})
        assert len(links) == len(everyone)
        answers = all_at_once([confirm(instances[i % 2], p) for i, p in enumerate(links)])
        assert [status for status, _, _ in answers] == [302] * len(everyone)

        with engine.connect() as conn:
            rows = conn.execute(sa.select(Registration.email, Registration.status)).all()
            [taken] = conn.scalars(
                sa.select(EventRecord.seats_taken).where(EventRecord.slug == WITH_QUESTIONS)
            ).all()
        assert sorted(email for email, _ in rows) == sorted(everyone)  # one row for TWICE
        statuses = Counter(status for _, status in rows)
        assert statuses == {Status.CONFIRMED: PLACES, Status.WAITLISTED: len(everyone) - PLACES}
        assert taken == PLACES

        # Every message queued was delivered, once, by the worker.
        def outbox() -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(sa.select(OutboxMessage)).all())

        servers.wait_for(
            "every message sent",
            lambda: (
                all(m.status == OutboxStatus.SENT for m in outbox())
                and len(smtp.messages) >= len(outbox())
            ),
        )
        servers.check_alive()
        queued = outbox()
        assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(
            m.message_id for m in queued
        )
        assert Counter(m.kind for m in queued) == {
            "confirm_address": len(everyone),
            "duplicate": 1,
            "confirmed": PLACES,
            "waitlisted": len(everyone) - PLACES,
        }

        codes = servers.stop()
        assert codes == {"web-a": 0, "web-b": 0, "worker": 0}
    finally:
        servers.stop()
        engine.dispose()

    # The instances log JSON lines only, and never an address nor a token.
    tokens = [path.rsplit("/", 1)[1] for path in links]
    for name in ("web-a", "web-b"):
        lines = [json.loads(line) for line in servers.log(name).splitlines()]
        routes = Counter(line.get("route") for line in lines)
        assert routes[FORM.replace(WITH_QUESTIONS, "<slug>")] > 0
    for name in servers.running:
        log = servers.log(name)
        assert not [e for e in everyone if e in log], name
        assert not [t for t in tokens if t in log], name


# --- The deployment files -------------------------------------------------------------------


def gunicorn_settings(**env: str) -> dict[str, str]:
    """gunicorn's settings once gunicorn.conf.py is read, as `--print-config` shows them
    (it loads the application too, hence a secret and the fixture content)."""
    env = {"SECRET_KEY": "x", "CONTENT_DIR": str(CONTENT), **env}
    printed = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--print-config", "wsgi:app"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0, printed.stderr
    return dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in printed.stdout.splitlines())
    )


def test_gunicorn_conf_reads_the_environment():
    settings = gunicorn_settings(
        WEB_CONCURRENCY="3", GUNICORN_BIND="127.0.0.1:8123", APP_ENV="production"
    )
    assert settings["workers"] == "3"
    assert settings["worker_class"] == "sync"
    assert settings["bind"] == "['127.0.0.1:8123']"
    assert settings["preload_app"] == "False"
    assert settings["accesslog"] == "None" and settings["errorlog"] == "-"
    assert int(settings["max_requests"]) > 0 and int(settings["max_requests_jitter"]) > 0
    assert settings["forwarded_allow_ips"] == "['127.0.0.1', '::1']"
    assert settings["control_socket_disable"] == "True"  # two instances, one machine
    assert "registration.logs.make_handler" in settings["logconfig_dict"]
    text = gunicorn_settings(WEB_CONCURRENCY="3", APP_ENV="development", LOG_FORMAT="")
    assert text["logconfig_dict"] == "{}"


def test_gunicorn_builds_no_access_log_line(monkeypatch):
    """The application logs each request itself: gunicorn's access logger, which writes
    nowhere, must not gather each request's fields either (it did whenever logconfig_dict
    was set, for the JSON logs)."""
    from gunicorn import glogging
    from gunicorn.config import Config

    monkeypatch.setenv("APP_ENV", "production")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config = Config()
    config.set("logconfig_dict", settings["logconfig_dict"])
    logger = settings["logger_class"](config)
    assert isinstance(logger, glogging.Logger)
    gathered: list[object] = []
    monkeypatch.setattr(logger, "atoms", lambda *args: gathered.append(args) or {})
    logger.access(None, None, {}, None)
    assert gathered == []


UNITS = ROOT / "deploy" / "systemd"
JOBS = {
    "expire": ("registrations expire", "*:0/5"),
    "reminders": ("reminders send --days 2", "*-*-* 09:00:00 Europe/Paris"),
    "purge": ("attendees purge --older-than 90d", "*-*-* 03:30:00 Europe/Paris"),
}


def unit(name: str) -> dict[str, str]:
    lines = (UNITS / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_systemd_units_run_the_readme_commands():
    flask = "/opt/inscriptions/.venv/bin/flask --app wsgi:app"
    assert unit("inscriptions-web.service")["ExecStart"] == (
        "/opt/inscriptions/.venv/bin/gunicorn -c gunicorn.conf.py wsgi:app"
    )
    assert unit("inscriptions-outbox.service")["ExecStart"] == f"{flask} outbox worker"
    for job, (command, calendar) in JOBS.items():
        service = unit(f"inscriptions-{job}.service")
        assert service["Type"] == "oneshot" and service["ExecStart"] == f"{flask} {command}"
        assert unit(f"inscriptions-{job}.timer")["OnCalendar"] == calendar
    for path in UNITS.glob("*.service"):
        assert unit(path.name)["EnvironmentFile"] == "/etc/inscriptions/inscriptions.env"
        assert unit(path.name)["User"] == "inscriptions"


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # The units name /opt/inscriptions; here the programs live in this checkout.
    for path in UNITS.iterdir():
        text = path.read_text().replace("/opt/inscriptions", str(ROOT))
        (tmp_path / path.name).write_text(text)
    files = sorted(str(p) for p in tmp_path.iterdir())
    verified = subprocess.run(
        ["systemd-analyze", "verify", *files], capture_output=True, text=True, cwd=tmp_path
    )
    assert verified.returncode == 0 and verified.stdout + verified.stderr == ""
