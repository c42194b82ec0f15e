"""Exports (registration.exports): columns, cells, CSV dialects, XLSX, and flat memory."""

from __future__ import annotations

import csv
import gc
import io
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from registration import exports
from registration.backoffice import queries
from registration.extensions import db
from registration.models import Registration, Status

from .factories import make_record, make_registration

BASE_HEADER = [
    "Nom",
    "Prénom",
    "Adresse e-mail",
    "Administration",
    "Fonction",
    "Statut",
    "Inscription le",
    "Adresse confirmée le",
    "Besoins d’accessibilité",
]
CREATED = datetime(2023, 5, 20, 8, 0, tzinfo=UTC)  # 10:00 in Paris
CONFIRMED = datetime(2023, 5, 20, 22, 30, tzinfo=UTC)  # 00:30 the next day in Paris
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def registration(**fields: Any) -> Registration:
    """A registration in memory only: the export functions take any iterable of them."""
    values: dict[str, Any] = {
        "first_name": "Camille",
        "last_name": "Durand",
        "email": "camille.durand@numerique.gouv.fr",
        "employer": "DINUM",
        "job_title": "Cheffe de projet",
        "status": Status.CONFIRMED,
        "created_at": CREATED,
        "email_confirmed_at": CONFIRMED,
        "accessibility_needs": "",
        "answers": {},
    }
    values.update(fields)
    return Registration(**values)


# --- Columns and cells ----------------------------------------------------------------------


def test_header_of_an_event_with_questions(event):
    assert exports.header(event) == [
        *BASE_HEADER,
        "Atelier du matin",  # single choice: one column, titled by the label
        "Sujets : Gouvernance",  # multiple choice: one column per option, titled by `colonne`
        "Sujets : Financement",
        "Sujets : Communauté",
        "Régime alimentaire",  # short text: one column
    ]


def test_header_of_an_event_without_questions(plain_event):
    assert exports.header(plain_event) == BASE_HEADER


def test_a_row_has_a_cell_per_column(event):
    answers = {
        "atelier": "Logiciels libres",
        "sujets": ["Gouvernance", "Communauté"],
        "regime": "végétarien",
    }
    [row] = exports.rows(
        event, [registration(answers=answers, accessibility_needs="Boucle magnétique")]
    )
    assert row == [
        "Durand",
        "Camille",
        "camille.durand@numerique.gouv.fr",
        "DINUM",
        "Cheffe de projet",
        "Confirmée",
        "20/05/2023 10:00",  # Paris time, not UTC
        "21/05/2023 00:30",
        "Boucle magnétique",
        "Logiciels libres",
        "oui",
        "",
        "oui",
        "végétarien",
    ]
    assert len(row) == len(exports.header(event))


def test_unanswered_questions_leave_their_cells_empty(event):
    [row] = exports.rows(
        event,
        [registration(status=Status.PENDING, email_confirmed_at=None, answers={"sujets": []})],
    )
    assert row[5:] == ["En attente de confirmation", "20/05/2023 10:00", "", "", *[""] * 5]


def test_a_row_of_an_event_without_questions(plain_event):
    [row] = exports.rows(plain_event, [registration(answers={"sujets": ["Gouvernance"]})])
    assert len(row) == len(BASE_HEADER)


def test_would_be_formulas_are_neutralised_in_every_cell(event):
    evil = registration(
        first_name='=HYPERLINK("http://evil")',
        last_name="+33 malin",
        email="malin@numerique.gouv.fr",
        employer="@SUM(A1:A9)",
        job_title="-2+3",
        accessibility_needs="=cmd|' /C calc'!A0",
        answers={"atelier": "Accessibilité", "regime": "=1+1"},
    )
    [row] = exports.rows(event, [evil])
    cells = dict(zip(exports.header(event), row, strict=True))
    assert cells["Prénom"] == '\'=HYPERLINK("http://evil")'
    assert cells["Nom"] == "'+33 malin"
    assert cells["Administration"] == "'@SUM(A1:A9)"
    assert cells["Fonction"] == "'-2+3"
    assert cells["Besoins d’accessibilité"] == "'=cmd|' /C calc'!A0"
    assert cells["Régime alimentaire"] == "'=1+1"
    assert not any(cell.startswith(FORMULA_STARTS) for cell in row)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Durand", "Durand"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_follows_owasp(value, safe):
    assert exports.neutralise(value) == safe


# --- CSV ------------------------------------------------------------------------------------


def people() -> list[Registration]:
    return [
        registration(answers={"atelier": "Données ouvertes", "sujets": ["Financement"]}),
        registration(
            first_name="Zoé",
            last_name="Abadie, née Martin",  # a comma, for the RFC 4180 dialect
            email="zoe@interieur.gouv.fr",
            job_title='Cheffe du "bureau"',
            accessibility_needs="ligne 1\nligne 2",
        ),
    ]


def test_csv_for_french_excel_has_a_bom_semicolons_and_crlf(event):
    text = "".join(exports.csv_chunks(event, people()))
    assert text.startswith("\ufeffNom;Prénom;")
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=";"))
    assert parsed == [exports.header(event), *exports.rows(event, people())]
    assert parsed[2][8] == "ligne 1\nligne 2"


def test_csv_rfc4180_has_commas_and_no_bom(event):
    text = "".join(exports.csv_chunks(event, people(), excel=False))
    assert text.startswith("Nom,Prénom,Adresse e-mail,")
    assert '"Abadie, née Martin"' in text and '"Cheffe du ""bureau"""' in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [exports.header(event), *exports.rows(event, people())]


