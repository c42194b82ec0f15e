"""The models and the Alembic revisions agree, and the data migrations keep the data."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
NOW = datetime(2023, 5, 20, 8, 0, tzinfo=UTC)


def test_models_match_migrations(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_item": render_item}
        )
        assert compare_metadata(context, db.metadata) == []


def current_revision(app: Flask) -> str | None:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture
def at_revision_before_answers(app: Flask) -> Iterator[Flask]:
    """The app's fresh database, taken down to the schema before `answers`; back to head
    afterwards whatever happens, since the PostgreSQL database serves the next tests."""
    with app.app_context():
        downgrade(revision=BEFORE_ANSWERS)
        db.engine.dispose()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            upgrade()
            db.engine.dispose()


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
