"""The organiser's dashboard and attendee list at 0 and 100,000 attendees, through the app,
beside the bare SQL aggregate (registrations counted by status, straight through the DBAPI).

    .venv/bin/python bench/dashboard.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_export \
        .venv/bin/python bench/dashboard.py

BENCH_ATTENDEES changes the number of rows (100,000). A run is the mean of 10 requests;
min and median of 3 runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Results, app_env, best_and_median, dialect, migrate, on_each_database
from exports import CONTENT, SLUG, N, app_client, seed

REQUESTS = 10
BASE = f"/organisation/{SLUG}"
PAGES = {
    "dashboard": f"{BASE}/",
    "attendee list, page 1": f"{BASE}/inscrits",
    "attendee list, page 1000": f"{BASE}/inscrits?page=1000",
    "attendee list, search": f"{BASE}/inscrits?q=durand+042",
    "attendee list, status filter": f"{BASE}/inscrits?statut=waitlisted",
}
AGGREGATE = "SELECT status, count(*) FROM attendees WHERE event_id = {event_id} GROUP BY status"


def per_request(call: Callable[[], Any]) -> float:
    """Mean seconds of one call, over REQUESTS calls."""
    started = time.perf_counter()
    for _ in range(REQUESTS):
        call()
    return (time.perf_counter() - started) / REQUESTS


def get(client: Any, path: str) -> Callable[[], None]:
    def call() -> None:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    return call


def bare_aggregate(url: str, event_id: int) -> Callable[[], float]:
    """The count by status on a connection of its own, through the DBAPI only."""
    query = AGGREGATE.format(event_id=event_id)
    if url.startswith("postgresql"):
        import psycopg

        conn: Any = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
    else:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))

    def measure() -> float:
        return per_request(lambda: conn.execute(query).fetchall())

    return measure


def bench_database(url: str, workdir: Path, results: Results) -> None:
    kind = dialect(url)
    migrate(app_env(url, workdir, CONTENT_DIR=str(CONTENT)))
    client = app_client(url, workdir)
    for attendees in (0, N):
        event_id = seed(url, attendees)
        rows = f"{attendees:,}"
        for path in PAGES.values():
            get(client, path)()  # warm up
        peer = best_and_median(bare_aggregate(url, event_id))
        for label, path in PAGES.items():
            best, median = best_and_median(lambda path=path: per_request(get(client, path)))
            results.add(
                f"{kind}: {label}, {rows} attendees",
                best * 1000,
                "ms",
                peer=peer[0] * 1000,
                peer_label="bare SQL count by status",
                note=f"median {median * 1000:,.1f} ms",
            )


def main() -> None:
    title = f"Dashboard and attendee list; mean of {REQUESTS} requests, min of 3 runs"
    on_each_database("dashboard", title, bench_database)


if __name__ == "__main__":
    main()
