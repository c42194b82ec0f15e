"""Many agents at once for the last 50 seats (200 of them, as before; 100 when the places
come from the content file), confirming their address at once, which is when a seat is
taken: exactly 50 get one, on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from registration import links
from registration.extensions import db
from registration.models import Registration, Status
from registration.registrations import api

from ..factories import make_record, record_of, registrations

WORKERS = 40


@pytest.mark.parametrize(
    ("capacity", "taken", "attempts"),
    [
        pytest.param(300, 250, 200, id="admin-override"),
        pytest.param(None, 50, 100, id="file-places"),  # the fixture file's 100 places
    ],
)
def test_no_overbooking_under_concurrency(make_app, event, capacity, taken, attempts):
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": WORKERS, "max_overflow": 20})
    make_record(app, event, capacity=capacity, taken=taken)
    places = capacity or event.capacity
    start = threading.Barrier(WORKERS)

    # Registering takes no seat: the agents register one after the other, then all
    # confirm their address at once, which is when seats are taken.
    with app.test_request_context():
        for i in range(attempts):
            api.register(
                event,
                api.Registrant(
                    email=f"agent{i}@numerique.gouv.fr",
                    first_name="Agent",
                    last_name=str(i),
                    employer="DINUM",
                    job_title="Test",
                    answers={"atelier": "Accessibilité"},
                ),
            )
        tokens = [links.confirm_token(r) for r in db.session.scalars(sa.select(Registration))]
        db.session.remove()
    assert len(tokens) == attempts and record_of(app, event).seats_taken == taken

    def confirm(i: int) -> Status:
        with app.test_request_context():
            if i < WORKERS:
                start.wait()  # the first wave leaves together
            try:
                return api.confirm(event, tokens[i]).status
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = Counter(pool.map(confirm, range(attempts)))

    left = places - taken
    assert left == 50
    statuses = Counter(r.status for r in registrations(app))
    assert statuses == {Status.CONFIRMED: left, Status.WAITLISTED: attempts - left}
    assert outcomes == statuses
    assert record_of(app, event).seats_taken == places
