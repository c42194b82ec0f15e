"""The database engine's set-up, and the one way to write: `transaction()`.

Reads and writes take different paths. On PostgreSQL the session reads in autocommit: each
SELECT is its own statement, with its own snapshot (what READ COMMITTED gives each
statement anyway), and no BEGIN nor ROLLBACK goes to the server. `transaction()` uses the
engine itself, on the same pool: a real transaction, READ COMMITTED (the server's default),
so a write's statements and its row locks (FOR UPDATE, FOR SHARE: only there, since
autocommit would let them go at once) hold until its COMMIT; `read_transaction()` does the
same for reads that need one (a server-side cursor). On SQLite a read runs under a plain
BEGIN (a WAL snapshot) and a write under BEGIN IMMEDIATE. Migrations use the engine itself
too (Alembic's connection), never in autocommit: a migration is one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

from .extensions import READS, TRANSACTIONAL, db

# Set on the connection of a transaction() so that SQLite begins it with the write lock.
WRITER = "sqlite_writer"
_WRITE = {WRITER: True}


class _Commits:
    count = 0


def commits() -> int:
    """How many transactions this process has committed: what it read before the count
    moved on may be out of date (the event page's short cache asks)."""
    return _Commits.count


def count_commits(engine: Engine) -> None:
    @event.listens_for(engine, "commit")
    def on_commit(_connection: Any) -> None:
        _Commits.count += 1


# When the connection went back to the pool (its record's info is cleared on reconnection).
_IDLE_SINCE = "idle_since"


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use when it sat idle `idle_seconds` or more, and
    replace it if dead (a restarted server leaves dead connections in the pool).

    SQLAlchemy's pool_pre_ping tests every checkout: one more round trip per request, about
    a sixth of a sign-up's. A connection used moments ago was alive then; should the server
    restart meanwhile, the request that finds it dead answers 503 (``database_unavailable``)
    and SQLAlchemy drops the whole pool, so the next request connects afresh."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just connected, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool connects again, up to three times
            raise DisconnectionError(str(error)) from error


def read_in_autocommit(engine: Engine) -> None:
    """PostgreSQL: the session reads in autocommit, which spares each read-only request two
    round trips, a BEGIN before its first SELECT and a ROLLBACK at its end.

    The session reads through a twin of `engine` (SQLAlchemy's "multiple isolation levels for
    a single engine"): the same pool, each connection set to autocommit as the twin hands it
    out. SQLAlchemy puts a connection back to the server's default isolation level when it
    returns to the pool, so what takes it next from the engine itself, `transaction()` or
    Alembic, finds it transactional as ever."""
    setattr(engine, READS, engine.execution_options(isolation_level="AUTOCOMMIT"))


def configure_sqlite(engine: Engine) -> None:
    """pysqlite sends no BEGIN at all: writers take the write lock up front (BEGIN IMMEDIATE),
    so that lock, check and write happen in one serialised transaction; reads take a plain
    BEGIN, a snapshot that never waits for a writer nor makes one wait (WAL)."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        writer = connection.get_execution_options().get(WRITER)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


@contextmanager
def transaction() -> Iterator[Session]:
    """A writing transaction: commit on success, roll back on any error. On PostgreSQL its
    statements run between one BEGIN and one COMMIT (READ COMMITTED, the server's default);
    on SQLite it begins with the write lock (BEGIN IMMEDIATE)."""
    with _transactional(_WRITE) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_transaction() -> Iterator[Session]:
    """Reads in one transaction, rolled back at the end: what a server-side cursor
    (`yield_per`) needs on PostgreSQL, which declares one only inside a transaction block."""
    with _transactional() as session:
        try:
            yield session
        finally:
            session.rollback()


@contextmanager
def _transactional(execution_options: dict[str, Any] | None = None) -> Iterator[Session]:
    """The session in a transaction of its own, begun now.

    A read begun earlier in the request ends first, so that the transaction starts afresh
    (on SQLite a read snapshot cannot become a write once another writer went by; on
    PostgreSQL the read ran in autocommit, and its connection goes back to the pool).
    Meanwhile the session uses the engine itself, not its autocommit twin: its pooled
    connections are back at the server's default (SQLAlchemy resets the twin's autocommit
    when a connection returns to the pool), so a real transaction, with nothing to set."""
    session = db.session()
    if session.in_transaction():
        session.commit()
    outer = session.info.get(TRANSACTIONAL, False)
    session.info[TRANSACTIONAL] = True
    try:
        session.connection(execution_options=execution_options)
        yield session
    finally:
        session.info[TRANSACTIONAL] = outer
