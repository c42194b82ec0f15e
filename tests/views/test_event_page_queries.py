"""What a view of the event page asks of the database: one read, never a write nor a lock,
as many statements with 40 pending registrations as with none, and at most one read a
second in each process."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registration.models import Status
from registration.registrations import queries

from ..factories import make_record, make_registration, statements

WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")


def is_write(statement: str) -> bool:
    return statement.lstrip().upper().startswith(WRITES) or "FOR UPDATE" in statement.upper()


def page_statements(app, client, event) -> list[str]:
    with statements(app) as sent:
        response = client.get(event.url)
    assert response.status_code == 200
    return sent


def test_a_page_view_sends_the_same_few_statements_whatever_the_pending_rows(app, client, event):
    make_record(app, event, capacity=10)
    make_registration(app, event, Status.CONFIRMED)
    before = page_statements(app, client, event)
    for _ in range(40):
        make_registration(app, event, Status.PENDING)
    after = page_statements(app, client, event)  # the writes above make it read again
    assert len(after) == len(before) <= 2, after  # SQLite adds its BEGIN
    assert sum(s.lstrip().startswith("SELECT") for s in after) == 1
    assert "9 places restantes." in client.get(event.url).get_data(as_text=True)


def test_a_page_view_writes_nothing_and_locks_nothing(app, client, event):
    make_record(app, event)
    make_registration(app, event, Status.PENDING)
    sent = page_statements(app, client, event)
    assert sent and not any(is_write(s) for s in sent), sent


def test_a_page_view_of_an_event_without_a_row_writes_nothing(app, client, event):
    sent = page_statements(app, client, event)
    assert sent and not any(is_write(s) for s in sent), sent


def test_the_seats_left_are_read_at_most_once_a_second(app, client, event, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(queries.time, "monotonic", lambda: clock[0])
    make_record(app, event, capacity=10)
    assert page_statements(app, client, event)
    clock[0] += 0.5
    assert page_statements(app, client, event) == []
    clock[0] += 0.6
    assert page_statements(app, client, event)


def test_a_write_of_this_process_is_seen_at_once(app, client, event, monkeypatch):
    monkeypatch.setattr(queries.time, "monotonic", lambda: 1000.0)  # the second never ends
    make_record(app, event, capacity=2)
    assert "2 places restantes." in client.get(event.url).get_data(as_text=True)
    make_registration(app, event, Status.CONFIRMED)
    assert "1 place restante." in client.get(event.url).get_data(as_text=True)
    make_registration(app, event, Status.CONFIRMED)
    assert "Complet" in client.get(event.url).get_data(as_text=True)


def test_a_write_of_another_process_shows_within_the_second(app, client, event, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(queries.time, "monotonic", lambda: clock[0])
    make_record(app, event, capacity=2)
    assert "2 places restantes." in client.get(event.url).get_data(as_text=True)
    other = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])  # as another process
    with other.begin() as conn:
        conn.execute(
            sa.text("UPDATE events SET seats_taken = 1 WHERE slug = :s"), {"s": event.slug}
        )
    other.dispose()
    clock[0] += 0.9
    assert "2 places restantes." in client.get(event.url).get_data(as_text=True)
    clock[0] += 0.2
    assert "1 place restante." in client.get(event.url).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/agenda/atelier-des-communs/inscription"])
def test_the_form_still_reads_the_seats_on_every_view(app, client, event, path, monkeypatch):
    monkeypatch.setattr(queries.time, "monotonic", lambda: 1000.0)
    make_record(app, event, capacity=10)
    for _ in range(2):
        with statements(app) as sent:
            assert client.get(path).status_code == 200
        assert any(s.lstrip().startswith("SELECT events.") for s in sent)
