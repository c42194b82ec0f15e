"""Exports of 100,000 attendees through the app (CSV, XLSX: total time, first byte, peak
memory), beside the database's own speed: COPY … TO STDOUT (PostgreSQL) or `sqlite3 -csv`,
DBAPI rows into csv.writer, openpyxl write-only on the same raw rows.

    .venv/bin/python bench/exports.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_export \
        .venv/bin/python bench/exports.py

BENCH_ATTENDEES changes the number of rows (100,000). The event is the fixture event with
three questions (single choice, multiple choice, short text): 15 columns.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, Results, app_env, best_and_median, dialect, migrate, on_each_database

N = int(os.environ.get("BENCH_ATTENDEES", "100000"))
CONTENT = ROOT / "tests" / "fixtures" / "content"
SLUG = "atelier-des-communs"
STAFF = "bench@numerique.gouv.fr"
PASSWORD = "un mot de passe solide pour le banc"
NOTHING = "aucun-inscrit-ne-porte-ce-nom"  # a search that matches no row: the empty export
COLUMNS = (
    "public_id, event_id, email, first_name, last_name, employer, job_title, answers, "
    "accessibility_needs, status, justification, review_message, reviewed_by, "
    "email_confirmed_at, expires_at, created_at, updated_at"
)
# What the peers read: the export's columns, raw, in the export's order.
RAW = (
    "SELECT last_name, first_name, email, employer, job_title, status, created_at, "
    "email_confirmed_at, checked_in_at, accessibility_needs, answers FROM attendees "
    "WHERE event_id = {event_id} ORDER BY last_name, first_name, id"
)


# --- Data -----------------------------------------------------------------------------------

FIRST = ["Camille", "Zoé", "Élodie", "Jean-Noël", "Ali", "Anne", "Léa", "Hugo", "Inès", "Marc"]
LAST = ["Durand", "Martin", "Abadie", "Bernard", "Lefèvre", "Nguyen", "Moreau", "Garcia"]
EMPLOYERS = [f"Direction {n}" for n in range(200)] + ["DINUM", "Ministère de l’Intérieur"]
AWKWARD = [
    '=HYPERLINK("http://evil")',
    "+33 1 23 45 67 89",
    "-2+3",
    "@SUM(A1:A9)",
    "\tcmd",
    "\rcmd",
    'Cheffe du "bureau"',
    "a;b, c",
    "ligne 1\nligne 2",
]
STATUSES = ["confirmed", "pending", "waitlisted", "cancelled", "expired", "review", "refused"]
WEIGHTS = [60, 10, 10, 10, 5, 3, 2]
OPTIONS = {
    "atelier": ["Données ouvertes", "Logiciels libres", "Accessibilité"],
    "sujets": ["Gouvernance", "Financement", "Communauté"],
}
START = datetime(2023, 4, 20, 6, 0, tzinfo=UTC)


def attendee(rng: random.Random, i: int, n: int, event_id: int) -> dict[str, Any]:
    """The i-th of n registrations, made over 30 days in the order of their ids, as they come."""
    awkward = rng.random() < 0.01
    status = rng.choices(STATUSES, WEIGHTS)[0]
    created = START + timedelta(seconds=30 * 86400 * i // n + rng.randrange(60))
    confirmed = status in ("confirmed", "waitlisted") or (status == "cancelled" and i % 2)
    answers: dict[str, Any] = {
        "atelier": rng.choice(OPTIONS["atelier"]),
        "sujets": [o for o in OPTIONS["sujets"] if rng.random() < 0.4],
    }
    if rng.random() < 0.2:
        answers["regime"] = rng.choice(["végétarien", "sans gluten", "=1+1" if awkward else "-"])
    return {
        "public_id": secrets.token_hex(16),
        "event_id": event_id,
        "email": f"agent.{i}@numerique.gouv.fr",
        "first_name": rng.choice(AWKWARD) if awkward else rng.choice(FIRST),
        "last_name": f"{rng.choice(LAST)} {i % 1000:03d}",
        "employer": rng.choice(AWKWARD) if awkward else rng.choice(EMPLOYERS),
        "job_title": "Cheffe de projet",
        "answers": answers,
        "accessibility_needs": rng.choice(AWKWARD) if awkward else "",
        "status": status,
        "justification": "",
        "review_message": "",
        "reviewed_by": "",
        "email_confirmed_at": created + timedelta(minutes=rng.randrange(1, 600))
        if confirmed
        else None,
        "expires_at": created + timedelta(hours=48) if status == "pending" else None,
        "created_at": created,
        "updated_at": created,
    }


def seed(url: str, n: int, slug: str = SLUG) -> int:
    """`n` attendees of the event `slug`, inserted in bulk (COPY on PostgreSQL, executemany on
    SQLite), then the statistics refreshed as autovacuum would. Returns the event's id."""
    from registration.models import EventRecord, Registration

    engine = sa.create_engine(url)
    rng = random.Random(12)
    with engine.begin() as conn:
        event_id = conn.scalar(
            sa.select(EventRecord.id).where(EventRecord.slug == slug)
        ) or conn.scalar(
            sa.insert(EventRecord)
            .values(
                slug=slug,
                capacity_overridden=False,
                seats_taken=0,
                is_open=True,
                public_notice="",
                updated_at=START,
            )
            .returning(EventRecord.id)
        )
        rows = (attendee(rng, i, n, event_id) for i in range(n))
        if engine.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY attendees ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    row["answers"] = json.dumps(row["answers"])
                    copy.write_row(tuple(row.values()))
        else:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == 10_000:
                    conn.execute(sa.insert(Registration), batch)
                    batch = []
            if batch:
                conn.execute(sa.insert(Registration), batch)
        conn.execute(
            sa.update(EventRecord)
            .where(EventRecord.id == event_id)
            .values(
                seats_taken=sa.select(sa.func.count())
                .where(Registration.event_id == event_id, Registration.status == "confirmed")
                .scalar_subquery()
            )
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return int(event_id)


# --- The app --------------------------------------------------------------------------------


def app_client(url: str, workdir: Path) -> Any:
    """The app on `url`, as production configures it, and a client signed in as staff."""
    os.environ.update(app_env(url, workdir, CONTENT_DIR=str(CONTENT)))
    from registration import accounts, create_app
    from registration.extensions import db
    from registration.models import Role

    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context():
        if accounts.find(STAFF) is None:
            accounts.create_user(STAFF, PASSWORD, Role.ORGANISER)
        db.session.remove()
    client = app.test_client()
    response = client.post("/connexion", data={"email": STAFF, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def download(client: Any, path: str) -> tuple[float, float, int]:
    """(seconds to the last byte, seconds to the first byte, bytes) of a streamed GET."""
    started = time.perf_counter()
    response = client.get(path, buffered=False)
    assert response.status_code == 200, response.status_code
    first = 0.0
    size = 0
    try:
        for chunk in response.response:
            if chunk and not first:
                first = time.perf_counter() - started
            size += len(chunk)
    finally:
        response.close()
    return time.perf_counter() - started, first, size


def peak_memory(url: str, workdir: Path, path: str) -> float:
    """How far (MB) the RSS of a fresh process, signed in, rises above where it was while it
    downloads `path` once: its peak (VmHWM, reset just before) less its RSS before."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory", url, str(workdir), path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split()[-1])


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def memory_child(url: str, workdir: str, path: str) -> None:
    client = app_client(url, Path(workdir))
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the RSS now
    before = _status_mb("VmRSS")
    download(client, path)
    print(_status_mb("VmHWM") - before)


# --- Peers ----------------------------------------------------------------------------------


def _chunks_of_csv(rows: Any) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for index, row in enumerate(rows):
        writer.writerow(row)
        if index % 500 == 499:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def peer_copy(url: str, event_id: int) -> float:
    """PostgreSQL's COPY … TO STDOUT (CSV) of the raw columns, read to the end."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        query = RAW.format(event_id=event_id)
        with conn.cursor().copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, DELIMITER ';')") as cp:
            for _ in cp:
                pass
    return time.perf_counter() - started


def peer_sqlite_cli(url: str, event_id: int) -> float:
    """The sqlite3 shell's own CSV output of the raw columns."""
    started = time.perf_counter()
    subprocess.run(
        ["sqlite3", "-csv", "-separator", ";", url.removeprefix("sqlite:///")],
        input=RAW.format(event_id=event_id),
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _raw_rows(url: str, event_id: int) -> Iterator[tuple[Any, ...]]:
    query = RAW.format(event_id=event_id)
    if url.startswith("postgresql"):
        import psycopg

        dsn = url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn) as conn, conn.cursor(name="peer") as cursor:
            cursor.itersize = 1000  # server-side, 1,000 rows at a time, as the export streams
            cursor.execute(query)
            yield from cursor
    else:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            yield from conn.execute(query)
        finally:
            conn.close()


def peer_csv_writer(url: str, event_id: int) -> float:
    started = time.perf_counter()
    for _ in _chunks_of_csv(_raw_rows(url, event_id)):
        pass
    return time.perf_counter() - started


def peer_openpyxl(url: str, event_id: int) -> float:
    """openpyxl's write-only mode on the raw rows, each value as text, saved to a file."""
    from openpyxl import Workbook

    started = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Inscriptions")
    for row in _raw_rows(url, event_id):
        sheet.append(["" if v is None else str(v) for v in row])
    with tempfile.TemporaryFile() as output:
        book.save(output)
    return time.perf_counter() - started


# --- The benchmark --------------------------------------------------------------------------


def _ms(values: tuple[float, float]) -> tuple[float, float]:
    return values[0] * 1000, values[1] * 1000


def bench_database(url: str, workdir: Path, results: Results) -> None:
    kind = dialect(url)
    env = app_env(url, workdir, CONTENT_DIR=str(CONTENT))
    migrate(env)
    started = time.perf_counter()
    event_id = seed(url, N)
    print(f"{kind}: {N:,} attendees inserted in {time.perf_counter() - started:.1f} s")
    client = app_client(url, workdir)
    base = f"/organisation/{SLUG}"
    download(client, f"{base}/export.csv")  # warm up: compiled queries, templates, caches

    csv_runs = [download(client, f"{base}/export.csv") for _ in range(3)]
    xlsx_runs = [download(client, f"{base}/export.xlsx") for _ in range(3)]
    if kind == "postgresql":
        database_peer = best_and_median(lambda: peer_copy(url, event_id))
        database_label = "COPY … TO STDOUT"
    else:
        database_peer = best_and_median(lambda: peer_sqlite_cli(url, event_id))
        database_label = "sqlite3 -csv"
    writer_peer = best_and_median(lambda: peer_csv_writer(url, event_id))
    openpyxl_peer = best_and_median(lambda: peer_openpyxl(url, event_id))

    def figures(runs: list[tuple[float, float, int]], index: int) -> tuple[float, float]:
        values = sorted(run[index] for run in runs)
        return values[0] * 1000, values[1] * 1000

    rows = f"{N:,}"
    csv_total, csv_median = figures(csv_runs, 0)
    results.add(
        f"{kind}: CSV {rows} attendees",
        csv_total,
        "ms",
        peer=_ms(database_peer)[0],
        peer_label=database_label,
        note=f"median {csv_median:,.0f} ms, {csv_runs[0][2] / 1e6:.1f} MB",
    )
    results.add(
        f"{kind}: CSV {rows} attendees",
        csv_total,
        "ms",
        peer=_ms(writer_peer)[0],
        peer_label="DBAPI rows into csv.writer",
        note=f"peer median {_ms(writer_peer)[1]:,.0f} ms",
    )
    first, first_median = figures(csv_runs, 1)
    results.add(f"{kind}: CSV first byte", first, "ms", note=f"median {first_median:,.0f} ms")
    xlsx_total, xlsx_median = figures(xlsx_runs, 0)
    results.add(
        f"{kind}: XLSX {rows} attendees",
        xlsx_total,
        "ms",
        peer=_ms(openpyxl_peer)[0],
        peer_label="openpyxl write-only, raw rows",
        note=f"median {xlsx_median:,.0f} ms, {xlsx_runs[0][2] / 1e6:.1f} MB",
    )
    first, first_median = figures(xlsx_runs, 1)
    results.add(f"{kind}: XLSX first byte", first, "ms", note=f"median {first_median:,.0f} ms")

    for extension in ("csv", "xlsx"):
        empty = min(
            peak_memory(url, workdir, f"{base}/export.{extension}?q={NOTHING}") for _ in range(2)
        )
        full = min(peak_memory(url, workdir, f"{base}/export.{extension}") for _ in range(2))
        results.add(
            f"{kind}: {extension.upper()} peak memory, {rows} attendees",
            full,
            "MB",
            peer=empty,
            peer_label="empty export",
            note=f"RSS above its level before the export; {full - empty:+.1f} MB",
        )


def main() -> None:
    title = f"Exports of {N:,} attendees; min of 3 runs, median in the note"
    on_each_database("exports", title, bench_database)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        memory_child(*sys.argv[2:5])
    else:
        main()
