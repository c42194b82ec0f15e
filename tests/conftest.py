"""Fixtures: an app on a fresh database (SQLite, and PostgreSQL where it runs), a frozen
clock, the fixture content folder (tests/fixtures/content, two events), a real SMTP server.

PostgreSQL, Redis and chromium tests skip with a reason on a machine without them. With
REQUIRE_SERVICES=1 (CI sets it) a missing service fails the run instead. Factories that
write rows directly live in tests/factories.py.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from registration import create_app
from registration.content import Event, load_site
from registration.extensions import db

# The settings read the environment first: the tests run as the "test" environment.
os.environ["APP_ENV"] = "test"
# A developer's .env (created by `make run`) must not reach the commands the tests start.
os.environ["FLASK_SKIP_DOTENV"] = "1"
ROOT = Path(__file__).resolve().parent.parent
CONTENT = Path(__file__).resolve().parent / "fixtures" / "content"
WITH_QUESTIONS = "atelier-des-communs"  # 100 places, three questions
WITHOUT_QUESTIONS = "rencontre-des-achats"  # unlimited places, no questions
# Our own database, created if missing: the tests empty it and never touch any other.
POSTGRES_SERVER = os.environ.get(
    "TEST_POSTGRES_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
POSTGRES_DB = os.environ.get("TEST_POSTGRES_DB", "inscriptions_test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"
BEFORE_DEADLINE = datetime.fromisoformat("2023-05-20T10:00:00+02:00")


def unavailable(reason: str) -> None:
    """Skip, or fail where the services are required (CI)."""
    if REQUIRED:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1: this test may not be skipped)")
    pytest.skip(reason)


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
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
        "MAIL_DEFAULT_SENDER": "Inscriptions DINUM <ne-pas-repondre@numerique.gouv.fr>",
        "SESSION_COOKIE_SECURE": False,
        # scrypt takes 0.1 s a hash: a cheap method keeps sign-in tests fast
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    config.update(overrides)
    return config


def migrate_to_head(tmp_path: Path, url: str) -> None:
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


_sqlite_template: dict[str, Path] = {}


def sqlite_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh migrated SQLite file: migrated once per session, then copied for each test."""
    if "path" not in _sqlite_template:
        template = tmp_path_factory.mktemp("template") / "template.db"
        migrate_to_head(tmp_path, f"sqlite:///{template}")
        _sqlite_template["path"] = template
    target = tmp_path / "test.db"
    shutil.copy(_sqlite_template["path"], target)
    return f"sqlite:///{target}"


