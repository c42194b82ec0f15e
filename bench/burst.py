"""1,000 agents at once for 100 seats, through two gunicorn instances on PostgreSQL, beside
1,000 row-locked transactions run by pgbench on the same database.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_signup \
        .venv/bin/python bench/burst.py

Seats go to proven mailboxes: registering takes none, confirming the address takes one. So
the burst comes in two waves of 1,000 requests at once, half to each instance:
1. every agent has the form open (GET before the burst, not timed) and posts it;
2. every agent has read its link (the public id, from the database, as from a mailbox, not
   timed) and posts the confirmation: the 100 seats are taken here.
Printed for each wave: the time until all 1,000 had their answer, and the p50/p99 of the POST;
then seats taken, the waiting list and errors. Peer: pgbench running the confirmation's
transaction (guarded seat UPDATE, two INSERTs) 1,000 times, 20 clients: the database's own
time for 1,000 row-locked transactions.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
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
    parse,
    pgbench,
    pgbench_fixture,
    plain_url,
    request_bytes,
    reset,
)

AGENTS = 1000
SEATS = 100
RUNS = 3
WORKERS = 5  # per instance: what gunicorn.conf.py gives on 2 cores


class Agent:
    """One person with the form open; then their two posts, each timed."""

    def __init__(self, n: int, bases: list[str], stamp: str) -> None:
        self.email = f"agent.{stamp}.{n}@numerique.gouv.fr"
        self.first, self.second = bases[n % 2], bases[(n + 1) % 2]
        self.path = f"/agenda/{SLUG}/inscription"
        page = http(self.first, "GET", self.path)
        self.cookies = page.cookies
        self.csrf = csrf_token(page.body)
        self.confirm_path = ""
        self.sent_at: dict[str, float] = {}
        self.done_at: dict[str, float] = {}
        self.errors: list[str] = []

    def request(self, step: str) -> tuple[str, bytes]:
        if step == "register":
            form = form_for(self.email, self.csrf)
            return self.first, request_bytes(self.first, "POST", self.path, self.cookies, form)
        form = {"csrf_token": self.csrf}
        return self.second, request_bytes(
            self.second, "POST", self.confirm_path, self.cookies, form
        )

    def check(self, step: str, response: Response) -> None:
        target = urlsplit(response.headers.get("location", "")).path
        if response.status != 302:
            self.errors.append(f"{step} : HTTP {response.status}")
        elif step == "confirm" and "/mon-inscription/" not in target:
            self.errors.append(f"{step} : redirigé vers {target}")

    async def post(self, step: str, start: asyncio.Event) -> None:
        base, raw = self.request(step)
        url = urlsplit(base)
        await start.wait()
        self.sent_at[step] = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(url.hostname, url.port)
            writer.write(raw)
            answer = await reader.read()
            writer.close()
        except OSError as exc:
            self.errors.append(f"{step} : {exc}")
        else:
            self.check(step, parse(answer))
        self.done_at[step] = time.perf_counter()


def wave(agents: list[Agent], step: str) -> float:
    """All agents at once, from one event loop (a thousand threads could not start together:
    they queue for the interpreter's lock): the time until the last one is answered."""

    async def go() -> float:
        start = asyncio.Event()
        posts = [asyncio.create_task(agent.post(step, start)) for agent in agents]
        await asyncio.sleep(0.2)  # every task waits on the start signal
        started = time.perf_counter()
        start.set()
        await asyncio.gather(*posts)
        return started

    started = asyncio.run(go())
    late = max(agent.sent_at[step] for agent in agents) - started
    if late > 0.5:
        print(f"  le client a envoyé la dernière requête {late:.2f} s après le départ")
    return max(agent.done_at[step] for agent in agents) - started


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
    """One burst of AGENTS for SEATS seats, in its two waves; its figures."""
    reset(env["DATABASE_URL"], SEATS)
    stamp = f"{time.time_ns():x}"
    agents = [Agent(n, bases, stamp) for n in range(AGENTS)]
    figures = {"register all": wave(agents, "register")}
    mailbox = Mailbox(env["DATABASE_URL"])
    for agent in agents:
        token = confirm_token(env["SECRET_KEY"], mailbox.public_id(agent.email))
        agent.confirm_path = f"{agent.path}/confirmer/{token}"
    mailbox.close()
    figures["confirm all"] = wave(agents, "confirm")
    errors = [error for agent in agents for error in agent.errors]
    if errors:
        print(f"  {len(errors)} erreur(s), dont : {errors[0]}")
    taken, confirmed, waiting = counts(env["DATABASE_URL"])
    for step in ("register", "confirm"):
        took = [agent.done_at[step] - agent.sent_at[step] for agent in agents]
        figures[f"{step} p50"] = percentile(took, 50)
        figures[f"{step} p99"] = percentile(took, 99)
    return {
        **figures,
        "both waves": figures["register all"] + figures["confirm all"],
        "taken": taken,
        "confirmed": confirmed,
        "waiting": waiting,
        "errors": len(errors),
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
    for key, what in (
        ("register all", "1,000 registrations at once: all answered"),
        ("confirm all", "1,000 confirmations at once: all answered"),
        ("both waves", "both waves, end to end"),
    ):
        results.add(
            f"{what}, best",
            best(key),
            "s",
            peer=min(peers),
            peer_label=peer_label,
            note="goal < 3 s" if key != "both waves" else "",
        )
        results.add(
            f"{what}, median",
            median(key),
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
