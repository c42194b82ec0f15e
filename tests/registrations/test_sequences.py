"""PostgreSQL sequences: reads and repeated writes spend no event id, and every key goes
past 2^31 (BIGINT keys, migration e4a1b7c9d2f6)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registration.extensions import db
from registration.models import EventRecord, Registration, Status

from ..factories import form_data, link_from, outbox, record_of, register_url, registrations

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
INT4_MAX = 2_147_483_647
GROWING = ("events", "attendees", "attendee_status_changes", "outbox", "audit_log", "users")


def sequence_state(app, table="events"):
    with app.app_context():
        row = db.session.execute(sa.text(f"SELECT last_value, is_called FROM {table}_id_seq")).one()
        db.session.remove()
        return tuple(row)


def test_reads_and_repeated_writes_spend_no_event_id(app, client, event):
    fresh = sequence_state(app)
    assert client.get(f"/agenda/{event.slug}/").status_code == 200
    assert client.get(register_url(event)).status_code == 200
    assert sequence_state(app) == fresh  # no row yet, and no value spent

    assert client.post(register_url(event), data=form_data()).status_code == 302
    created = sequence_state(app)
    assert created == (1, True)  # the row, created on first use: one value

    # the same event again, with every kind of request
    assert client.get(f"/agenda/{event.slug}/inscription/envoyee").status_code == 200
    assert client.post(register_url(event), data=form_data()).status_code == 302  # duplicate
    other = form_data(email="zoe.martin@numerique.gouv.fr")
    assert client.post(register_url(event), data=other).status_code == 302
    confirm = link_from(outbox(app, "confirm_address")[0], "/confirmer/")
    assert client.get(confirm).status_code == 200
    manage = client.post(confirm).headers["Location"]
    assert client.post(confirm).status_code == 302  # confirmed twice
    assert client.get(manage).status_code == 200
    assert client.get(f"{manage}/annuler").status_code == 200
    assert client.post(f"{manage}/annuler").status_code == 302
    assert client.post(f"{manage}/annuler").status_code == 302  # cancelled twice
    assert client.get(manage).status_code == 200
    assert client.get(f"/agenda/{event.slug}/").status_code == 200
    assert sequence_state(app) == created
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EventRecord)) == 1


def test_every_step_works_past_the_int4_limit(app, client, event):
    with app.app_context():
        for table in GROWING:
            db.session.execute(sa.text(f"SELECT setval('{table}_id_seq', {INT4_MAX})"))
        db.session.commit()
        db.session.remove()

    assert client.post(register_url(event), data=form_data()).status_code == 302
    confirm = link_from(outbox(app, "confirm_address")[0], "/confirmer/")
    manage = client.post(confirm)
    assert manage.status_code == 302
    assert "Confirmée" in client.get(manage.headers["Location"]).get_data(as_text=True)
    cancelled = client.post(f"{manage.headers['Location']}/annuler")
    assert cancelled.status_code == 302

    [registration] = registrations(app)
    assert registration.status == Status.CANCELLED
    assert registration.id == INT4_MAX + 1
    assert record_of(app, event).id == INT4_MAX + 1
    with app.app_context():
        history = (
            db.session.scalars(sa.select(Registration).where(Registration.id == registration.id))
            .one()
            .history
        )
        assert [change.id > INT4_MAX for change in history] == [True] * len(history)
        assert len(history) == 3
    assert all(message.id > INT4_MAX for message in outbox(app))
    assert {message.attendee_id for message in outbox(app)} == {INT4_MAX + 1}


def test_every_key_column_is_bigint(app):
    with app.app_context():
        rows = db.session.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public' AND (column_name = 'id'"
                " OR column_name IN ('event_id', 'attendee_id'))"
            )
        ).all()
        sequences = db.session.execute(
            sa.text("SELECT sequencename, data_type FROM pg_sequences")
        ).all()
    columns = {(table, column): kind for table, column, kind in rows}
    assert columns and set(columns.values()) == {"bigint"}, columns
    assert len(sequences) == len(GROWING) + 1  # and event_domains
    assert {kind for _, kind in sequences} == {"bigint"}, sequences
