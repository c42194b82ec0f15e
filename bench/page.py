"""The event page against static bytes: our page under gunicorn (2 sync workers, our
gunicorn.conf.py) against bench/peer.py serving the very bytes of that page, same settings,
same load (Debian's wrk, 2 threads, 32 connections).

    .venv/bin/python bench/page.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_page \
        .venv/bin/python bench/page.py

Two states of the database: the event row alone, then with 10,000 pending (unconfirmed)
registrations, which nothing on a page view may grow with. Each figure is the median of 3
runs (BENCH_RUNS), the best and worst beside it; ours and the peer's runs alternate, so that
both see the same noise. BENCH_SECONDS sets the length of one run (10 s).
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Load, Results, app_env, dialect, gunicorn, migrate, on_each_database, wrk
from registration.models import EventRecord, Registration, Status

SLUG = "la-dinum-en-action"
PATH = f"/agenda/{SLUG}/"
PENDING = int(os.environ.get("BENCH_PENDING", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))


def event_row(url: str) -> int:
    """The demo event's row, as its first registration leaves it; its id."""
    engine = sa.create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(EventRecord).values(slug=SLUG, updated_at=now))
        event_id = int(conn.scalar(sa.select(EventRecord.id).where(EventRecord.slug == SLUG)))
    engine.dispose()
    return event_id


def add_pending(url: str, event_id: int, count: int) -> None:
    """`count` registrations waiting for their address to be confirmed (they hold no seat)."""
    engine = sa.create_engine(url)
    now = datetime.now(UTC)
    rows = [
        {
            "public_id": secrets.token_hex(16),
            "event_id": event_id,
            "email": f"agent.{n}@numerique.gouv.fr",
            "first_name": "Agent",
            "last_name": str(n),
            "employer": "DINUM",
            "job_title": "Banc d’essai",
            "answers": {},
            "status": Status.PENDING,
            "expires_at": now + timedelta(days=3650),
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(Registration), rows)
    engine.dispose()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def rounds(measures: dict[str, Callable[[], Load]]) -> dict[str, list[Load]]:
    """RUNS rounds; in each, every measure once, in turn."""
    loads: dict[str, list[Load]] = {name: [] for name in measures}
    for _ in range(RUNS):
        for name, measure in measures.items():
            loads[name].append(measure())
    return loads


def spread(values: list[float]) -> str:
    return f"{min(values):,.1f}–{max(values):,.1f}"


def report(results: Results, label: str, ours: list[Load], peer: list[Load]) -> None:
    rates, peer_rates = [x.rate for x in ours], [x.rate for x in peer]
    p50s, peer_p50s = [x.p50_ms for x in ours], [x.p50_ms for x in peer]
    p99s, peer_p99s = [x.p99_ms for x in ours], [x.p99_ms for x in peer]
    errors = sum(x.errors for x in ours) + sum(x.errors for x in peer)
    note = f"runs {spread(rates)} vs {spread(peer_rates)}" + (
        f"; {errors} errors" if errors else ""
    )
    results.add(
        f"{label}: req/s (median)",
        statistics.median(rates),
        "req/s",
        peer=statistics.median(peer_rates),
        peer_label="peer",
        note=note,
    )
    results.add(
        f"{label}: p50 (median)",
        statistics.median(p50s),
        "ms",
        peer=statistics.median(peer_p50s),
        peer_label="peer",
    )
    results.add(
        f"{label}: p99 (median)",
        statistics.median(p99s),
        "ms",
        peer=statistics.median(peer_p99s),
        peer_label="peer",
        note=f"runs {spread(p99s)} vs {spread(peer_p99s)}",
    )


def measure_database(url: str, workdir: Path, results: Results) -> None:
    kind = dialect(url)
    env = app_env(url, workdir)
    migrate(env)
    event_id = event_row(url)
    body_file = workdir / "page.html"

    with gunicorn("wsgi:app", env, workers=2, ready_path=PATH) as ours:
        page = fetch(ours + PATH)
        body_file.write_bytes(page)
        print(f"{kind}: the page, {len(page):,} bytes; {RUNS} runs of {SECONDS} s each")
        peer_env = {**env, "BENCH_PEER_BODY": str(body_file)}
        with gunicorn("bench.peer:app", peer_env, workers=2) as peer:
            if fetch(peer + "/") != page:
                raise SystemExit("the peer does not serve the page's bytes")
            wrk(ours + PATH, seconds=2)  # warm-up: imports, caches, connections
            wrk(peer + "/", seconds=2)
            empty = rounds(
                {
                    "ours": lambda: wrk(ours + PATH, seconds=SECONDS),
                    "peer": lambda: wrk(peer + "/", seconds=SECONDS),
                }
            )
            report(results, f"{kind}, event page", empty["ours"], empty["peer"])
            add_pending(url, event_id, PENDING)
            if fetch(ours + PATH) != page:
                raise SystemExit("pending registrations changed the page")
            wrk(ours + PATH, seconds=2)
            pending = rounds(
                {
                    "ours": lambda: wrk(ours + PATH, seconds=SECONDS),
                    "peer": lambda: wrk(peer + "/", seconds=SECONDS),
                }
            )
            report(
                results,
                f"{kind}, event page, {PENDING:,} pending",
                pending["ours"],
                pending["peer"],
            )


def main() -> None:
    title = "event page (gunicorn, 2 sync workers; wrk -t2 -c32) vs peer serving the same bytes"
    on_each_database("page", title, measure_database)


if __name__ == "__main__":
    main()
