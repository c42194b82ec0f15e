"""Registration exports: plain rows from the database (no ORM objects), then CSV or XLSX,
both streamed as they are written: memory stays flat and the first bytes leave at once."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import islice
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, Text, cast, func, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from .content import Event, Question, QuestionKind
from .dates import short_datetime_fr_at
from .models import STATUS_LABELS, Registration

# OWASP "CSV injection": a cell starting with one of these is read as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(_FORMULA_STARTS)
_BATCH = 500  # rows per chunk sent


class epoch_seconds(FunctionElement[int]):
    """A stored datetime as whole seconds since 1970 (UTC): an integer from either database,
    cheaper to read than a datetime."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds)
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores SQLite datetimes as UTC text, which strftime reads.
    return compiler.process(cast(func.strftime("%s", *element.clauses), BigInteger), **kw)


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    epoch = func.floor(func.extract("epoch", *element.clauses))
    return compiler.process(cast(epoch, BigInteger), **kw)


_attendees = Registration.__table__.c
# What an export reads of each registration, in this order: `rows` takes tuples of these.
# Plain values only (text, integers): no type conversion on the way.
COLUMNS: tuple[ColumnElement[Any], ...] = (
    _attendees.last_name,
    _attendees.first_name,
    _attendees.email,
    _attendees.employer,
    _attendees.job_title,
    type_coerce(_attendees.status, String),
    epoch_seconds(_attendees.created_at),
    epoch_seconds(_attendees.email_confirmed_at),
    _attendees.via_proconnect,
    epoch_seconds(_attendees.checked_in_at),  # the arrival at the door (check-in)
    _attendees.accessibility_needs,
    cast(_attendees.answers, Text),  # JSON text
)


