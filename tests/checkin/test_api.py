"""Check-in at the door (registration.checkin): the codes, the arrivals and their undo."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registration import clock, links
from registration.backoffice import api as backoffice
from registration.backoffice import queries as backoffice_queries
from registration.checkin import api, codes, queries
from registration.db import transaction
from registration.extensions import db
from registration.models import AuditEntry, Registration, Status

from ..factories import make_registration, make_user, registrations

ORGA = "orga@numerique.gouv.fr"
OTHER_DOOR = "porte.b@numerique.gouv.fr"


def audit_log(app) -> list[tuple[str, str, str, str]]:
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.actor, e.action, e.event_slug, e.details) for e in entries]


@pytest.fixture
def orga(app):
    return make_user(app, ORGA)


def now(app):
    with app.app_context():
        return clock.now()


def code_of(app, registration, slug: str) -> str:
    with app.app_context():
        return codes.checkin_code(registration.public_id, slug)


def scan(app, event, code: str, user, **kw) -> api.Answer:
    with app.test_request_context():
        return api.check_in_code(event, code, user, **kw)


# --- The code ---------------------------------------------------------------------------------


def test_the_code_names_the_registration_and_the_event_and_nothing_personal(app, event):
    registration = make_registration(app, event, email="camille.durand@numerique.gouv.fr")
    with app.app_context():
        code = codes.code_for(registration, event.slug)
        assert code is not None
        assert codes.read_code(code) == (registration.public_id, event.slug)
        assert code == codes.code_for(registration, event.slug)  # derived, the same each time
        assert code != links.manage_token(registration)
        assert "camille" not in code.lower() and "durand" not in code.lower()


@pytest.mark.parametrize(
    "status", [Status.PENDING, Status.WAITLISTED, Status.CANCELLED, Status.REVIEW, Status.REFUSED]
)
def test_only_a_confirmed_registration_has_a_code(app, event, status):
    registration = make_registration(app, event, status)
    with app.app_context():
        assert codes.code_for(registration, event.slug) is None


def test_the_management_link_is_no_code_and_the_code_no_management_link(app, event):
    registration = make_registration(app, event)
    with app.app_context():
        with pytest.raises(codes.InvalidCode):
            codes.read_code(links.manage_token(registration))
        with pytest.raises(links.InvalidLink):
            links.public_id_from_manage_token(codes.checkin_code(registration.public_id, "x"))


# --- Check-in ---------------------------------------------------------------------------------


def test_a_valid_code_records_the_arrival_once_and_audits_it(app, event, orga):
    registration = make_registration(app, event, email="camille.durand@numerique.gouv.fr")
    answer = scan(app, event, code_of(app, registration, event.slug), orga)
    assert answer.outcome is api.Outcome.ARRIVED and answer.ok
    assert answer.title == "Bienvenue"
    assert answer.message == "Arrivée enregistrée à 10h00."
    assert answer.advice == api.LET_IN
    assert answer.as_json()["name"] == "Camille Durand"
    [row] = registrations(app)
    assert row.checked_in_at == now(app)
    assert row.checked_in_by == orga.id
    assert audit_log(app) == [
        (ORGA, "checkin", event.slug, "Camille Durand (camille.durand@numerique.gouv.fr)")
    ]


def test_a_second_scan_says_when_and_by_whom(app, event, orga):
    registration = make_registration(app, event)
    code = code_of(app, registration, event.slug)
    scan(app, event, code, orga)
    other_door = make_user(app, OTHER_DOOR)
    again = scan(app, event, code, other_door)
    assert again.outcome is api.Outcome.ALREADY and not again.ok
    assert again.message == f"Déjà enregistré à 10h00 par {ORGA}."
    assert [r.checked_in_by for r in registrations(app)] == [orga.id]
    assert [action for _, action, _, _ in audit_log(app)] == ["checkin"]


def test_an_arrival_of_another_day_gives_the_date(app, event, orga):
    registration = make_registration(app, event)
    code = code_of(app, registration, event.slug)
    yesterday = now(app) - timedelta(hours=20)
    scan(app, event, code, orga, scanned_at=yesterday)
    assert scan(app, event, code, orga).message == f"Déjà enregistré le 19/05 à 14h00 par {ORGA}."


def test_a_forged_code_is_refused(app, event, orga):
    registration = make_registration(app, event)
    code = code_of(app, registration, event.slug)
    forged = code[:-3] + ("aaa" if not code.endswith("aaa") else "bbb")
    for attempt in (forged, "n’importe quoi", "WyJhIiwiYiJd"):
        answer = scan(app, event, attempt, orga)
        assert answer.outcome is api.Outcome.REFUSED
        assert answer.title == "Code non reconnu"
        assert answer.advice == api.SEND_TO_DESK
    with app.app_context():
        signed_elsewhere = codes.URLSafeSerializer("une autre clé", salt=codes.SALT).dumps(
            [registration.public_id, event.slug]
        )
    assert scan(app, event, signed_elsewhere, orga).title == "Code non reconnu"
    assert registrations(app)[0].checked_in_at is None
    assert audit_log(app) == []


def test_the_management_link_scanned_is_refused(app, event, orga):
    registration = make_registration(app, event)
    with app.app_context():
        token = links.manage_token(registration)
    assert scan(app, event, token, orga).title == "Code non reconnu"


def test_a_code_for_another_event_is_refused_naming_it(app, event, plain_event, orga):
    elsewhere = make_registration(app, plain_event)
    answer = scan(app, event, code_of(app, elsewhere, plain_event.slug), orga)
    assert answer.outcome is api.Outcome.REFUSED
    assert answer.title == "Code d’un autre événement"
    assert f"« {plain_event.title} »" in answer.message
    assert registrations(app)[0].checked_in_at is None


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (Status.CANCELLED, "Inscription annulée"),
        (Status.WAITLISTED, "Sur liste d’attente"),
        (Status.PENDING, "Inscription non confirmée"),
        (Status.REVIEW, "Demande en cours de vérification"),
        (Status.REFUSED, "Demande refusée"),
        (Status.EXPIRED, "Inscription expirée"),
    ],
)
def test_a_registration_without_a_seat_is_refused_with_the_reason(app, event, orga, status, title):
    registration = make_registration(app, event, status)
    # A code issued while it was confirmed (then cancelled, say): the row decides.
    answer = scan(app, event, code_of(app, registration, event.slug), orga)
    assert answer.outcome is api.Outcome.REFUSED
    assert answer.title == title
    assert answer.advice == api.SEND_TO_DESK
    assert registrations(app)[0].checked_in_at is None
    assert audit_log(app) == []


def test_a_pending_registration_past_its_hold_time_reads_expired(app, event, orga):
    registration = make_registration(
        app, event, Status.PENDING, expires_at=now(app) - timedelta(minutes=1)
    )
    answer = scan(app, event, code_of(app, registration, event.slug), orga)
    assert answer.title == "Inscription expirée"
    assert answer.as_json()["status"] == "Expirée"  # the reason and the status line agree


def test_a_registration_cancelled_after_its_arrival_reads_cancelled(app, event, orga):
    registration = make_registration(app, event)
    code = code_of(app, registration, event.slug)
    assert scan(app, event, code, orga).outcome is api.Outcome.ARRIVED
    with app.test_request_context():
        backoffice.cancel_registration(event, registration.public_id, ORGA)
    again = scan(app, event, code, orga)
    assert again.outcome is api.Outcome.REFUSED
    assert again.title == "Inscription annulée"
    assert again.as_json()["status"] == "Annulée"


def test_a_deleted_registration_is_not_found(app, event, orga):
    registration = make_registration(app, event)
    code = code_of(app, registration, event.slug)
    with app.app_context(), transaction() as session:
        session.execute(sa.delete(Registration))
    assert scan(app, event, code, orga).title == "Inscription introuvable"


def test_the_search_checks_in_by_public_id(app, event, orga):
    registration = make_registration(app, event)
    with app.test_request_context():
        answer = api.check_in(event, registration.public_id, orga)
    assert answer.outcome is api.Outcome.ARRIVED


def test_an_offline_scan_keeps_its_time_when_plausible(app, event, orga):
    first, second, third = (make_registration(app, event) for _ in range(3))
    at = now(app)
    scan(app, event, code_of(app, first, event.slug), orga, scanned_at=at - timedelta(minutes=7))
    scan(app, event, code_of(app, second, event.slug), orga, scanned_at=at + timedelta(hours=1))
    scan(app, event, code_of(app, third, event.slug), orga, scanned_at=at - timedelta(days=3))
    times = [r.checked_in_at for r in registrations(app)]
    assert times == [at - timedelta(minutes=7), at, at]


# --- Undo ---------------------------------------------------------------------------------------


def test_undo_clears_the_arrival_and_audits_it(app, event, orga):
    registration = make_registration(app, event, email="camille.durand@numerique.gouv.fr")
    code = code_of(app, registration, event.slug)
    scan(app, event, code, orga)
    with app.test_request_context():
        undone = api.undo(event, registration.public_id, orga)
    assert undone.checked_in_at is None
    [row] = registrations(app)
    assert row.checked_in_at is None and row.checked_in_by is None
    assert audit_log(app)[-1] == (
        ORGA,
        "checkin-undo",
        event.slug,
        "Camille Durand (camille.durand@numerique.gouv.fr)",
    )
    # Nothing left to undo; the next scan records the arrival again.
    with app.test_request_context(), pytest.raises(api.NothingToUndo):
        api.undo(event, registration.public_id, orga)
    assert scan(app, event, code, orga).outcome is api.Outcome.ARRIVED


def test_undo_of_another_events_registration_does_nothing(app, event, plain_event, orga):
    elsewhere = make_registration(app, plain_event)
    with app.test_request_context():
        api.check_in(plain_event, elsewhere.public_id, orga)
        with pytest.raises(api.NothingToUndo):
            api.undo(event, elsewhere.public_id, orga)
    assert registrations(app)[0].checked_in_at is not None


# --- Arrivals -----------------------------------------------------------------------------------


def test_arrivals_count_against_the_confirmed_registrations(app, event, plain_event, orga):
    here, _, there = (make_registration(app, event) for _ in range(3))
    make_registration(app, event, Status.PENDING)
    elsewhere = make_registration(app, plain_event)
    with app.test_request_context():
        for registration in (here, there):
            api.check_in(event, registration.public_id, orga)
        api.check_in(plain_event, elsewhere.public_id, orga)
        assert queries.arrivals(event) == queries.Arrivals(arrived=2, confirmed=3)
        assert queries.arrivals(event).share == 66
    assert queries.Arrivals(arrived=3, confirmed=2).share == 100
    assert queries.Arrivals(arrived=0, confirmed=0).share == 0


def test_an_arrival_cancelled_afterwards_no_longer_counts(app, event, orga):
    here, other = (make_registration(app, event) for _ in range(2))
    with app.test_request_context():
        for registration in (here, other):
            api.check_in(event, registration.public_id, orga)
        assert queries.arrivals(event) == queries.Arrivals(arrived=2, confirmed=2)
        backoffice.cancel_registration(event, here.public_id, ORGA)
        assert queries.arrivals(event) == queries.Arrivals(arrived=1, confirmed=1)
    assert queries.Arrivals(arrived=0, confirmed=0).share == 0


def test_arrivals_take_the_confirmed_count_the_dashboard_made(app, event, orga):
    """The dashboard counted the confirmed registrations already: only arrivals are counted."""
    first, _ = (make_registration(app, event) for _ in range(2))
    with app.test_request_context():
        api.check_in(event, first.public_id, orga)
        board = backoffice_queries.dashboard(event)
        assert board.confirmed == 2
        assert queries.arrivals(event, board.confirmed) == queries.arrivals(event)
        assert queries.arrivals(event, 4) == queries.Arrivals(arrived=1, confirmed=4)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_confirmed_arrivals_are_counted_from_the_partial_index(app, event, orga):
    """SQLite reads the arrivals from the (event, status) index of the rows checked in, not
    from the (event, status) index of every row: that one read each confirmed registration."""
    arrived = make_registration(app, event)
    make_registration(app, event)
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    with app.test_request_context():
        api.check_in(event, arrived.public_id, orga)
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert queries.arrivals(event, confirmed=2).arrived == 1
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        [(statement, params)] = [(s, p) for s, p in sent if "checked_in_at" in s]
        explain = db.session.connection().exec_driver_sql
        plan = " ".join(str(row[-1]) for row in explain(f"EXPLAIN QUERY PLAN {statement}", params))
    assert "USING INDEX ix_attendees_event_checked_in (event_id=? AND status=?)" in plan, plan
