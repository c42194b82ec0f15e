"""Exports (registration.exports): columns, cells, CSV dialects, the streamed XLSX, flat
memory, and the bytes of both exports compared with the export as it was before issue 12."""

from __future__ import annotations

import csv
import gc
import io
import json
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from babel.dates import format_datetime
from openpyxl import Workbook

from registration import exports
from registration.backoffice import queries
from registration.content import Event, Question, QuestionKind
from registration.dates import PARIS
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
    "ProConnect",
    "Arrivée",
    "Besoins d’accessibilité",
]
CREATED = datetime(2023, 5, 20, 8, 0, tzinfo=UTC)  # 10:00 in Paris
CONFIRMED = datetime(2023, 5, 20, 22, 30, tzinfo=UTC)  # 00:30 the next day in Paris
ARRIVED = datetime(2023, 6, 15, 7, 3, tzinfo=UTC)  # 09:03 in Paris
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SLUG = "atelier-des-communs"


def record(**fields: Any) -> tuple[Any, ...]:
    """A record as the export reads it from the database (a tuple of exports.COLUMNS)."""
    values: dict[str, Any] = {
        "last_name": "Durand",
        "first_name": "Camille",
        "email": "camille.durand@numerique.gouv.fr",
        "employer": "DINUM",
        "job_title": "Cheffe de projet",
        "status": Status.CONFIRMED,
        "created_at": CREATED,
        "email_confirmed_at": CONFIRMED,
        "via_proconnect": False,
        "checked_in_at": None,
        "accessibility_needs": "",
        "answers": {},
    }
    values.update(fields)
    confirmed, arrived = values["email_confirmed_at"], values["checked_in_at"]
    return (
        values["last_name"],
        values["first_name"],
        values["email"],
        values["employer"],
        values["job_title"],
        str(values["status"]),
        int(values["created_at"].timestamp()),
        int(confirmed.timestamp()) if confirmed is not None else None,
        values["via_proconnect"],
        int(arrived.timestamp()) if arrived is not None else None,
        values["accessibility_needs"],
        json.dumps(values["answers"]),
    )


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
        event,
        [record(answers=answers, accessibility_needs="Boucle magnétique", checked_in_at=ARRIVED)],
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
        "",
        "15/06/2023 09:03",  # the arrival at the door
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
        event, [record(status=Status.PENDING, email_confirmed_at=None, answers={"sujets": []})]
    )
    assert row[5:] == ["En attente de confirmation", "20/05/2023 10:00", "", "", "", "", *[""] * 5]


def test_answers_of_null_or_of_unknown_questions_leave_the_cells_empty(event):
    [null, unknown] = exports.rows(
        event, [record(answers=None), record(answers={"ancienne": "réponse", "sujets": None})]
    )
    assert null[11:] == unknown[11:] == [""] * 5


def test_a_row_of_an_event_without_questions(plain_event):
    [row] = exports.rows(plain_event, [record(answers={"sujets": ["Gouvernance"]})])
    assert len(row) == len(BASE_HEADER)


def test_a_registration_made_with_proconnect_says_so(plain_event):
    [proconnect, by_mail] = exports.rows(
        plain_event, [record(via_proconnect=True), record(via_proconnect=False)]
    )
    column = BASE_HEADER.index("ProConnect")
    assert (proconnect[column], by_mail[column]) == ("oui", "")


def test_each_status_has_its_label_and_no_label_starts_like_a_formula(event):
    for status in Status:
        [row] = exports.rows(event, [record(status=status)])
        assert row[5] == status.label
        assert not status.label.startswith(FORMULA_STARTS)


