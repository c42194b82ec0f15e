"""Several doors at once: phones scanning the same code at the same moment record one
arrival, and each shows the right answer (one « Bienvenue », the others « Déjà
enregistré »), on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from registration.checkin import api, codes
from registration.extensions import db
from registration.models import AuditEntry

from ..factories import make_registration, make_user, registrations

DOORS = 4
PEOPLE = 10


def test_doors_scanning_the_same_code_at_once_record_one_arrival(make_app, event):
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": DOORS, "max_overflow": 4})
    doors = [make_user(app, f"porte{i}@numerique.gouv.fr") for i in range(DOORS)]
    people = [make_registration(app, event) for _ in range(PEOPLE)]
    with app.app_context():
        scanned = [codes.checkin_code(p.public_id, event.slug) for p in people]
    start = threading.Barrier(DOORS, timeout=30)  # a stuck door fails the test, not hangs it

    def door(i: int) -> list[api.Outcome]:
        outcomes = []
        for code in scanned:
            with app.test_request_context():
                start.wait()  # every door scans this code at the same moment
                try:
                    outcomes.append(api.check_in_code(event, code, doors[i]).outcome)
                finally:
                    db.session.remove()
        return outcomes

    with ThreadPoolExecutor(max_workers=DOORS) as pool:
        per_door = list(pool.map(door, range(DOORS)))

    for person in range(PEOPLE):
        answers = Counter(outcomes[person] for outcomes in per_door)
        assert answers == {api.Outcome.ARRIVED: 1, api.Outcome.ALREADY: DOORS - 1}
    rows = registrations(app)
    assert all(r.checked_in_at is not None for r in rows)
    with app.app_context():
        audited = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.action == "checkin")
        )
    assert audited == PEOPLE
