"""Reads for the staff pages (registration.backoffice.queries)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from registration.backoffice import queries
from registration.backoffice.queries import Filters
from registration.db import read_transaction
from registration.extensions import db
from registration.models import Registration, Status

from ..factories import make_record, make_registration, make_user, registrations, statements

# --- dashboard ------------------------------------------------------------------------------


def dashboard(app, event) -> queries.Dashboard:
    with app.app_context():
        return queries.dashboard(event)


def test_dashboard_counts_every_status(app, event, plain_event):
    for status, n in (
        (Status.CONFIRMED, 3),
        (Status.PENDING, 2),
        (Status.WAITLISTED, 1),
        (Status.CANCELLED, 4),
    ):
        for _ in range(n):
            make_registration(app, event, status)
    make_registration(app, plain_event)  # another event's: not counted
    board = dashboard(app, event)
    assert board.counts == (
        (Status.PENDING, 2),
        (Status.CONFIRMED, 3),
        (Status.WAITLISTED, 1),
        (Status.CANCELLED, 4),
        (Status.EXPIRED, 0),
        (Status.REVIEW, 0),
        (Status.REFUSED, 0),
    )
    assert board.overview.seats_taken == 3  # only confirmed addresses hold a seat
    assert board.overview.capacity.places == 100


def test_dashboard_of_an_event_without_a_row_yet(app, event):
    board = dashboard(app, event)
    assert board.counts == tuple((s, 0) for s in Status)
    assert board.per_day == () and board.employers == ()
    assert board.overview.record is None and board.overview.is_open
    assert board.overview.seats_taken == 0 and board.overview.notice == ""
    assert board.time_left == "23 jours et 8 heures"


def test_dashboard_counts_registrations_per_day_in_paris_time(app, event):
    at = datetime.fromisoformat
    make_registration(app, event, created_at=at("2023-05-18T21:59:00+00:00"))  # 23:59 Paris
    make_registration(app, event, created_at=at("2023-05-18T22:00:00+00:00"))  # 00:00 Paris
    make_registration(app, event, created_at=at("2023-05-19T21:30:00+00:00"))  # 23:30 Paris
    make_registration(app, event, Status.CANCELLED, created_at=at("2023-05-20T06:00:00+00:00"))
    assert dashboard(app, event).per_day == (
        ("2023-05-18", 1),
        ("2023-05-19", 2),
        ("2023-05-20", 1),  # every registration made that day, cancelled since or not
    )


def test_dashboard_lists_the_top_15_employers_of_active_registrations(app, event):
    for i in range(16):
        for _ in range(1 if i else 3):
            make_registration(app, event, employer=f"Service {i:02d}")
    make_registration(app, event, Status.WAITLISTED, employer="Service 05")
    for _ in range(5):
        make_registration(app, event, Status.CANCELLED, employer="Annulés")
        make_registration(app, event, Status.EXPIRED, employer="Expirés")
    employers = dashboard(app, event).employers
    assert len(employers) == 15
    assert employers[:3] == (("Service 00", 3), ("Service 05", 2), ("Service 01", 1))
    assert employers[-1] == ("Service 14", 1)  # ties by name: Service 15 is the 16th
    assert "Annulés" not in dict(employers) and "Expirés" not in dict(employers)


def test_dashboard_counts_the_options_of_each_choice_question(app, event):
    make_registration(
        app, event, answers={"atelier": "Logiciels libres", "sujets": ["Gouvernance", "Communauté"]}
    )
    make_registration(
        app, event, Status.PENDING, answers={"atelier": "Accessibilité", "sujets": ["Gouvernance"]}
    )
    make_registration(
        app, event, Status.WAITLISTED, answers={"atelier": "Logiciels libres", "regime": "vegan"}
    )
    make_registration(
        app,
        event,
        Status.CANCELLED,
        answers={"atelier": "Données ouvertes", "sujets": ["Financement", "Gouvernance"]},
    )
    make_registration(app, event, Status.EXPIRED, answers={"sujets": ["Financement"]})
    tallies = {t.question.id: t.counts for t in dashboard(app, event).questions}
    assert tallies == {
        "atelier": (("Données ouvertes", 0), ("Logiciels libres", 2), ("Accessibilité", 1)),
        "sujets": (("Gouvernance", 2), ("Financement", 0), ("Communauté", 1)),
    }  # no tally for the short-text question


def test_dashboard_of_an_event_without_questions_has_no_tallies(app, plain_event):
    make_registration(app, plain_event, answers={"sujets": ["Gouvernance"]})
    make_registration(app, plain_event, Status.CANCELLED)
    board = dashboard(app, plain_event)
    assert board.questions == ()
    assert dict(board.counts)[Status.CONFIRMED] == 1 and dict(board.counts)[Status.CANCELLED] == 1
    assert board.overview.capacity.places is None


def test_dashboard_counts_the_same_answers_under_each_status(app, event):
    """Equal answers are grouped by the database: every status is counted, and only the
    active registrations reach the tallies."""
    same = {"atelier": "Accessibilité", "sujets": ["Communauté"]}
    for status in (*Status, Status.CONFIRMED, Status.REVIEW):
        make_registration(app, event, status, answers=same)
    make_registration(app, event, answers={"atelier": "Hors liste", "sujets": "Communauté"})
    board = dashboard(app, event)
    assert board.counts == tuple(
        (s, 3 if s == Status.CONFIRMED else 2 if s == Status.REVIEW else 1) for s in Status
    )
    tallies = {t.question.id: t.counts for t in board.questions}
    assert tallies == {
        "atelier": (("Données ouvertes", 0), ("Logiciels libres", 0), ("Accessibilité", 6)),
        "sujets": (("Gouvernance", 0), ("Financement", 0), ("Communauté", 7)),
    }  # an option the file no longer offers is left out; a lone text counts as chosen


def test_dashboard_counts_days_across_a_clock_change_and_leaves_out_empty_days(app, event):
    at = datetime.fromisoformat
    make_registration(app, event, created_at=at("2023-03-25T22:59:00+00:00"))  # 23:59, winter
    make_registration(app, event, created_at=at("2023-03-25T23:00:00+00:00"))  # 00:00 the 26th
    make_registration(app, event, created_at=at("2023-03-26T21:59:00+00:00"))  # 23:59, summer
    make_registration(app, event, created_at=at("2023-03-26T22:00:00+00:00"))  # 00:00 the 27th
    make_registration(app, event, created_at=at("2023-03-30T10:00:00+00:00"))
    assert dashboard(app, event).per_day == (
        ("2023-03-25", 1),
        ("2023-03-26", 2),
        ("2023-03-27", 1),
        ("2023-03-30", 1),  # the 28th and the 29th had none
    )


def test_dashboard_counts_days_over_more_than_one_query(app, event):
    """Days are counted 500 per statement (SQLite allows 2,000 result columns)."""
    at = datetime.fromisoformat
    make_registration(app, event, created_at=at("2021-01-01T12:00:00+00:00"))
    make_registration(app, event, created_at=at("2022-09-01T12:00:00+00:00"))  # day 609
    make_registration(app, event, created_at=at("2022-09-01T13:00:00+00:00"))
    assert dashboard(app, event).per_day == (("2021-01-01", 1), ("2022-09-01", 2))


def test_dashboard_reads_counts_not_registrations(app, event):
    """As many statements for 3 registrations as for 30, and no Registration built."""
    loaded: list[object] = []

    def load(target, context):
        loaded.append(target)

    sent = []
    for count in (3, 30):
        while len(registrations(app)) < count:
            make_registration(app, event, answers={"atelier": "Accessibilité"})
        with statements(app) as sql, app.app_context():
            sa.event.listen(Registration, "load", load)
            try:
                queries.dashboard(event)
            finally:
                sa.event.remove(Registration, "load", load)
        sent.append(len(sql))
    assert sent[0] == sent[1] and loaded == []


def sqlite_plans(app, event) -> dict[str, str]:
    """The dashboard's statements on attendees, each with SQLite's plan."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            queries.dashboard(event)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        explain = db.session.connection().exec_driver_sql
        return {
            statement: " ".join(
                str(row[-1]) for row in explain(f"EXPLAIN QUERY PLAN {statement}", params)
            )
            for statement, params in sent
            if "attendees" in statement
        }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_counts_from_indexes_alone(app, event, plain_event):
    """SQLite says how it reads: the dashboard's counts per status and administration, the
    answers where the event asks questions to choose from, per day, and of the
    confirmed waiting list come from covering indexes, without reading the rows."""
    make_registration(app, event)
    make_registration(app, plain_event)
    plans = sqlite_plans(app, event)
    counted = (
        "created_at >=",
        "GROUP BY attendees.employer, attendees.status",
        "confirmed_at IS",
        "GROUP BY attendees.answers",
    )
    assert all(any(c in statement for statement in plans) for c in counted), list(plans)
    without_questions = sqlite_plans(app, plain_event)
    assert not any("answers" in s for s in without_questions)
    for statement, plan in (plans | without_questions).items():
        if "FROM attendees" in statement and "min(" not in statement and "max(" not in statement:
            assert "COVERING INDEX ix_attendees_event_" in plan, (statement, plan)