def test_would_be_formulas_are_neutralised_in_every_cell(event):
    evil = record(
        first_name='=HYPERLINK("http://evil")',
        last_name="+33 malin",
        email="-malin@numerique.gouv.fr",
        employer="@SUM(A1:A9)",
        job_title="\t-2+3",
        accessibility_needs="=cmd|' /C calc'!A0",
        answers={"atelier": "\rAccessibilité", "regime": "=1+1"},
    )
    [row] = exports.rows(event, [evil])
    cells = dict(zip(exports.header(event), row, strict=True))
    assert cells["Prénom"] == '\'=HYPERLINK("http://evil")'
    assert cells["Nom"] == "'+33 malin"
    assert cells["Adresse e-mail"] == "'-malin@numerique.gouv.fr"
    assert cells["Administration"] == "'@SUM(A1:A9)"
    assert cells["Fonction"] == "'\t-2+3"
    assert cells["Besoins d’accessibilité"] == "'=cmd|' /C calc'!A0"
    assert cells["Atelier du matin"] == "'\rAccessibilité"
    assert cells["Régime alimentaire"] == "'=1+1"
    assert not any(cell.startswith(FORMULA_STARTS) for cell in row)


def test_repeated_answers_are_decoded_once_and_stay_right(event):
    """The answers' cells are cached by their JSON text: the same text gives the same
    cells, and a different text is not confused with it."""
    same = {"atelier": "Logiciels libres", "sujets": ["Gouvernance"]}
    other = {"atelier": "Accessibilité", "sujets": ["Communauté"]}
    rows = list(exports.rows(event, [record(answers=same), record(answers=other)] * 3))
    assert [row[11:] for row in rows] == [
        ["Logiciels libres", "oui", "", "", ""],
        ["Accessibilité", "", "", "oui", ""],
    ] * 3


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


