"""200 registrations at once for the last 50 seats: exactly 50 get one, on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from registration import services
from registration.extensions import db
from registration.models import Status

from .conftest import attendees, event_row, set_capacity


def test_no_overbooking_under_concurrency(make_app, event):
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 40, "max_overflow": 20})
    set_capacity(app, 300, taken=250)
    start = threading.Barrier(40)

    def register(i: int) -> bool:
        with app.test_request_context():
            if i < 40:
                start.wait()  # the first wave leaves together
            try:
                outcome = services.register_attendee(
                    event,
                    services.Registrant(
                        email=f"agent{i}@numerique.gouv.fr",
                        first_name="Agent",
                        last_name=str(i),
                        employer="DINUM",
                        job_title="Test",
                    ),
                )
                return outcome.waitlisted
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=40) as pool:
        waitlisted = list(pool.map(register, range(200)))

    statuses = Counter(a.status for a in attendees(app))
    assert statuses == {Status.PENDING: 50, Status.WAITLISTED: 150}
    assert waitlisted.count(False) == 50
    assert event_row(app).seats_taken == 300