def test_dashboard_places_follow_the_admin_override(app, event):
    make_record(app, event, capacity=10, is_open=False, notice="Complet")
    overview = dashboard(app, event).overview
    assert overview.capacity.places == 10 and overview.capacity.set_by_admin
    assert overview.is_open is False and overview.notice == "Complet"
    assert overview.availability.message == "Les inscriptions sont fermées."


@pytest.mark.parametrize(
    ("now", "left"),
    [
        ("2023-05-20T10:00:00+02:00", "23 jours et 8 heures"),
        ("2023-06-11T16:00:00+02:00", "1 jour et 2 heures"),
        ("2023-06-12T16:30:00+02:00", "1 heure"),
        ("2023-06-12T17:30:00+02:00", "0 heure"),
        ("2023-06-12T18:00:00+02:00", "date limite passée"),
    ],
)
def test_time_left_before_the_deadline(event, now, left):
    assert queries.time_left(event.deadline, datetime.fromisoformat(now)) == left


# --- search, attendee list, detail, sign-in sheet, export ------------------------------------


@pytest.fixture
def people(app, event, plain_event):
    make_registration(
        app,
        event,
        first_name="Camille",
        last_name="Durand",
        email="camille.durand@numerique.gouv.fr",
        employer="DINUM",
    )
    make_registration(
        app,
        event,
        Status.PENDING,
        first_name="Zoé",
        last_name="Abadie",
        email="zoe@interieur.gouv.fr",
        employer="Ministère de l’Intérieur",
    )
    make_registration(
        app,
        event,
        Status.CANCELLED,
        first_name="Ali",
        last_name="Martin",
        email="ali.martin@finances.gouv.fr",
        employer="Bercy",
    )
    make_registration(
        app, plain_event, first_name="Camille", last_name="Autre", email="autre@numerique.gouv.fr"
    )
    return app