def people() -> list[tuple[Any, ...]]:
    return [
        record(answers={"atelier": "Données ouvertes", "sujets": ["Financement"]}),
        record(
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
    assert parsed[2][10] == "ligne 1\nligne 2"


def test_csv_rfc4180_has_commas_and_no_bom(event):
    text = "".join(exports.csv_chunks(event, people(), excel=False))
    assert text.startswith("Nom,Prénom,Adresse e-mail,")
    assert '"Abadie, née Martin"' in text and '"Cheffe du ""bureau"""' in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [exports.header(event), *exports.rows(event, people())]


def test_csv_comes_in_chunks_of_500_rows(plain_event):
    many = [record(email=f"a{i}@numerique.gouv.fr") for i in range(1001)]
    chunks = list(exports.csv_chunks(plain_event, iter(many)))
    assert len(chunks) == 3
    assert [c.count("\r\n") for c in chunks] == [501, 500, 1]  # the header goes first
    parsed = list(csv.reader(io.StringIO("".join(chunks)[1:], newline=""), delimiter=";"))
    assert len(parsed) == 1002


def test_csv_of_no_registration_is_the_header(plain_event):
    assert list(exports.csv_chunks(plain_event, [])) == ["\ufeff" + ";".join(BASE_HEADER) + "\r\n"]


# --- XLSX -----------------------------------------------------------------------------------


def read_xlsx(data: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Inscriptions"]
    assert all(cell.data_type != "f" for row in book.active.iter_rows() for cell in row)
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def test_xlsx_reads_back_with_openpyxl(event):
    evil = record(first_name="=1+1", answers={"sujets": ["Communauté"]})
    data = b"".join(exports.xlsx_chunks(event, [*people(), evil]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every member's CRC is right
    rows = [[c if c is not None else "" for c in row] for row in read_xlsx(data)]
    assert rows == [exports.header(event), *exports.rows(event, [*people(), evil])]
    assert rows[3][1] == "'=1+1"


def test_xlsx_escapes_markup_and_keeps_spaces(plain_event):
    tricky = record(
        last_name="<b>Durand</b> & fils",
        first_name="  Camille ",
        employer="]]> <!-- -->",
        job_title="ligne 1\nligne 2",
    )
    [_, row] = read_xlsx(b"".join(exports.xlsx_chunks(plain_event, [tricky])))
    assert row[:5] == [
        "<b>Durand</b> & fils",
        "  Camille ",
        "camille.durand@numerique.gouv.fr",
        "]]> <!-- -->",
        "ligne 1\nligne 2",
    ]


def test_xlsx_drops_the_characters_xml_forbids(plain_event):
    """openpyxl refused them (the export failed); a streamed file leaves them out."""
    [_, row] = read_xlsx(
        b"".join(exports.xlsx_chunks(plain_event, [record(last_name="Du\x00ra\x1bnd\x0b")]))
    )
    assert row[0] == "Durand"


def test_xlsx_is_streamed_as_the_rows_come(plain_event):
    """Bytes leave after the first rows, long before the last record is read."""
    read = 0

    def records() -> Iterator[tuple[Any, ...]]:
        nonlocal read
        for i in range(2_000):
            read += 1
            yield record(email=f"a{i}@numerique.gouv.fr")

    chunks = exports.xlsx_chunks(plain_event, records())
    started = b""
    while len(started) < 100:
        started += next(chunks)
    assert started.startswith(b"PK\x03\x04") and read <= 500
    rest = b"".join(chunks)
    assert read == 2_000
    assert len(read_xlsx(started + rest)) == 2_001


# --- The exports before issue 12: the reference ---------------------------------------------
# ORM objects, Babel's format_datetime for every date, csv.writer row by row, and openpyxl's
# write-only workbook saved to a file: the streamed exports must give the same bytes (CSV) and
# the same cell values (XLSX).


def _old_cells(question: Question, answer: str | list[str] | None) -> list[str]:
    chosen = question.chosen(answer)
    if question.kind is QuestionKind.MULTIPLE:
        return ["oui" if option in chosen else "" for option in question.options]
    return [", ".join(chosen)]


def _old_date(moment: datetime) -> str:
    return format_datetime(moment, "dd/MM/y HH:mm", tzinfo=PARIS, locale="fr_FR")


def old_rows(event: Event, registrations: Iterable[Registration]) -> Iterator[list[str]]:
    for a in registrations:
        answers = a.answers or {}
        yield [
            exports.neutralise(value)
            for value in (
                a.last_name,
                a.first_name,
                a.email,
                a.employer,
                a.job_title,
                a.status.label,
                _old_date(a.created_at),
                _old_date(a.email_confirmed_at) if a.email_confirmed_at else "",
                "oui" if a.via_proconnect else "",
                _old_date(a.checked_in_at) if a.checked_in_at else "",
                a.accessibility_needs,
                *(cell for q in event.questions for cell in _old_cells(q, answers.get(q.id))),
            )
        ]


def old_csv(event: Event, registrations: list[Registration], excel: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write("\ufeff")
    writer.writerow(exports.header(event))
    for row in old_rows(event, registrations):
        writer.writerow(row)
    return buffer.getvalue().encode()


def old_xlsx(event: Event, registrations: list[Registration]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Inscriptions")
    sheet.append(exports.header(event))
    for row in old_rows(event, registrations):
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def old_export(app, event: Event, filters: queries.Filters) -> list[Registration]:
    with app.app_context():
        found = db.session.scalars(
            queries.search(event, filters).order_by(
                Registration.last_name, Registration.first_name, Registration.id
            )
        ).all()
        db.session.expunge_all()
        return list(found)


AWKWARD = [
    # (status, first name, last name, employer, accessibility needs, answers)
    (Status.CONFIRMED, "Camille", "Durand", "DINUM", "", {"atelier": "Logiciels libres"}),
    (Status.CONFIRMED, "Camille", "Durand", "DINUM", "", {}),  # same name: the id decides
    (Status.PENDING, "=cmd|' /C calc'!A0", "+33 malin", "@SUM(A1:A9)", "-2+3", {}),
    (Status.WAITLISTED, "\tTabulée", "\rRetour", "-Moins", "@arobase", {"regime": "=1+1"}),
    (Status.CANCELLED, 'Cheffe du "bureau"', "Abadie; née Martin", "a,b;c", "ligne 1\nligne 2", {}),
    (Status.EXPIRED, "Élodie", "Zoé-Éléonore", "Ministère de l’Intérieur", "", {"sujets": []}),
    (Status.REVIEW, "Jean-Noël", "Ñúñez", "Mairie d’Œuilly", "a\r\nb", {"sujets": ["Financement"]}),
    (Status.REFUSED, "Ali", "durand", "Bercy", " espace ", {"atelier": "Accessibilité"}),
    (
        Status.CONFIRMED,
        "Zoé",
        "Martin",
        "DINUM",
        "",
        {
            "atelier": "Données ouvertes",
            "sujets": ["Gouvernance", "Financement", "Communauté"],
            "regime": "sans gluten; végétarien",
        },
    ),
    (Status.PENDING, "Léa", "Martin", "DINUM", "", {"sujets": ["Communauté"], "ancienne": "x"}),
]
FILTERS: list[dict[str, str]] = [
    {},
    {"q": "durand"},
    {"q": "DURAND"},
    {"q": "é"},
    {"q": "camille durand"},
    {"q": "personne"},
    *({"statut": status.value} for status in Status),
    {"q": "martin", "statut": "pending"},
]


@pytest.fixture
def awkward(app, event, plain_event):
    """Every status, would-be formulas, quotes, separators, line breaks, accents, equal names,
    every kind of answer; dates on either side of Paris midnight and of a clock change."""
    moments = [
        datetime(2023, 3, 25, 23, 30, tzinfo=UTC),  # 00:30 on the 26th, winter time
        datetime(2023, 3, 26, 1, 30, tzinfo=UTC),  # 03:30, summer time
        datetime(2023, 5, 20, 21, 59, 59, tzinfo=UTC),
        datetime(2023, 5, 20, 22, 0, tzinfo=UTC),
    ]
    for i, (status, first, last, employer, needs, answers) in enumerate(AWKWARD):
        make_registration(
            app,
            event,
            status,
            email=f"agent{i}@numerique.gouv.fr",
            first_name=first,
            last_name=last,
            employer=employer,
            job_title=("=" if i % 2 else "") + "Fonction",
            accessibility_needs=needs,
            answers=answers,
            created_at=moments[i % len(moments)],
            via_proconnect=status is Status.CONFIRMED and i % 2 == 0,
            # arrived at the door: the first, and the last confirmed one
            checked_in_at=ARRIVED if i in (0, 8) else None,
        )
    make_registration(app, plain_event, last_name="Durand")  # another event's: never exported
    return app


@pytest.mark.parametrize("dialect", ["", "rfc4180"])
def test_csv_bytes_are_those_of_the_export_before(awkward, organiser_client, event, dialect):
    for args in FILTERS:
        registrations = old_export(awkward, event, queries.Filters.from_args(args))
        expected = old_csv(event, registrations, excel=not dialect)
        response = organiser_client.get(
            f"/organisation/{SLUG}/export.csv",
            query_string={**args, **({"dialect": dialect} if dialect else {})},
        )
        assert response.status_code == 200
        assert response.get_data() == expected, args
    everyone = old_export(awkward, event, queries.Filters())
    assert {r.status for r in everyone} == set(Status) and len(everyone) == len(AWKWARD)


def test_xlsx_cells_are_those_of_the_export_before(awkward, organiser_client, event):
    for args in FILTERS:
        registrations = old_export(awkward, event, queries.Filters.from_args(args))
        expected = read_xlsx(old_xlsx(event, registrations))
        response = organiser_client.get(f"/organisation/{SLUG}/export.xlsx", query_string=args)
        assert response.status_code == 200
        assert read_xlsx(response.get_data()) == expected, args
    everyone = read_xlsx(organiser_client.get(f"/organisation/{SLUG}/export.xlsx").get_data())
    assert len(everyone) == 1 + len(AWKWARD)


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


def _peak(app, event, how: str) -> tuple[int, int, int]:
    """Peak traced memory while exporting every row: (peak, bytes, rows), as CSV or XLSX
    streamed as the views stream them, or with the records built first by `.all()`."""
    with app.app_context():
        rows = queries.export_rows(event, queries.Filters())
        gc.collect()
        tracemalloc.start()
        try:
            size = lines = 0
            if how == "csv":
                for chunk in exports.csv_chunks(event, rows):
                    size += len(chunk)
                    lines += chunk.count("\r\n")
            elif how == "xlsx":
                for data in exports.xlsx_chunks(event, rows):
                    size += len(data)
            else:
                built = list(rows)
                lines = len(built)
                del built
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        db.session.remove()
    return peak, size, lines


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_exports_stream_in_flat_memory(app, plain_event):
    """5,000, 10,000 then 20,000 rows: the streamed exports' peak memory stays flat while
    the data grows (a slope near zero), where the same records built with `.all()` take
    memory in proportion.

    SQLite only. On PostgreSQL a client-side cursor would hold every row in libpq's memory,
    which tracemalloc does not see: the test would prove no more there, for more time.
    test_the_export_reads_rows_in_batches checks PostgreSQL's server-side cursor instead."""
    event = plain_event  # the export's cost is per row; fewer columns keep the test fast
    record = make_record(app, event)
    _insert(app, record.id, 0, 1)
    for how in ("csv", "xlsx"):
        _peak(app, event, how)  # warm up: compiled query, writers, date formats
    streamed: dict[tuple[str, int], tuple[int, int]] = {}  # (kind, rows): (peak, bytes)
    built: dict[int, int] = {}  # rows: peak
    for previous, rows in zip((1, *STEPS), STEPS, strict=False):
        _insert(app, record.id, previous, rows)
        peak, size, lines = _peak(app, event, "csv")
        assert lines == rows + 1  # the header, then every row
        streamed["csv", rows] = (peak, size)
        if rows != 10_000:
            streamed["xlsx", rows] = _peak(app, event, "xlsx")[:2]
        if rows <= 10_000:
            peak, _, count = _peak(app, event, "all")
            assert count == rows
            built[rows] = peak

    report = f"streamed {streamed}, built with .all() {built}"
    csv_5k, csv_size_5k = streamed["csv", 5_000]
    assert streamed["csv", 20_000][1] - csv_size_5k > 2_000_000  # the data grew by megabytes...
    for rows in (10_000, 20_000):
        peak, size = streamed["csv", rows]
        assert peak - csv_5k < 0.1 * (size - csv_size_5k), report  # ...the streamed peak did not
    xlsx_5k = streamed["xlsx", 5_000][0]
    assert streamed["xlsx", 20_000][0] - xlsx_5k < 0.1 * (size - csv_size_5k), report
    # The same records built with .all() grow with the data: the test can tell.
    data_growth = streamed["csv", 10_000][1] - csv_size_5k
    assert built[10_000] - built[5_000] > 2 * data_growth, report


def test_the_export_reads_rows_in_batches(app, plain_event):
    """yield_per: plain rows come from the database 1,000 at a time; on PostgreSQL through a
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
            rows = queries.export_rows(plain_event, queries.Filters())
            text = "".join(exports.csv_chunks(plain_event, rows))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before_execute)
        postgresql = db.engine.dialect.name == "postgresql"
    assert text.count("\r\n") == 4
    [(cursor, yield_per, stream_results)] = seen
    assert yield_per == 1000 and stream_results is True
    if postgresql:
        assert cursor == "ServerCursor"


def test_the_export_builds_no_orm_object(app, plain_event):
    """Plain tuples, read without type conversion: no Registration is built."""
    make_registration(app, plain_event, checked_in_at=ARRIVED)
    built: list[object] = []

    def loaded(target, context):
        built.append(target)

    with app.app_context():
        sa.event.listen(Registration, "load", loaded)
        try:
            [row] = queries.export_rows(plain_event, queries.Filters())
        finally:
            sa.event.remove(Registration, "load", loaded)
    assert built == []
    assert [type(value) for value in row] == [str] * 6 + [int, int, bool, int, str, str]
