"""1,000 agents at once for 100 seats, through two gunicorn instances on PostgreSQL, beside
1,000 row-locked transactions run by pgbench on the same database.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_signup \
        .venv/bin/python bench/burst.py

Each agent has the form open (GET before the burst, not timed). At the start signal all
1,000 post it at once, half to each instance; each then reads its link (the public id, from
the database, as from a mailbox) and posts the confirmation, on the other instance: seats go
to proven mailboxes, so the confirmation is where the 100 seats are taken. Printed: seats
taken, the waiting list, errors, the time until all 1,000 had both answers, and the p50/p99
of each POST. Peer: pgbench running the confirmation's transaction (guarded seat UPDATE, two
INSERTs) 1,000 times, 20 clients: the database's own time for 1,000 row-locked transactions.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import POSTGRES_URL, Results, app_env, gunicorn, migrate, percentile
from signups import (
    PGBENCH_SCRIPT,
    SLUG,
    Mailbox,
    Response,
    confirm_token,
    csrf_token,
    form_for,
    http,
    pgbench,
    pgbench_fixture,
    plain_url,
    reset,
)

AGENTS = 1000
SEATS = 100
RUNS = 3
WORKERS = 5  # per instance: what gunicorn.conf.py gives on 2 cores


class Agent:
    """One person with the form open; then their two posts, timed."""

    def __init__(self, n: int, bases: list[str], stamp: str) -> None:
        self.email = f"agent.{stamp}.{n}@numerique.gouv.fr"
        self.first, self.second = bases[n % 2], bases[(n + 1) % 2]
        self.path = f"/agenda/{SLUG}/inscription"
        page = http(self.first, "GET", self.path)
        self.cookies = page.cookies
        self.csrf = csrf_token(page.body)
        self.register_s = self.confirm_s = 0.0
        self.done_at = 0.0
        self.error = ""

    def post(self, base: str, path: str, form: dict[str, str]) -> tuple[Response, float]:
        started = time.perf_counter()
        response = http(base, "POST", path, self.cookies, form)
        return response, time.perf_counter() - started

    def run(self, start: threading.Event, mailbox: Mailbox, secret: str) -> None:
        start.wait()
        try:
            response, self.register_s = self.post(
                self.first, self.path, form_for(self.email, self.csrf)
            )
            if response.status != 302:
                raise RuntimeError(f"inscription : HTTP {response.status}")
            token = confirm_token(secret, mailbox.public_id(self.email))
            confirm = f"{self.path}/confirmer/{token}"
            response, self.confirm_s = self.post(self.second, confirm, {"csrf_token": self.csrf})
            if (
                response.status != 302
                or "/mon-inscription/" not in urlsplit(response.headers.get("location", "")).path
            ):
                raise RuntimeError(f"confirmation : HTTP {response.status}")
        except Exception as exc:  # counted, shown at the end
            self.error = str(exc) or type(exc).__name__
        self.done_at = time.perf_counter()


def counts(url: str) -> tuple[int, int, int]:
    """(seats taken by the counter, confirmed registrations, waiting list)."""
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        taken = conn.execute("SELECT seats_taken FROM events WHERE slug = %s", (SLUG,)).fetchone()
        by_status = dict(
            conn.execute("SELECT status, count(*) FROM attendees GROUP BY status").fetchall()
        )
    assert taken is not None
    return int(taken[0]), by_status.get("confirmed", 0), by_status.get("waitlisted", 0)


def burst(bases: list[str], env: dict[str, str]) -> dict[str, float]:
    """One burst of AGENTS for SEATS seats; its figures."""
    reset(env["DATABASE_URL"], SEATS)
    stamp = f"{time.time_ns():x}"
    agents = [Agent(n, bases, stamp) for n in range(AGENTS)]
    mailbox = Mailbox(env["DATABASE_URL"])
    start = threading.Event()
    threads = [
        threading.Thread(target=agent.run, args=(start, mailbox, env["SECRET_KEY"]))
        for agent in agents
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every thread waits on the start signal
    started = time.perf_counter()
    start.set()
    for thread in threads:
        thread.join()
    mailbox.close()
    errors = [a.error for a in agents if a.error]
    if errors:
        print(f"  {len(errors)} erreur(s), dont : {errors[0]}")
    taken, confirmed, waiting = counts(env["DATABASE_URL"])
    registers = [a.register_s for a in agents if a.register_s]
    confirms = [a.confirm_s for a in agents if a.confirm_s]
    return {
        "all answered": max(a.done_at for a in agents) - started,
        "taken": taken,
        "confirmed": confirmed,
        "waiting": waiting,
        "errors": len(errors),
        "register p50": percentile(registers, 50),
        "register p99": percentile(registers, 99),
        "confirm p50": percentile(confirms, 50),
        "confirm p99": percentile(confirms, 99),
    }


def main() -> None:
    if not POSTGRES_URL.startswith("postgresql"):
        raise SystemExit(
            "PostgreSQL requis : BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/"
            "inscriptions_bench_signup .venv/bin/python bench/burst.py"
        )
    results = Results("burst")
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as folder:
        env = app_env(POSTGRES_URL, Path(folder))
        migrate(env)
        print(
            f"burst: {AGENTS} agents at once for {SEATS} seats, two gunicorn instances of "
            f"{WORKERS} workers, PostgreSQL, no outbox worker; {RUNS} runs"
        )
        with (
            gunicorn("wsgi:app", env, workers=WORKERS, ready_path="/healthz") as one,
            gunicorn("wsgi:app", env, workers=WORKERS, ready_path="/healthz") as two,
        ):
            runs = [burst([one, two], env) for _ in range(RUNS)]
        # 1,000 transactions: -t is per client.
        peers = []
        for _ in range(RUNS):
            reset(POSTGRES_URL, 10_000_000)
            event_id, attendee_id = pgbench_fixture(POSTGRES_URL)
            script = PGBENCH_SCRIPT.format(event_id=event_id, attendee_id=attendee_id)
            tps, _ = pgbench(POSTGRES_URL, script, "-c", "20", "-j", "2", "-t", str(AGENTS // 20))
            peers.append(AGENTS / tps)

    def best(key: str) -> float:
        return min(run[key] for run in runs)

    def median(key: str) -> float:
        return sorted(run[key] for run in runs)[len(runs) // 2]

    peer_label = "pgbench: 1,000 row-locked txns"
    results.add(
        "all 1,000 answered (both POSTs), best",
        best("all answered"),
        "s",
        peer=min(peers),
        peer_label=peer_label,
        note="goal < 3 s",
    )
    results.add(
        "all 1,000 answered (both POSTs), median",
        median("all answered"),
        "s",
        peer=sorted(peers)[len(peers) // 2],
        peer_label=peer_label,
    )
    for key in ("taken", "confirmed", "waiting", "errors"):
        values = sorted({int(run[key]) for run in runs})
        results.add(
            f"{key} (every run: {', '.join(map(str, values))})",
            max(values),
            "",
            note={"taken": "seats counter, goal exactly 100", "errors": "goal 0"}.get(key, ""),
        )
    for key in ("register p50", "register p99", "confirm p50", "confirm p99"):
        results.add(f"POST {key}, median run", median(key) * 1000, "ms")
    results.write()


if __name__ == "__main__":
    main()