def test_csv_comes_in_chunks_of_500_rows(plain_event):
    many = [registration(email=f"a{i}@numerique.gouv.fr") for i in range(1001)]
    chunks = list(exports.csv_chunks(plain_event, iter(many)))
    assert len(chunks) == 3
    assert [c.count("\r\n") for c in chunks] == [501, 500, 1]  # the header goes first
    parsed = list(csv.reader(io.StringIO("".join(chunks)[1:], newline=""), delimiter=";"))
    assert len(parsed) == 1002


def test_csv_of_no_registration_is_the_header(plain_event):
    assert list(exports.csv_chunks(plain_event, [])) == ["\ufeff" + ";".join(BASE_HEADER) + "\r\n"]


# --- XLSX -----------------------------------------------------------------------------------


def test_xlsx_reads_back_with_openpyxl(event):
    evil = registration(first_name="=1+1", answers={"sujets": ["Communauté"]})
    with exports.xlsx_file(event, [*people(), evil]) as output:
        book = openpyxl.load_workbook(output)
    assert book.sheetnames == ["Inscriptions"]
    sheet = book.active
    rows = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert rows == [exports.header(event), *exports.rows(event, [*people(), evil])]
    assert rows[3][1] == "'=1+1"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- Memory ---------------------------------------------------------------------------------

STEPS = (5_000, 10_000, 20_000)


def _insert(app, event_id: int, start: int, stop: int) -> None:
    """Rows in one bulk INSERT (executemany), not one by one through the factory."""
    with app.app_context():
        db.session.execute(
            sa.insert(Registration),
            [
                {
                    "public_id": f"{i:032x}",
                    "event_id": event_id,
                    "email": f"agent{i}@numerique.gouv.fr",
                    "first_name": "Agent",
                    "last_name": f"Numéro {i:05d}",
                    "employer": "Direction interministérielle du numérique",
                    "job_title": "Cheffe de projet",
                    "answers": {},
                    "accessibility_needs": "",
                    "status": Status.PENDING,
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
                for i in range(start, stop)
            ],
        )
        db.session.commit()


def _peak(app, event, stream: bool) -> tuple[int, int, int]:
    """Peak traced memory while exporting every row: (peak, CSV characters, CSV lines).
    Streamed as the view streams it, or with the rows built first by `.all()`."""
    with app.app_context():
        query = queries.export(event, queries.Filters())
        gc.collect()
        tracemalloc.start()
        try:
            size = lines = 0
            if stream:
                for chunk in exports.csv_chunks(event, db.session.scalars(query)):
                    size += len(chunk)
                    lines += chunk.count("\r\n")
            else:
                built = db.session.scalars(query).all()
                lines = len(built)
                del built
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        db.session.remove()
    return peak, size, lines


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_csv_export_streams_in_flat_memory(app, plain_event):
    """5,000, 10,000 then 20,000 rows: the streamed export's peak memory stays flat while
    the data grows (a slope near zero), where the same rows built with `.all()` take memory
    in proportion. The old test exported 100,000 rows for the same proof.

    SQLite only. On PostgreSQL a client-side cursor would hold every row in libpq's memory,
    which tracemalloc does not see: the test would prove no more there, for more time.
    test_the_export_reads_rows_in_batches checks PostgreSQL's server-side cursor instead."""
    event = plain_event  # the export's cost is per row; fewer columns keep the test fast
    record = make_record(app, event)
    _insert(app, record.id, 0, 1)
    _peak(app, event, stream=True)  # warm up: compiled query, CSV writer, date formats
    streamed: dict[int, tuple[int, int]] = {}  # rows: (peak, CSV characters)
    built: dict[int, int] = {}  # rows: peak
    for previous, rows in zip((1, *STEPS), STEPS, strict=False):
        _insert(app, record.id, previous, rows)
        peak, size, lines = _peak(app, event, stream=True)
        assert lines == rows + 1  # the header, then every row
        streamed[rows] = (peak, size)
        if rows <= 10_000:
            peak, _, count = _peak(app, event, stream=False)
            assert count == rows
            built[rows] = peak

    report = f"streamed {streamed}, built with .all() {built}"
    peak_5k, size_5k = streamed[5_000]
    assert streamed[20_000][1] - size_5k > 2_000_000  # the data grew by megabytes...
    for rows in (10_000, 20_000):
        peak, size = streamed[rows]
        assert peak - peak_5k < 0.1 * (size - size_5k), report  # ...the streamed peak did not
    # The same rows built with .all() grow with the data, and more: the test can tell.
    data_growth = streamed[10_000][1] - size_5k
    assert built[10_000] - built[5_000] > 5 * data_growth, report


def test_the_export_reads_rows_in_batches(app, plain_event):
    """yield_per: rows come from the database 1,000 at a time; on PostgreSQL through a
    server-side cursor, so that neither Python nor libpq holds the whole result."""
    for i in range(3):
        make_registration(app, plain_event, email=f"a{i}@numerique.gouv.fr")
    seen: list[tuple[str, object, object]] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if "FROM attendees" in statement:
            options = context.execution_options
            seen.append(
                (type(cursor).__name__, options.get("yield_per"), options.get("stream_results"))
            )

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", before_execute)
        try:
            query = queries.export(plain_event, queries.Filters())
            text = "".join(exports.csv_chunks(plain_event, db.session.scalars(query)))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before_execute)
        postgresql = db.engine.dialect.name == "postgresql"
    assert text.count("\r\n") == 4
    [(cursor, yield_per, stream_results)] = seen
    assert yield_per == 1000 and stream_results is True
    if postgresql:
        assert cursor == "ServerCursor"
