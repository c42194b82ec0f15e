"""100,000 attendees exported as CSV: the response streams, memory stays flat."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

import sqlalchemy as sa

from registration import services
from registration.extensions import db
from registration.models import Attendee, Status

from .conftest import SLUG

ROWS = 100_000


def fill(app, event) -> None:
    with app.test_request_context():
        with services.transaction() as session:
            state = services.lock_event(session, event)
            state.capacity = None
            event_id = state.id
        now = datetime(2023, 5, 20, 8, tzinfo=UTC)
        for start in range(0, ROWS, 10_000):
            db.session.execute(
                sa.insert(Attendee),
                [
                    {
                        "public_id": f"{i:032x}",
                        "event_id": event_id,
                        "email": f"agent{i}@numerique.gouv.fr",
                        "first_name": "Agent",
                        "last_name": f"Numéro {i}",
                        "employer": "Direction interministérielle du numérique",
                        "job_title": "Cheffe de projet",
                        "departments": ["Etalab"],
                        "accessibility_needs": "",
                        "status": Status.CONFIRMED,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, start + 10_000)
                ],
            )
            db.session.commit()


def test_csv_export_of_100000_attendees_streams_in_flat_memory(app, organiser_client, event):
    fill(app, event)
    tracemalloc.start()
    try:
        response = organiser_client.get(f"/organisation/{SLUG}/export.csv", buffered=False)
        assert response.status_code == 200
        size = lines = 0
        for chunk in response.response:
            size += len(chunk)
            lines += chunk.count(b"\r\n")
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == ROWS + 1
    assert size > 10_000_000
    print(f"CSV export: {size / 1e6:.1f} MB streamed, tracemalloc peak {peak / 1e6:.1f} MB")
    # Holding the file, or the 100,000 ORM objects, would take far more than this.
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB export"
