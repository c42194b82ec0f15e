"""Check-in at the door, through the app, at 100,000 attendees: a first scan (the guarded
UPDATE, its audit entry, the answer and the arrivals count), a second scan of the same code
(« déjà enregistré »), the dashboard's live count of arrivals; beside the bare guarded
UPDATE through the DBAPI.

    .venv/bin/python bench/checkin.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_checkin \
        .venv/bin/python bench/checkin.py

BENCH_ATTENDEES changes the number of rows (100,000); a tenth of the confirmed ones have
arrived already. A run is the mean of 50 requests; min and median of 3 runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from common import Results, app_env, best_and_median, dialect, migrate, on_each_database
from exports import CONTENT, SLUG, N, app_client, seed

REQUESTS = 50
RUNS = 3
BASE = f"/organisation/{SLUG}"
GUARDED = (
    "UPDATE attendees SET checked_in_at = CURRENT_TIMESTAMP WHERE event_id = {event_id} "
    "AND public_id = '{public_id}' AND checked_in_at IS NULL AND status = 'confirmed'"
)


def per_request(calls: Iterator[Callable[[], None]]) -> float:
    """Mean seconds of one call, over REQUESTS calls."""
    batch = [next(calls) for _ in range(REQUESTS)]
    started = time.perf_counter()
    for call in batch:
        call()
    return (time.perf_counter() - started) / REQUESTS


def confirmed_not_arrived(url: str, event_id: int, some: int) -> list[str]:
    """`some` confirmed registrations not checked in, and a tenth of the others checked in."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ids = conn.scalars(
            sa.text(
                "SELECT public_id FROM attendees WHERE event_id = :e AND status = 'confirmed' "
                "ORDER BY id"
            ),
            {"e": event_id},
        ).all()
        arrived = ids[some::10]
        conn.execute(
            sa.text("UPDATE attendees SET checked_in_at = CURRENT_TIMESTAMP WHERE public_id = :p"),
            [{"p": p} for p in arrived],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE attendees")
    engine.dispose()
    return list(ids[:some])


def scans(client: Any, codes: list[str], expected: str) -> Iterator[Callable[[], None]]:
    for code in codes:

        def call(code: str = code) -> None:
            response = client.post(f"{BASE}/accueil/arrivees", json={"code": code})
            assert response.status_code == 200, response.status_code
            assert response.get_json()["outcome"] == expected, response.get_json()

        yield call


def gets(client: Any, path: str) -> Iterator[Callable[[], None]]:
    while True:

        def call() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        yield call


def bare_updates(url: str, event_id: int, public_ids: list[str]) -> Iterator[Callable[[], None]]:
    """The guarded UPDATE alone, each in its own transaction, through the DBAPI."""
    if url.startswith("postgresql"):
        import psycopg

        conn: Any = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
    else:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    for public_id in public_ids:

        def call(public_id: str = public_id) -> None:
            conn.execute(GUARDED.format(event_id=event_id, public_id=public_id))
            conn.commit()

        yield call


def bench_database(url: str, workdir: Path, results: Results) -> None:
    kind = dialect(url)
    migrate(app_env(url, workdir, CONTENT_DIR=str(CONTENT)))
    client = app_client(url, workdir)
    event_id = seed(url, N)
    needed = REQUESTS * (RUNS + 1)  # a warm-up, then the runs: each scans people of its own
    people = confirmed_not_arrived(url, event_id, 2 * needed)
    from registration.checkin import codes

    with client.application.app_context():
        ours = [codes.checkin_code(p, SLUG) for p in people[:needed]]
    first, again = scans(client, ours, "arrived"), scans(client, ours, "already")
    peer_calls = bare_updates(url, event_id, people[needed:])
    per_request(first)  # warm up
    per_request(again)
    per_request(peer_calls)
    peer = best_and_median(lambda: per_request(peer_calls), runs=RUNS)
    rows = f"{N:,} attendees"
    for label, calls in (("first scan", first), ("second scan (déjà enregistré)", again)):
        best, median = best_and_median(lambda calls=calls: per_request(calls), runs=RUNS)
        results.add(
            f"{kind}: check-in, {label}, {rows}",
            best * 1000,
            "ms",
            peer=peer[0] * 1000,
            peer_label="bare guarded UPDATE",
            note=f"median {median * 1000:,.1f} ms",
        )
    for label, path in (("arrivals count (JSON)", f"{BASE}/arrivees"), ("dashboard", f"{BASE}/")):
        calls = gets(client, path)
        per_request(calls)
        best, median = best_and_median(lambda calls=calls: per_request(calls), runs=RUNS)
        results.add(
            f"{kind}: {label}, {rows}",
            best * 1000,
            "ms",
            note=f"median {median * 1000:,.1f} ms",
        )


def main() -> None:
    title = f"Check-in; mean of {REQUESTS} requests, min of {RUNS} runs"
    on_each_database("checkin", title, bench_database)


if __name__ == "__main__":
    main()