def found(app, event, **filters) -> list[str]:
    with app.app_context():
        query = queries.attendee_list(event, Filters(**filters))
        return [r.last_name for r in db.session.scalars(query)]


@pytest.mark.parametrize(
    ("search", "names"),
    [
        ("", ["Abadie", "Durand", "Martin"]),  # by last name; the other event's left out
        ("abadie", ["Abadie"]),  # last name, case-blind
        ("CAMILLE", ["Durand"]),  # first name
        ("camille durand", ["Durand"]),  # full name
        ("@interieur.gouv", ["Abadie"]),  # e-mail
        ("l’intérieur", ["Abadie"]),  # employer
        ("bercy", ["Martin"]),
        ("personne", []),
        ("durand camille", []),  # across two fields: matches none of them
        ("durand dinum", []),
        ("ab", ["Abadie"]),  # under three characters: no trigram to look up
        ("ZOÉ", ["Abadie"]),
        ("dur", ["Durand"]),
        ("%", ["Abadie", "Durand", "Martin"]),  # LIKE's wildcards are not escaped
    ],
)
def test_search_matches_names_emails_and_employers(people, event, search, names):
    assert found(people, event, search=search) == names


def test_search_and_answers_read_their_indexes(people, event):
    """The search's pre-filter is the trigram index's very expression (PostgreSQL) or the
    FTS5 trigram table (SQLite), and the dashboard's answers come from their index alone
    (SQLite): the plans say so."""
    with people.app_context():
        if db.engine.dialect.name == "postgresql":
            _, prefilter, *_ = queries._matching(event, Filters(search="abadie"))
            query = sa.select(Registration.id).where(prefilter)
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            with read_transaction() as session:  # SET LOCAL lasts until the transaction ends
                for plan_kind in ("seqscan", "indexscan"):  # a few rows: the planner reads them
                    session.execute(sa.text(f"SET LOCAL enable_{plan_kind} = off"))
                plan = session.scalars(sa.text(f"EXPLAIN {compiled}")).all()
            assert any("ix_attendees_search_trgm" in line for line in plan), plan
        else:
            record_id = db.session.scalar(sa.select(sa.func.min(Registration.event_id)))
            answers = sa.text(
                "EXPLAIN QUERY PLAN SELECT answers, count(*) FROM attendees"
                " WHERE event_id = :id AND status IN ('pending', 'confirmed', 'waitlisted',"
                " 'review') GROUP BY answers"
            )
            plan = [row[3] for row in db.session.execute(answers, {"id": record_id})]
            assert plan == [
                "SEARCH attendees USING COVERING INDEX ix_attendees_event_answers (event_id=?)"
            ]
            query = queries.search(event, Filters(search="abadie"))
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = [row[3] for row in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))]
            assert any("INTEGER PRIMARY KEY" in line for line in plan), plan  # from the sieve
        db.session.rollback()