def neutralise(value: str) -> str:
    """Prefix a would-be formula with an apostrophe, so that spreadsheets show it as text."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def header(event: Event) -> list[str]:
    return [
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
        *(title for q in event.questions for title in _titles(q)),
    ]


def _titles(question: Question) -> list[str]:
    """A multiple-choice question takes one column per option; others, one column."""
    if question.kind is QuestionKind.MULTIPLE:
        return [f"{question.short_label} : {option}" for option in question.options]
    return [question.short_label]


def _cells(question: Question) -> Callable[[str | list[str] | None], list[str]]:
    """The cells of one answer to `question`."""
    if question.kind is QuestionKind.MULTIPLE:

        def ticks(answer: str | list[str] | None) -> list[str]:
            chosen = question.chosen(answer)
            return ["oui" if option in chosen else "" for option in question.options]

        return ticks
    return lambda answer: [", ".join(question.chosen(answer))]


def _answer_cells(event: Event) -> Callable[[str], tuple[str, ...]]:
    """The answers' cells, neutralised, from their JSON text. The same answers come back
    again and again (choices): each text is decoded once."""
    cells_of = [(q.id, _cells(q)) for q in event.questions]

    @lru_cache(maxsize=4096)
    def answer_cells(text: str) -> tuple[str, ...]:
        answers = json.loads(text) or {}
        cells = [cell for question_id, of in cells_of for cell in of(answers.get(question_id))]
        return tuple("'" + cell if cell[:1] in _FORMULA_FIRST else cell for cell in cells)

    return answer_cells


def rows(event: Event, records: Iterable[Sequence[Any]]) -> Iterator[list[str]]:
    """One row of cells per record (a tuple of COLUMNS), every would-be formula neutralised.
    Status labels and dates never start like a formula; every other cell is checked."""
    answer_cells = _answer_cells(event) if event.questions else None
    first = _FORMULA_FIRST
    for (
        last_name,
        first_name,
        email,
        employer,
        job_title,
        status,
        created_at,
        confirmed_at,
        via_proconnect,
        checked_in_at,
        accessibility_needs,
        answers,
    ) in records:
        cells = [
            "'" + cell if cell[:1] in first else cell
            for cell in (last_name, first_name, email, employer, job_title)
        ]
        cells += (
            STATUS_LABELS[status],
            short_datetime_fr_at(created_at),
            "" if confirmed_at is None else short_datetime_fr_at(confirmed_at),
            "oui" if via_proconnect else "",
            "" if checked_in_at is None else short_datetime_fr_at(checked_in_at),
            "'" + accessibility_needs if accessibility_needs[:1] in first else accessibility_needs,
        )
        if answer_cells is not None:
            cells += answer_cells(answers)
        yield cells


def _batches(event: Event, records: Iterable[Sequence[Any]]) -> Iterator[list[list[str]]]:
    made = rows(event, records)
    while batch := list(islice(made, _BATCH)):
        yield batch


# --- CSV ------------------------------------------------------------------------------------


def csv_chunks(event: Event, records: Iterable[Sequence[Any]], excel: bool = True) -> Iterator[str]:
    """French Excel reads UTF-8 only with a BOM, and splits on `;`; RFC 4180 wants `,`.
    The header comes with the first rows, then _BATCH rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write("\ufeff")
    writer.writerow(header(event))
    for batch in _batches(event, records):
        writer.writerows(batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


# --- XLSX -----------------------------------------------------------------------------------

SHEET = "xl/worksheets/sheet1.xml"
# Characters XML 1.0 forbids (openpyxl refuses them): dropped. In UTF-8 each is one byte,
# never part of another character's bytes.
_ILLEGAL_XML = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_XML_SPACES = (" ", "\t", "\n", "\r")


class _Pipe:
    """Where the zip writes: the bytes wait here until the next chunk takes them."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _package(titles: list[str]) -> list[tuple[str, bytes]]:
    """Every part of openpyxl's own workbook, one sheet "Inscriptions" holding the header:
    the rows are then written into the sheet, between its header and its end."""
    from openpyxl import Workbook  # 50 ms to import: only for whoever downloads one

    workbook = Workbook(write_only=True)
    workbook.create_sheet("Inscriptions").append(titles)
    output = io.BytesIO()
    workbook.save(output)
    with zipfile.ZipFile(output) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _xml_text(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def _sheet_rows(batch: list[list[str]], first: int, starts: list[str]) -> bytes:
    """Rows in SpreadsheetML, as openpyxl writes them: inline strings, empty cells left out."""
    parts: list[str] = []
    append = parts.append
    for number, cells in enumerate(batch, first):
        append(f'<row r="{number}">')
        for start, value in zip(starts, cells, strict=False):
            if not value:
                continue
            space = (
                ' xml:space="preserve"'
                if value[0] in _XML_SPACES or value[-1] in _XML_SPACES
                else ""
            )
            append(f'{start}{number}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>')
        append("</row>")
    return "".join(parts).encode().translate(None, _ILLEGAL_XML)


def xlsx_chunks(event: Event, records: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """An .xlsx zipped as it is written: openpyxl's package, the sheet's rows added here.
    Bytes leave after every batch of rows."""
    pipe = _Pipe()
    for _ in _write_xlsx(event, records, pipe):
        if data := pipe.take():
            yield data


def _write_xlsx(event: Event, records: Iterable[Sequence[Any]], pipe: _Pipe) -> Iterator[None]:
    """Zip the workbook into `pipe`, pausing whenever bytes may be taken out."""
    from openpyxl.utils import get_column_letter

    titles = header(event)
    starts = [f'<c r="{get_column_letter(i)}' for i in range(1, len(titles) + 1)]
    # The fastest level: the sheet's repetitive XML still shrinks about nine times.
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in _package(titles):
            if name != SHEET:
                archive.writestr(name, data)
                continue
            before, end, after = data.partition(b"</sheetData>")
            if not end:
                raise ValueError("openpyxl wrote a sheet without <sheetData>")
            with archive.open(name, "w") as sheet:
                sheet.write(before)
                number = 2  # the header is row 1
                for batch in _batches(event, records):
                    sheet.write(_sheet_rows(batch, number, starts))
                    number += len(batch)
                    yield
                sheet.write(end + after)
            yield
    yield
