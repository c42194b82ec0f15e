"""The models and the Alembic revisions agree, and the data migrations keep the data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from registration.extensions import db
from registration.models import EventRecord, Registration, render_item

BEFORE_ANSWERS = "6e52d0c21c7f"  # users and audit log: attendees.departments, events.capacity
BEFORE_REVIEW = "a3c9e1f07b52"  # a pending registration held a seat; no `review` status
REVIEW = "c7d21e4b9f30"  # only a confirmed address holds a seat; `review` and `refused`
NOW = datetime(2023, 5, 20, 8, 0, tzinfo=UTC)


# Created by its revision only where pg_trgm can be: in no model (see SEARCH_TEXT).
TRIGRAM_INDEX = "ix_attendees_search_trgm"
# SQLite's FTS5 table for the search and its shadow tables (revision c4e8a2f6b9d1): in no
# model, kept in step by triggers.
SQLITE_SEARCH = "attendees_search"


def _of_this_database(dialect: str) -> Any:
    """Alembic's comparison ignores `ddl_if`: an index made for the other database only is
    left out here, as `create_all` and the revisions leave it out."""

    def include(obj: Any, name: str, _type: str, _reflected: bool, _compare_to: Any) -> bool:
        if name == TRIGRAM_INDEX or (name or "").startswith(SQLITE_SEARCH):
            return False
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


def test_models_match_migrations(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_item": render_item,
                "include_object": _of_this_database(connection.dialect.name),
            },
        )
        assert compare_metadata(context, db.metadata) == []


def current_revision(app: Flask) -> str | None:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def down_to(app: Flask, revision: str) -> Iterator[Flask]:
    """The app's fresh database, taken down to `revision`; back to head afterwards whatever
    happens, since the PostgreSQL database serves the next tests."""
    with app.app_context():
        downgrade(revision=revision)
        db.engine.dispose()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            upgrade()
            db.engine.dispose()


@pytest.fixture
def at_revision_before_answers(app: Flask) -> Iterator[Flask]:
    """The schema before `answers`."""
    with down_to(app, BEFORE_ANSWERS) as at_revision:
        yield at_revision


@pytest.fixture
def at_revision_before_review(app: Flask) -> Iterator[Flask]:
    """The schema before the `review` status, when a pending registration held a seat."""
    with down_to(app, BEFORE_REVIEW) as at_revision:
        yield at_revision


def execute(app: Flask, statement: str, **params: Any) -> None:
    """Plain SQL, with the JSON and datetime parameters typed for both databases."""
    query = sa.text(statement)
    for name, value in params.items():
        if isinstance(value, list | dict):
            query = query.bindparams(sa.bindparam(name, type_=sa.JSON))
        elif isinstance(value, datetime):
            query = query.bindparams(sa.bindparam(name, type_=sa.DateTime(timezone=True)))
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(query, params)


def select_all(app: Flask, statement: str) -> list[sa.Row[Any]]:
    with app.app_context(), db.engine.connect() as connection:
        return list(connection.execute(sa.text(statement)).all())


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def insert_old_rows(app: Flask) -> None:
    """What the service held under revision 6e52d0c21c7f."""
    for event_id, slug, capacity in ((1, "la-dinum-en-action", 300), (2, "atelier", 50)):
        execute(
            app,
            "INSERT INTO events (id, slug, capacity, seats_taken, is_open, public_notice,"
            " updated_at) VALUES (:id, :slug, :capacity, 1, :is_open, '', :at)",
            id=event_id,
            slug=slug,
            capacity=capacity,
            is_open=True,
            at=NOW,
        )
    # An admin changed the second event's places: the audit log says so.
    execute(
        app,
        "INSERT INTO audit_log (at, actor, action, event_slug, details)"
        " VALUES (:at, 'admin@numerique.gouv.fr', 'capacity', 'atelier', '300 → 50')",
        at=NOW,
    )
    # An unrelated entry on the first event does not count as a capacity change.
    execute(
        app,
        "INSERT INTO audit_log (at, actor, action, event_slug, details)"
        " VALUES (:at, 'admin@numerique.gouv.fr', 'close', 'la-dinum-en-action', '')",
        at=NOW,
    )
    for attendee_id, event_id, email, departments in (
        (1, 1, "a@numerique.gouv.fr", ["Etalab"]),
        (2, 2, "b@numerique.gouv.fr", []),
    ):
        execute(
            app,
            "INSERT INTO attendees (id, public_id, event_id, email, first_name, last_name,"
            " employer, job_title, departments, accessibility_needs, status, created_at,"
            " updated_at) VALUES (:id, :public_id, :event_id, :email, 'Camille', 'Durand',"
            " 'DINUM', 'Cheffe de projet', :departments, '', 'confirmed', :at, :at)",
            id=attendee_id,
            public_id=f"{attendee_id:032d}",
            event_id=event_id,
            email=email,
            departments=departments,
            at=NOW,
        )


def test_answers_and_capacity_override_migrate_both_ways(at_revision_before_answers):
    app = at_revision_before_answers
    assert current_revision(app) == BEFORE_ANSWERS
    insert_old_rows(app)

    with app.app_context():
        upgrade()
        db.engine.dispose()
    assert current_revision(app) != BEFORE_ANSWERS
    with app.app_context():
        first, second = db.session.scalars(sa.select(Registration).order_by(Registration.id))
        assert first.answers == {"departements": ["Etalab"]}
        assert second.answers == {}
        dinum, atelier = db.session.scalars(sa.select(EventRecord).order_by(EventRecord.id))
        # The file's number is in force where no admin set one...
        assert (dinum.slug, dinum.capacity_overridden, dinum.capacity_override) == (
            "la-dinum-en-action",
            False,
            None,
        )
        # ...and the admin's number stays where the audit log shows they set it.
        assert (atelier.slug, atelier.capacity_overridden, atelier.capacity_override) == (
            "atelier",
            True,
            50,
        )
        assert (dinum.seats_taken, atelier.seats_taken) == (1, 1)
        db.session.remove()
        db.engine.dispose()

    with app.app_context():
        downgrade(revision=BEFORE_ANSWERS)
        db.engine.dispose()
    assert current_revision(app) == BEFORE_ANSWERS
    rows = select_all(app, "SELECT id, departments FROM attendees ORDER BY id")
    assert [(row_id, as_json(departments)) for row_id, departments in rows] == [
        (1, ["Etalab"]),
        (2, []),
    ]
    events = select_all(app, "SELECT slug, capacity FROM events ORDER BY id")
    # The admin's number comes back; the file's was never the database's to keep.
    assert [tuple(row) for row in events] == [("la-dinum-en-action", None), ("atelier", 50)]


# --- c7d21e4b9f30: only a confirmed address holds a seat; `review` and `refused` ------------


def insert_rows_before_review(app: Flask) -> None:
    """What the service held under revision a3c9e1f07b52: an event whose two seats are held
    by a pending registration and a confirmed one, their history, and a message."""
    execute(
        app,
        "INSERT INTO events (id, slug, capacity_override, capacity_overridden, seats_taken,"
        " is_open, public_notice, updated_at) VALUES (1, 'atelier', NULL, :no, 2, :yes, '',"
        " :at)",
        no=False,
        yes=True,
        at=NOW,
    )
    for attendee_id, status, confirmed_at in ((1, "pending", None), (2, "confirmed", NOW)):
        execute(
            app,
            "INSERT INTO attendees (id, public_id, event_id, email, first_name, last_name,"
            " employer, job_title, answers, accessibility_needs, status, email_confirmed_at,"
            " created_at, updated_at) VALUES (:id, :public_id, 1, :email, 'Camille', 'Durand',"
            " 'DINUM', 'Cheffe de projet', :answers, '', :status, :confirmed_at, :at, :at)",
            id=attendee_id,
            public_id=f"{attendee_id:032d}",
            email=f"agent{attendee_id}@numerique.gouv.fr",
            answers={},
            status=status,
            confirmed_at=confirmed_at,
            at=NOW,
        )
        execute(
            app,
            "INSERT INTO attendee_status_changes (attendee_id, status, reason, at)"
            " VALUES (:id, :status, 'inscription reçue', :at)",
            id=attendee_id,
            status=status,
            at=NOW,
        )
    execute(
        app,
        "INSERT INTO outbox (attendee_id, kind, recipient, subject, body_text, body_html,"
        " message_id, status, attempts, last_error, created_at, next_attempt_at) VALUES"
        " (2, 'confirmed', 'agent2@numerique.gouv.fr', 'Inscription confirmée', 'Bonjour',"
        " '', '<1@numerique.gouv.fr>', 'sent', 1, '', :at, :at)",
        at=NOW,
    )


def seats_taken(app: Flask) -> int:
    [(taken,)] = select_all(app, "SELECT seats_taken FROM events")
    return int(taken)


def assert_related_rows_survived(app: Flask) -> None:
    """The SQLite batch copy of `attendees` must not cascade to the rows pointing at it."""
    history = select_all(app, "SELECT attendee_id, status FROM attendee_status_changes")
    assert sorted(tuple(row) for row in history) == [(1, "pending"), (2, "confirmed")]
    assert [tuple(row) for row in select_all(app, "SELECT attendee_id FROM outbox")] == [(2,)]


def set_status(app: Flask, table: str, status: str) -> None:
    column = "id" if table == "attendees" else "attendee_id"
    execute(app, f"UPDATE {table} SET status = :status WHERE {column} = 1", status=status)


def test_seats_are_counted_again_when_only_confirmed_addresses_hold_one(
    at_revision_before_review,
):
    app = at_revision_before_review
    assert current_revision(app) == BEFORE_REVIEW
    insert_rows_before_review(app)

    with app.app_context():
        upgrade(revision=REVIEW)
        db.engine.dispose()
    assert current_revision(app) == REVIEW
    assert seats_taken(app) == 1  # the pending registration's seat is given back
    assert_related_rows_survived(app)
    for table in ("attendees", "attendee_status_changes"):
        set_status(app, table, "review")  # the new CHECK accepts the new status...
        with pytest.raises(sa.exc.IntegrityError):
            set_status(app, table, "bogus")  # ...and still refuses anything else
        set_status(app, table, "pending")

    with app.app_context():
        downgrade(revision=BEFORE_REVIEW)
        db.engine.dispose()
    assert current_revision(app) == BEFORE_REVIEW
    assert seats_taken(app) == 2  # a pending registration held a seat then
    assert_related_rows_survived(app)
    for table in ("attendees", "attendee_status_changes"):
        with pytest.raises(sa.exc.IntegrityError):
            set_status(app, table, "review")  # the old CHECK is back


# --- e4a1b7c9d2f6: BIGINT keys; users.session_version ----------------------------------------

KEYS = "e4a1b7c9d2f6"


@pytest.fixture
def at_revision_before_keys(app: Flask) -> Iterator[Flask]:
    with down_to(app, REVIEW) as at_revision:
        yield at_revision


def key_types(app: Flask) -> set[str]:
    """The types of every key column, as the database reports them."""
    with app.app_context():
        inspector = sa.inspect(db.engine)
        found = {
            type(column["type"]).__name__
            for table in inspector.get_table_names()
            for column in inspector.get_columns(table)
            if column["name"] in ("id", "event_id", "attendee_id")
        }
        db.engine.dispose()
    return found


def test_keys_grow_and_sessions_get_a_version_both_ways(at_revision_before_keys):
    app = at_revision_before_keys
    assert current_revision(app) == REVIEW
    postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    assert key_types(app) == {"INTEGER"}
    insert_rows_before_review(app)
    execute(
        app,
        "INSERT INTO users (email, password_hash, role, active, created_at)"
        " VALUES ('orga@numerique.gouv.fr', 'x', 'organiser', :yes, :at)",
        yes=True,
        at=NOW,
    )

    with app.app_context():
        upgrade(revision=KEYS)
        db.engine.dispose()
    assert key_types(app) == ({"BIGINT"} if postgres else {"INTEGER"})
    assert [tuple(r) for r in select_all(app, "SELECT email, session_version FROM users")] == [
        ("orga@numerique.gouv.fr", 0)
    ]
    assert_related_rows_survived(app)

    with app.app_context():
        downgrade(revision=REVIEW)
        db.engine.dispose()
    assert key_types(app) == {"INTEGER"}
    with app.app_context():
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
        db.engine.dispose()
    assert "session_version" not in columns and "email" in columns
    assert_related_rows_survived(app)


HEAD_BEFORE_DASHBOARD = "b5d0f3a9c1e7"  # before the answers and trigram indexes


def test_answers_index_gets_statistics_where_the_others_have_some(app, event):
    """SQLite: with statistics for every index but the new one, the planner took the new one
    for the best and read the table through it; the revision takes them again."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's statistics")
    from .factories import make_registration

    make_registration(app, event, answers={"atelier": "Accessibilité"})
    with down_to(app, HEAD_BEFORE_DASHBOARD):
        execute(app, "ANALYZE")
    indexes = {row[0] for row in select_all(app, "SELECT idx FROM sqlite_stat1")}
    assert "ix_attendees_event_answers" in indexes


