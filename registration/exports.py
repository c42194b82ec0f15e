"""Registration exports: rows first, then CSV (streamed, Excel-ready) or XLSX (write-only)."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator

from .content import Event, Question, QuestionKind
from .dates import short_datetime_fr
from .models import Registration

# OWASP "CSV injection": a cell starting with one of these is read as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
        "Besoins d’accessibilité",
        *(title for q in event.questions for title in _titles(q)),
    ]


def _titles(question: Question) -> list[str]:
    """A multiple-choice question takes one column per option; others, one column."""
    if question.kind is QuestionKind.MULTIPLE:
        return [f"{question.short_label} : {option}" for option in question.options]
    return [question.short_label]


def _cells(question: Question, answer: str | list[str] | None) -> list[str]:
    chosen = question.chosen(answer)
    if question.kind is QuestionKind.MULTIPLE:
        return ["oui" if option in chosen else "" for option in question.options]
    return [", ".join(chosen)]


def rows(event: Event, registrations: Iterable[Registration]) -> Iterator[list[str]]:
    for a in registrations:
        answers = a.answers or {}
        yield [
            neutralise(value)
            for value in (
                a.last_name,
                a.first_name,
                a.email,
                a.employer,
                a.job_title,
                a.status.label,
                short_datetime_fr(a.created_at),
                short_datetime_fr(a.email_confirmed_at) if a.email_confirmed_at else "",
                a.accessibility_needs,
                *(cell for q in event.questions for cell in _cells(q, answers.get(q.id))),
            )
        ]


def csv_chunks(
    event: Event, registrations: Iterable[Registration], excel: bool = True
) -> Iterator[str]:
    """French Excel reads UTF-8 only with a BOM, and splits on `;`; RFC 4180 wants `,`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write("\ufeff")
    writer.writerow(header(event))
    for index, row in enumerate(rows(event, registrations)):
        writer.writerow(row)
        if index % 500 == 499:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_file(
    event: Event, registrations: Iterable[Registration]
) -> tempfile.SpooledTemporaryFile[bytes]:
    """An .xlsx in openpyxl's write-only mode: rows go to disk as they come."""
    from openpyxl import Workbook  # 50 ms to import: only for whoever downloads one

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Inscriptions")
    sheet.append(header(event))
    for row in rows(event, registrations):
        sheet.append(row)
    # Handed to send_file, which closes it once the response is sent.
    output = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    workbook.save(output)
    output.seek(0)
    return output