@pytest.mark.parametrize("sieve_max", [0, 1, 1000])
def test_search_keeps_its_rows_whatever_the_sieve_gives(people, event, monkeypatch, sieve_max):
    """SQLite takes the FTS5 table's ids where they are few, else reads the event's rows:
    the same registrations either way (the other event's Camille among the sieved ids)."""
    monkeypatch.setattr(queries, "SIEVE_MAX", sieve_max)
    assert found(people, event, search="gouv.fr") == ["Abadie", "Durand", "Martin"]
    assert found(people, event, search="camille") == ["Durand"]
    assert found(people, event, search="camille", status="cancelled") == []


def test_status_filter_and_search_combine(people, event):
    assert found(people, event, status="confirmed") == ["Durand"]
    assert found(people, event, status="cancelled") == ["Martin"]
    assert found(people, event, status="confirmed", search="abadie") == []
    assert found(people, event, status="pending", search="abadie") == ["Abadie"]


def test_registration_detail_is_looked_up_within_the_event(people, event, plain_event):
    with people.app_context():
        other = db.session.scalars(queries.of_event(plain_event)).one()
        assert queries.registration(event, other.public_id) is None
        assert queries.registration(plain_event, other.public_id).last_name == "Autre"


def test_sign_in_sheet_lists_confirmed_attendees_by_name_case_blind(app, event):
    for first, last, status in (
        ("Bea", "Zola", Status.CONFIRMED),
        ("Ali", "martin", Status.CONFIRMED),
        ("Chloé", "Bernard", Status.CONFIRMED),
        ("Anne", "Martin", Status.CONFIRMED),
        ("Dan", "Pending", Status.PENDING),
        ("Eve", "Attente", Status.WAITLISTED),
        ("Fred", "Annulé", Status.CANCELLED),
    ):
        make_registration(app, event, status, first_name=first, last_name=last)
    with app.app_context():
        sheet = [(r.last_name, r.first_name) for r in queries.sign_in_sheet(event)]
    assert sheet == [("Bernard", "Chloé"), ("martin", "Ali"), ("Martin", "Anne"), ("Zola", "Bea")]