def postgres_database(name: str) -> str:
    """The URL of our own database `name`, created if it does not exist yet."""
    engine = sa.create_engine(
        f"{POSTGRES_SERVER}/postgres",
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    try:
        with engine.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            # A test database need not wait for the disk at each commit.
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    except sa.exc.OperationalError as exc:
        unavailable(f"PostgreSQL unreachable at {POSTGRES_SERVER}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    return f"{POSTGRES_SERVER}/{name}"


def worker_suffix() -> str:
    """`_gw0`… under pytest-xdist, so that parallel workers never share a database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


def reset_schema(url: str) -> None:
    """Empty our own test database completely (it is ours: the tests created it)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


_postgres: dict[str, Any] = {}


def postgres_url(tmp_path: Path) -> str:
    """Our migrated PostgreSQL database, its tables emptied for this test."""
    if "url" not in _postgres:
        url = postgres_database(f"{POSTGRES_DB}{worker_suffix()}")
        reset_schema(url)
        migrate_to_head(tmp_path, url)
        _postgres["url"] = url
        _postgres["engine"] = sa.create_engine(url, poolclass=sa.pool.StaticPool)
    # DELETE and a sequence restart: on these small tables, 8 times faster than TRUNCATE.
    with _postgres["engine"].begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.exec_driver_sql(f"DELETE FROM {table.name}")
        for table in db.metadata.sorted_tables:
            conn.exec_driver_sql(f"ALTER SEQUENCE IF EXISTS {table.name}_id_seq RESTART")
    return str(_postgres["url"])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path, tmp_path_factory)
    return postgres_url(tmp_path)


class ServerLikeClient(FlaskClient):
    """Closes each response, as a WSGI server does: a download releases its temporary file,
    and anything left for after the response (call_on_close) runs, so a test can see it."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


# On PostgreSQL the session reads in autocommit (registration/db.py): there a write would
# not be atomic, and a row lock would be let go at once. Every test's app checks that each
# write and each FOR UPDATE / FOR SHARE runs inside a transaction().
_WRITES = {"INSERT", "UPDATE", "DELETE", "MERGE"}
_ROW_LOCK = re.compile(r"\bFOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b")


class OutsideTransactions:
    """The statements that wrote or locked rows on a connection in autocommit."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, _conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if cursor.connection.autocommit and (
            statement.split(None, 1)[0].upper() in _WRITES or _ROW_LOCK.search(statement)
        ):
            self.seen.append(statement)


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database; keyword arguments override the config."""
    apps: list[Flask] = []
    outside = OutsideTransactions()

    def build(**overrides: Any) -> Flask:
        app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=database_url, **overrides))
        app.test_client_class = ServerLikeClient
        apps.append(app)
        if database_url.startswith("postgresql"):
            with app.app_context():
                sa.event.listen(db.engine, "before_cursor_execute", outside)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert outside.seen == [], "written or locked outside transaction()"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def event() -> Event:
    """The fixture event with questions and 100 places."""
    found = load_site(CONTENT).event(WITH_QUESTIONS)
    assert found is not None
    return found


@pytest.fixture
def plain_event() -> Event:
    """The fixture event without questions nor a limit on places."""
    found = load_site(CONTENT).event(WITHOUT_QUESTIONS)
    assert found is not None
    return found


# --- A real SMTP server on loopback --------------------------------------------------------


class SMTPServer:
    """aiosmtpd on 127.0.0.1, keeping every message it receives; can stop and start again.
    It offers SMTPUTF8, as common servers do, unless `smtputf8=False` (aiosmtpd's default)."""

    def __init__(self, smtputf8: bool = True) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.smtputf8 = smtputf8
        self.messages: list[email.message.EmailMessage] = []  # accepted
        self.envelopes: list[Any] = []  # of those: recipients (rcpt_tos) and MAIL FROM options
        self.received: list[email.message.EmailMessage] = []  # every DATA, refused ones too
        self.refuse = 0  # answer a temporary error to the next N messages
        self.hang_up = 0  # close the connection instead of answering the next N messages
        self.on_data: Callable[[Any], None] | None = None  # called with the session's server
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        self.received.append(message)
        if self.on_data is not None:
            self.on_data(server)
        if self.hang_up:
            self.hang_up -= 1
            server.transport.close()
            return "421 4.3.0 Closing"
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.envelopes.append(envelope)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def of_kind(self, subject_start: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["Subject"].startswith(subject_start)]


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_config(smtp: SMTPServer) -> dict[str, Any]:
    return {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_TIMEOUT": 2,
    }


class SilentSMTPServer:
    """A socket on loopback that accepts connections and never says a word, as a hung SMTP
    server does. The kernel completes each connection; `connections()` counts them all."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port: int = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def connections(self) -> int:
        """Every connection made so far, taken from the listen queue without waiting."""
        self.socket.setblocking(False)
        while True:
            try:
                self.accepted.append(self.socket.accept()[0])
            except BlockingIOError:
                return len(self.accepted)

    def close(self) -> None:
        """Closing ends every connection: a client still waiting reads end of file."""
        if self.socket.fileno() == -1:
            return
        self.connections()
        for conn in self.accepted:
            conn.close()
        self.socket.close()


@pytest.fixture
def silent_smtp() -> Iterator[SilentSMTPServer]:
    server = SilentSMTPServer()
    yield server
    server.close()


# --- Signed-in clients ---------------------------------------------------------------------


@pytest.fixture
def organiser_client(app: Flask) -> FlaskClient:
    from .factories import signed_in_client

    return signed_in_client(app, "orga@numerique.gouv.fr", "organiser")


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    from .factories import signed_in_client

    return signed_in_client(app, "admin@numerique.gouv.fr", "admin")


# --- ProConnect: an OpenID Connect provider on loopback --------------------------------------


@pytest.fixture
def oidc() -> Iterator[Any]:
    """A ProConnect-like provider on 127.0.0.1 (tests/oidc_provider.py), stopped afterwards."""
    from .oidc_provider import Provider

    provider = Provider().start()
    yield provider
    provider.stop()


@pytest.fixture
def proconnect_app(make_app: Callable[..., Flask], oidc: Any) -> Flask:
    """The app, with ProConnect set to the loopback provider."""
    return make_app(**oidc.settings())
