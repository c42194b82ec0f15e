"""Many registrations at once for the last 50 seats (200 of them, as before; 100 when the
places come from the content file): exactly 50 get one, on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from registration.extensions import db
from registration.models import Status
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

    def register(i: int) -> bool:
        with app.test_request_context():
            if i < WORKERS:
                start.wait()  # the first wave leaves together
            try:
                outcome = api.register(
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
                return outcome.waitlisted
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        waitlisted = list(pool.map(register, range(attempts)))

    left = places - taken
    assert left == 50
    statuses = Counter(r.status for r in registrations(app))
    assert statuses == {Status.PENDING: left, Status.WAITLISTED: attempts - left}
    assert waitlisted.count(False) == left
    assert record_of(app, event).seats_taken == places
