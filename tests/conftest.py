"""Fixtures: an app on a fresh database (SQLite, and PostgreSQL where it runs), a frozen clock.

PostgreSQL and chromium tests skip with a reason on a machine without them. With
REQUIRE_SERVICES=1 (CI sets it) a missing service fails the run instead.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from registration import create_app
from registration.content import load_site
from registration.extensions import db
from registration.models import Attendee, EventState, OutboxMessage

# The settings read the environment first: the tests run as the "test" environment.
os.environ["APP_ENV"] = "test"
ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SLUG = "la-dinum-en-action"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"
BEFORE_DEADLINE = datetime.fromisoformat("2023-05-20T10:00:00+02:00")


def unavailable(reason: str) -> None:
    """Skip, or fail where the services are required (CI)."""
    if REQUIRED:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1: this test may not be skipped)")
    pytest.skip(reason)


def base_config(tmp_path: Path, **overrides) -> dict:
    config = {
        "APP_ENV": "test",
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "FROZEN_NOW": BEFORE_DEADLINE,
        "CONTENT_DIR": str(CONTENT),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "PUBLIC_BASE_URL": "http://localhost",
        "SESSION_COOKIE_SECURE": False,
    }
    config.update(overrides)
    return config


_sqlite_template: dict[str, Path] = {}


def _sqlite_url(tmp_path: Path, tmp_path_factory) -> str:
    # Migrate once per session into a template file, then copy it for each test.
    if "path" not in _sqlite_template:
        template = tmp_path_factory.mktemp("template") / "template.db"
        app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{template}"))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        _sqlite_template["path"] = template
    target = tmp_path / "test.db"
    shutil.copy(_sqlite_template["path"], target)
    return f"sqlite:///{target}"


_postgres_ready: dict[str, bool] = {}


def _postgres_url(tmp_path: Path) -> str:
    if "ok" not in _postgres_ready:
        try:
            engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            engine.dispose()
            app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=POSTGRES_URL))
            with app.app_context():
                upgrade()
                db.engine.dispose()
            _postgres_ready["ok"] = True
        except sa.exc.OperationalError as exc:
            _postgres_ready["ok"] = False
            _postgres_ready["why"] = str(exc).splitlines()[0]
    if not _postgres_ready["ok"]:
        unavailable(f"PostgreSQL unreachable at {POSTGRES_URL}: {_postgres_ready['why']}")
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return _sqlite_url(tmp_path, tmp_path_factory)
    return _postgres_url(tmp_path)


class ServerLikeClient(FlaskClient):
    """Closes each response, as a WSGI server does, so that call_on_close work runs."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on this test's database; keyword arguments override the config."""
    apps = []

    def build(**overrides):
        app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=database_url, **overrides))
        app.test_client_class = ServerLikeClient
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def event():
    return load_site(CONTENT).event(SLUG)


def set_now(app, iso: str) -> None:
    app.config["FROZEN_NOW"] = datetime.fromisoformat(iso)


def form_data(**overrides) -> dict:
    data = {
        "first_name": "Camille",
        "last_name": "Durand",
        "email": "camille.durand@numerique.gouv.fr",
        "employer": "DINUM",
        "job_title": "Cheffe de projet",
        "certify_agent": "y",
        "accept_privacy": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def register_url(slug: str = SLUG) -> str:
    return f"/agenda/{slug}/inscription"


def attendees(app) -> list[Attendee]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Attendee).order_by(Attendee.id)).all()
        db.session.expunge_all()
        return list(rows)


def outbox(app, kind: str | None = None) -> list[OutboxMessage]:
    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return list(rows)


def set_capacity(app, capacity: int | None, taken: int | None = None) -> None:
    """Set the event's places (and, to simulate earlier registrations, the seats taken)."""
    event_page = load_site(CONTENT).event(SLUG)
    with app.test_request_context():
        from registration import services

        with services.transaction() as session:
            state = services.lock_event(session, event_page)
            state.capacity = capacity
            if taken is not None:
                state.seats_taken = taken


def event_row(app) -> EventState:
    with app.app_context():
        row = db.session.scalars(sa.select(EventState)).one()
        db.session.expunge_all()
        return row


def link_from(message: OutboxMessage, marker: str) -> str:
    """The first link in a message's text that contains `marker`, as a path."""
    for word in message.body_text.split():
        if marker in word:
            return urlsplit(word)._replace(scheme="", netloc="").geturl()
    raise AssertionError(f"no link with {marker!r} in {message.body_text!r}")


# --- A real SMTP server on loopback --------------------------------------------------------


class SMTPServer:
    """aiosmtpd on 127.0.0.1, keeping every message it receives; can stop and start again."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages: list[email.message.EmailMessage] = []
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def of_kind(self, subject_start: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["Subject"].startswith(subject_start)]


@pytest.fixture
def smtp():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_config(smtp) -> dict:
    return {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_TIMEOUT": 2,
    }


# --- Accounts ------------------------------------------------------------------------------

PASSWORD = "un mot de passe solide"


def make_user(app, email: str, role: str = "organiser", password: str = PASSWORD):
    from registration import accounts
    from registration.models import Role

    with app.app_context():
        user = accounts.create_user(email, password, Role(role))
        db.session.expunge(user)
        return user


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/connexion", data={"email": email, "password": password})


def signed_in_client(app, email: str, role: str):
    make_user(app, email, role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


@pytest.fixture
def organiser_client(app):
    return signed_in_client(app, "orga@numerique.gouv.fr", "organiser")


@pytest.fixture
def admin_client(app):
    return signed_in_client(app, "admin@numerique.gouv.fr", "admin")