def test_export_rows_follow_the_filters_in_name_order(people, event):
    with people.app_context():
        rows = list(queries.export_rows(event, Filters()))
        assert [r.last_name for r in rows] == ["Abadie", "Durand", "Martin"]
        rows = list(queries.export_rows(event, Filters(status="pending")))
        assert [r.last_name for r in rows] == ["Abadie"]


def test_failed_messages_and_users(app):
    make_user(app, "b@numerique.gouv.fr")
    make_user(app, "a@numerique.gouv.fr", "admin")
    with app.app_context():
        assert [u.email for u in queries.users()] == ["a@numerique.gouv.fr", "b@numerique.gouv.fr"]
        assert queries.failed_messages() == []


# --- Filters --------------------------------------------------------------------------------


def test_filters_from_args():
    assert Filters.from_args({"q": "  Durand  ", "statut": "confirmed"}) == Filters(
        "Durand", "confirmed"
    )
    assert Filters.from_args({}) == Filters("", "")


@pytest.mark.parametrize("status", ["nimporte", "CONFIRMED", "Confirmée", " confirmed"])
def test_filters_ignore_unknown_statuses(status):
    assert Filters.from_args({"statut": status}).status == ""


def test_filters_trim_the_search_to_100_characters():
    search = Filters.from_args({"q": "  " + "a" * 99 + "bc"}).search
    assert search == "a" * 99 + "b"
    assert len(Filters.from_args({"q": "x" * 10_000}).search) == 100


def test_every_status_is_a_filter():
    for status in Status:
        assert Filters.from_args({"statut": status.value}).status == status.value


# --- Pages of a list ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (None, 1),
        ("", 1),
        ("2", 2),
        (" 3 ", 3),
        ("0", 1),
        ("-4", 1),
        ("1.5", 1),
        ("abc", 1),
        ("²", 1),  # a digit to str.isdigit, not to int()
        ("٣", 1),  # an Arabic-Indic three: int() reads it, we do not
        ("100000", queries.MAX_PAGE),
        ("100001", queries.MAX_PAGE),
        ("99999999999999999999", queries.MAX_PAGE),
        ("9" * 5000, queries.MAX_PAGE),  # past int()'s 4300 digits
    ],
)
def test_page_number_is_a_bounded_positive_integer(value, number):
    assert queries.page_number(value) == number


def test_attendee_list_orders_equal_names_by_registration(app, event):
    made = [make_registration(app, event, last_name="Martin", first_name="Léa") for _ in range(3)]
    first = make_registration(app, event, last_name="Abadie")
    with app.app_context():
        listed = db.session.scalars(queries.attendee_list(event, Filters())).all()
        assert [r.id for r in listed] == [first.id, *(r.id for r in made)]


def test_paginate_past_the_end_gives_the_last_page(app, event):
    for i in range(5):
        make_registration(app, event, last_name=f"Nom{i}")
    with app.app_context():
        query = queries.attendee_list(event, Filters())
        last = queries.paginate(query, "999", per_page=2)
        assert (last.page, last.pages) == (3, 3)
        assert [r.last_name for r in last.items] == ["Nom4"]
        assert queries.paginate(query, None, per_page=2).page == 1
        empty = queries.paginate(queries.attendee_list(event, Filters("personne")), "7", 2)
        assert (empty.page, empty.items) == (1, [])
