"""registration/db.py: what goes to PostgreSQL (reads in autocommit, writes in one
transaction), and a pooled connection left dead by a restart is replaced."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from psycopg import pq

from registration import links
from registration.extensions import db
from registration.models import OutboxMessage

from .factories import form_data, make_registration, register_url, registrations

APP_NAME = "test-db-app"
OPTIONS = {"connect_args": {"application_name": APP_NAME}}


def kill_the_app_connections(app) -> int:
    """What a server restart does to the pool: every connection of the app's is cut."""
    with app.app_context():
        url = db.engine.url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        killed = conn.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": APP_NAME},
        )
    engine.dispose()
    return int(killed or 0)


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")


@pytest.mark.usefixtures("postgres_only")
def test_an_idle_dead_connection_is_replaced_before_use(make_app, event):
    app = make_app(DATABASE_PING_AFTER_IDLE=0, SQLALCHEMY_ENGINE_OPTIONS=OPTIONS)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert kill_the_app_connections(app) >= 1
    assert client.get("/healthz").status_code == 200
    assert client.get(register_url(event)).status_code == 200


@pytest.mark.usefixtures("postgres_only")
def test_a_connection_used_moments_ago_is_not_tested_and_a_dead_one_costs_one_503(make_app, event):
    app = make_app(DATABASE_PING_AFTER_IDLE=3600, SQLALCHEMY_ENGINE_OPTIONS=OPTIONS)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert kill_the_app_connections(app) >= 1
    # The dead connection is found by the request itself: "momentanément indisponible"...
    response = client.get(register_url(event))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    # ...and the pool connects afresh for the next one.
    assert client.get(register_url(event)).status_code == 200
    assert client.get("/healthz").status_code == 200


# --- What goes to PostgreSQL ----------------------------------------------------------------

# One message the client sent, in libpq's trace: its type, then what it holds.
_SENT = re.compile(r"^F\t\d+\t(\w+)\t?(.*?)(?=^[FB]\t|\Z)", re.M | re.S)
_PARSE = re.compile(r' "([^"]*)" "(.*)" \d+', re.S)
_BIND = re.compile(r' "[^"]*" "([^"]*)"')


def statements_in(trace: str) -> list[str]:
    """Each statement sent, in order, as its first word: a simple Query (psycopg's BEGIN,
    COMMIT, ROLLBACK), or an Execute of the statement parsed or prepared before it."""
    prepared: dict[str, str] = {}
    bound = ""
    sent: list[str] = []
    for kind, body in _SENT.findall(trace):
        if kind == "Query":
            sent.append(body.strip().strip('"'))
        elif kind == "Parse" and (parse := _PARSE.match(body)):
            prepared[parse[1]] = parse[2]
        elif kind == "Bind" and (bind := _BIND.match(body)):
            bound = prepared[bind[1]]
        elif kind == "Execute":
            sent.append(bound)
    return [statement.split(None, 1)[0].upper() for statement in sent]


@contextmanager
def sent_to_postgresql(app: Flask, trace: Path) -> Iterator[list[str]]:
    """What the app's connections send meanwhile, read from libpq's own trace of the wire:
    psycopg's BEGIN and ROLLBACK included, which SQLAlchemy's events never see. The pool is
    emptied first, so that every connection used is a traced one."""
    traced: list[tuple[Any, int]] = []
    with app.app_context():
        engine = db.engine
    engine.dispose()

    def trace_it(dbapi_connection: Any, _record: Any) -> None:
        # libpq writes through a stream of its own on this descriptor, never closed: one
        # descriptor each, closed only once libpq let go of it.
        descriptor = os.dup(out.fileno())
        dbapi_connection.pgconn.trace(descriptor)
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        traced.append((dbapi_connection, descriptor))

    sent: list[str] = []
    with trace.open("w") as out:
        sa.event.listen(engine, "connect", trace_it)
        try:
            yield sent
        finally:
            sa.event.remove(engine, "connect", trace_it)
            for connection, descriptor in traced:
                if not connection.closed:
                    connection.pgconn.untrace()  # which writes out what libpq holds
                    os.close(descriptor)
    sent.extend(statements_in(trace.read_text()))


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}
WRITES = {"INSERT", "UPDATE", "DELETE"}