def test_sqlite_search_table_follows_the_registrations(app, event):
    """SQLite: the search's FTS5 table holds each registration's searched fields, kept in
    step by the triggers of revision c4e8a2f6b9d1 (a revision that rebuilds `attendees`
    must create them again)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's FTS5 table")
    from .factories import make_registration

    found = make_registration(app, event, first_name="Élodie", last_name="Abadie")
    make_registration(app, event, first_name="Zoé", last_name="Martin")

    def texts() -> dict[int, str]:
        return dict(select_all(app, "SELECT rowid, text FROM attendees_search"))

    assert texts()[found.id].startswith("Élodie Abadie ")
    execute(app, "UPDATE attendees SET last_name = 'Durand' WHERE id = :id", id=found.id)
    assert texts()[found.id].startswith("Élodie Durand ")
    execute(app, "DELETE FROM attendees WHERE id = :id", id=found.id)
    assert found.id not in texts() and len(texts()) == 1
    with down_to(app, "a7c3e9d1f5b2"):
        assert not select_all(
            app, "SELECT name FROM sqlite_master WHERE name LIKE 'attendees_search%'"
        )
    assert len(texts()) == 1  # taken again from the table


CHECKIN = "a7c3e9d1f5b2"  # attendees.checked_in_at and checked_in_by, then their index
BEFORE_CHECKIN = "f2b8c4d6e1a3"


class Injected(Exception):
    pass


def test_a_migration_that_fails_midway_leaves_nothing(app):
    """Alembic runs on the engine itself, in a transaction (never in autocommit, where the
    session reads on PostgreSQL): a revision that fails after its first statements leaves
    the schema and the version as they were."""
    sent: list[tuple[str, bool]] = []

    def fail_at_the_index(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append((statement, getattr(cursor.connection, "autocommit", False)))
        if statement.startswith("CREATE INDEX ix_attendees_event_checked_in"):
            raise Injected

    with down_to(app, BEFORE_CHECKIN):
        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", fail_at_the_index)
        try:
            with app.app_context(), pytest.raises(Injected):
                upgrade(revision=CHECKIN)
        finally:
            sa.event.remove(engine, "before_cursor_execute", fail_at_the_index)
        assert current_revision(app) == BEFORE_CHECKIN
        with app.app_context():
            columns = {c["name"] for c in sa.inspect(db.engine).get_columns("attendees")}
            db.engine.dispose()
    assert any("checked_in_at" in statement for statement, _ in sent[:-1])  # sent, undone
    assert "checked_in_at" not in columns
    assert not any(autocommit for _, autocommit in sent)