def read_only(sent: list[str]) -> bool:
    """Something was read, in autocommit: no BEGIN, no ROLLBACK, nothing written."""
    return "SELECT" in sent and not set(sent) & (TRANSACTION_CONTROL | WRITES)


@pytest.mark.usefixtures("postgres_only")
def test_public_pages_read_in_autocommit(app, client, event, tmp_path):
    confirmed = make_registration(app, event)
    with app.app_context():
        manage = f"/agenda/{event.slug}/mon-inscription/{links.manage_token(confirmed)}"
    assert client.get(f"/agenda/{event.slug}/").status_code == 200
    make_registration(app, event)  # a write: the event page reads its places again
    for url in (f"/agenda/{event.slug}/", register_url(event), manage):
        with sent_to_postgresql(app, tmp_path / "trace") as sent:
            assert client.get(url).status_code == 200
        assert read_only(sent), (url, sent)


@pytest.mark.usefixtures("postgres_only")
def test_staff_pages_read_in_autocommit(app, organiser_client, event, tmp_path):
    make_registration(app, event)
    for url in (f"/organisation/{event.slug}/", f"/organisation/{event.slug}/inscrits"):
        with sent_to_postgresql(app, tmp_path / "trace") as sent:
            assert organiser_client.get(url).status_code == 200
        assert read_only(sent), (url, sent)


@pytest.mark.usefixtures("postgres_only")
def test_a_registration_is_written_in_one_transaction(app, client, event, tmp_path):
    with sent_to_postgresql(app, tmp_path / "trace") as sent:
        assert client.post(register_url(event), data=form_data()).status_code == 302
    assert [s for s in sent if s in TRANSACTION_CONTROL] == ["BEGIN", "COMMIT"], sent
    begin, commit = sent.index("BEGIN"), sent.index("COMMIT")
    writes = [i for i, statement in enumerate(sent) if statement in WRITES]
    assert writes and all(begin < i < commit for i in writes), sent
    assert len(registrations(app)) == 1


class Injected(Exception):
    pass


def test_a_registration_that_fails_midway_writes_nothing(app, client, event):
    """Its mail is queued last: the registration's row was sent, then the transaction fails."""
    sent: list[str] = []

    def fail_on_the_outbox(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)
        if statement.startswith(f"INSERT INTO {OutboxMessage.__tablename__} "):
            raise Injected

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", fail_on_the_outbox)
    try:
        with pytest.raises(Injected):
            client.post(register_url(event), data=form_data())
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail_on_the_outbox)
    assert any(statement.startswith("INSERT INTO attendees ") for statement in sent)
    assert registrations(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.usefixtures("postgres_only")
def test_after_a_write_the_pooled_connection_reads_in_autocommit_again(app, client, event):
    """SQLAlchemy resets a connection's autocommit when it goes back to the pool: a write,
    on the engine itself, finds it transactional, and the next read on the same connection
    is in autocommit again."""
    seen: list[tuple[str, bool, int]] = []

    def mode(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        backend = cursor.connection.info.backend_pid
        seen.append((statement.split(None, 1)[0], cursor.connection.autocommit, backend))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", mode)
    try:
        for n in range(2):
            email = f"agent{n}@numerique.gouv.fr"
            assert client.post(register_url(event), data=form_data(email=email)).status_code == 302
            assert client.get(register_url(event)).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", mode)
    writes = [(autocommit, backend) for kind, autocommit, backend in seen if kind in WRITES]
    assert writes and not any(autocommit for autocommit, _ in writes)
    assert seen[-1] == ("SELECT", True, writes[-1][1])  # the same connection, given back
    with app.app_context(), db.engine.connect() as connection:  # Alembic's way in
        assert connection.connection.dbapi_connection.autocommit is False
        assert connection.get_isolation_level() == "READ COMMITTED"
