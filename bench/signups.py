"""Whole sign-ups on PostgreSQL at concurrency 20, SMTP down, beside pgbench of the same
transaction on the same database.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_signup \
        .venv/bin/python bench/signups.py

One sign-up is what an agent does: GET the form, POST it, GET the confirmation page (the
link from the e-mail), POST the confirmation (it redirects to the management page), GET the
management page. 20 agents at once go through it again and again, through gunicorn with the
workers gunicorn.conf.py gives (2 x cores + 1). No outbox worker runs: the e-mails stay
queued, as when the SMTP server is down. The client reads the registration's public id from
the database, as an agent reads their mailbox, and signs the confirmation link itself.

Peers, measured in the same run:
- bench/signup_peer.py: the same five steps written as the smallest app the required stack
  allows (Flask, Flask-WTF, SQLAlchemy Core, the same statements and QR code), under the same
  gunicorn settings and the same client: what the stack itself costs on this machine;
- pgbench -c 20 -j 2 -T 10 of the transaction a confirmation is (the guarded seat UPDATE,
  the status change and the outbox row: two INSERTs);
- the client alone against bench/peer.py serving the form's bytes: its own ceiling, to show
  that it is not what limits the figures.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FROZEN_NOW,
    POSTGRES_URL,
    Results,
    app_env,
    gunicorn,
    migrate,
    percentile,
)

SLUG = "la-dinum-en-action"
CONCURRENCY = 20
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARM_UP = 2.0
RUNS = 3
WORKERS = 2 * (os.cpu_count() or 1) + 1  # what gunicorn.conf.py gives
CSRF = re.compile(
    rb'name="csrf_token" type="hidden" value="([^"]+)"|'
    rb'type="hidden" name="csrf_token" value="([^"]+)"'
)


# --- A small HTTP/1.1 client: threads and blocking sockets --------------------------------
# Measured against bench/peer.py, this costs about a tenth of the CPU per request of a client
# on asyncio streams, and keeps up with wrk: the client must not be what limits the figures.


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str]


def request_bytes(
    base: str,
    method: str,
    path: str,
    cookies: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> bytes:
    url = urlsplit(base)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    body = urlencode(form, doseq=True).encode() if form is not None else b""
    if form is not None:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse(raw: bytes) -> Response:
    """A whole response, read until the server closed the connection."""
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    received: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = value
        if name == "set-cookie":
            key, _, rest = value.partition("=")
            received[key] = rest.split(";", 1)[0]
    return Response(int(status_line.split()[1]), headers, payload, received)


def http(
    base: str,
    method: str,
    path: str,
    cookies: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """One request on its own connection (gunicorn's sync workers close each one)."""
    url = urlsplit(base)
    chunks = []
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(request_bytes(base, method, path, cookies, form))
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return parse(b"".join(chunks))


def csrf_token(body: bytes) -> str:
    found = CSRF.search(body)
    if found is None:
        raise RuntimeError("no CSRF token in the page")
    return (found[1] or found[2]).decode()


class _FrozenSigner(TimestampSigner):
    """The service's clock is frozen at FROZEN_NOW: its links are signed at that time."""

    def get_timestamp(self) -> int:
        return int(datetime.fromisoformat(FROZEN_NOW).timestamp())


def confirm_token(secret: str, public_id: str) -> str:
    """The link of the confirmation e-mail, as registration/links.py signs it."""
    return URLSafeTimedSerializer(secret, salt="confirm-address", signer=_FrozenSigner).dumps(
        public_id
    )


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Mailbox:
    """Where agents read their registration's public id, as from their mailbox: a few
    connections shared by every client thread (PostgreSQL takes 100 at most, all told)."""

    def __init__(self, url: str, connections: int = 5) -> None:
        self.pool: queue.Queue[psycopg.Connection[tuple[str]]] = queue.Queue()
        for _ in range(connections):
            self.pool.put(psycopg.connect(plain_url(url), autocommit=True))

    def public_id(self, email: str) -> str:
        conn = self.pool.get()
        try:
            row = conn.execute(
                "SELECT public_id FROM attendees WHERE email = %s", (email,)
            ).fetchone()
        finally:
            self.pool.put(conn)
        if row is None:
            raise RuntimeError(f"no registration for {email}")
        return str(row[0])

    def close(self) -> None:
        while not self.pool.empty():
            self.pool.get().close()


def form_for(email: str, token: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "first_name": "Camille",
        "last_name": "Durand",
        "email": email,
        "employer": "DINUM",
        "job_title": "Cheffe de projet",
        "q_departements": "Etalab",
        "website": "",
    }


@dataclass
class Timings:
    """Latency of each request, by step, and the failures (appends are thread-safe)."""

    by_step: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, step: str, seconds: float) -> None:
        self.by_step.setdefault(step, []).append(seconds)

    def all(self) -> list[float]:
        return [t for values in self.by_step.values() for t in values]


def timed(timings: Timings, step: str, call: Callable[[], Response], expect: int) -> Response:
    started = time.perf_counter()
    response = call()
    timings.add(step, time.perf_counter() - started)
    if response.status != expect:
        raise RuntimeError(f"{step}: HTTP {response.status}, {expect} attendu")
    return response


def sign_up(base: str, mailbox: Mailbox, secret: str, email: str, timings: Timings) -> None:
    """The five requests of one agent's sign-up."""
    path = f"/agenda/{SLUG}/inscription"
    page = timed(timings, "GET form", lambda: http(base, "GET", path), 200)
    cookies = page.cookies
    form = form_for(email, csrf_token(page.body))
    timed(timings, "POST form", lambda: http(base, "POST", path, cookies, form), 302)
    confirm = f"{path}/confirmer/{confirm_token(secret, mailbox.public_id(email))}"
    shown = timed(timings, "GET confirm", lambda: http(base, "GET", confirm, cookies), 200)
    token = {"csrf_token": csrf_token(shown.body)}
    done = timed(timings, "POST confirm", lambda: http(base, "POST", confirm, cookies, token), 302)
    manage = urlsplit(done.headers["location"]).path
    timed(timings, "GET manage", lambda: http(base, "GET", manage, cookies), 200)


def peer_sign_up(base: str, timings: Timings) -> None:
    """The client's own work for one sign-up, against the peer: five requests, tokens read."""
    for step in ("GET form", "POST form", "GET confirm", "POST confirm", "GET manage"):
        page = timed(timings, step, lambda: http(base, "GET", "/"), 200)
        csrf_token(page.body)


def load(
    agent: Callable[[int, Timings], None], seconds: float, concurrency: int
) -> tuple[int, float, Timings]:
    """`concurrency` agents (threads) signing up one after the other for `seconds`:
    (sign-ups done, elapsed, timings)."""
    timings = Timings()
    done = [0] * concurrency
    deadline = time.perf_counter() + seconds
    counter = itertools.count()

    def run_agent(n: int) -> None:
        while time.perf_counter() < deadline:
            try:
                agent(next(counter), timings)
                done[n] += 1
            except Exception as exc:  # counted, shown at the end
                timings.errors.append(str(exc))

    threads = [threading.Thread(target=run_agent, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - started, timings


# --- CPU used, by side ----------------------------------------------------------------------
# The machine is shared: rates move with the other sessions' load, CPU time per sign-up much
# less. Read from /proc (Linux), in clock ticks, for the processes alive at each reading.

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: str) -> int:
    with open(f"/proc/{pid}/stat", "rb") as file:
        fields = file.read().rpartition(b")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def cpu_by_side(bind: str, database: str) -> dict[str, dict[str, int]]:
    """CPU ticks of each process: gunicorn's (its environment names `bind`) and PostgreSQL's
    backends on `database` (the client's mailbox connections among them)."""
    sides: dict[str, dict[str, int]] = {"web": {}, "postgres": {}}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"gunicorn" in cmdline:
                if f"GUNICORN_BIND={bind}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                    sides["web"][pid] = _cpu_ticks(pid)
            elif cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
                sides["postgres"][pid] = _cpu_ticks(pid)
        except OSError:  # gone meanwhile
            continue
    return sides


def cpu_ms_used(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, float]:
    """Milliseconds of CPU each side used between two readings (a process born meanwhile
    counts from zero; one that died meanwhile is lost: none should)."""
    return {
        side: sum(ticks - before[side].get(pid, 0) for pid, ticks in after[side].items()) * TICK_MS
        for side in after
    }


# --- The database -------------------------------------------------------------------------


def reset(url: str, capacity: int | None) -> None:
    """Empty the registrations and the outbox; the event's row with `capacity` places set by
    an admin (None: unlimited)."""
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        conn.execute("TRUNCATE attendee_status_changes, outbox, attendees, event_domains")
        conn.execute("DELETE FROM events")
        conn.execute(
            "INSERT INTO events (slug, capacity_override, capacity_overridden, seats_taken,"
            " is_open, public_notice, updated_at) VALUES (%s, %s, true, 0, true, '', now())",
            (SLUG, capacity),
        )
        conn.execute("VACUUM ANALYZE")


PGBENCH_SCRIPT = """\
BEGIN;
UPDATE events SET seats_taken = seats_taken + 1, updated_at = now()
  WHERE id = {event_id} AND seats_taken < capacity_override RETURNING seats_taken;
INSERT INTO attendee_status_changes (attendee_id, status, reason, at)
  VALUES ({attendee_id}, 'confirmed', 'adresse confirmée', now());
INSERT INTO outbox (attendee_id, kind, recipient, subject, body_text, body_html, message_id,
  status, attempts, last_error, created_at, next_attempt_at)
  VALUES ({attendee_id}, 'confirmed', 'agent.pgbench@numerique.gouv.fr', 'Inscription confirmée',
  '', '', md5(random()::text || clock_timestamp()::text), 'pending', 0, '', now(), now());
END;
"""


def pgbench_fixture(url: str) -> tuple[int, int]:
    """The event's row and one registration for the peer's rows to point to."""
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        event_id = conn.execute("SELECT id FROM events WHERE slug = %s", (SLUG,)).fetchone()
        assert event_id is not None
        row = conn.execute(
            "INSERT INTO attendees (public_id, event_id, email, first_name, last_name, employer,"
            " job_title, answers, accessibility_needs, status, justification, review_message,"
            " reviewed_by, created_at, updated_at) VALUES (md5(random()::text), %s,"
            " 'agent.pgbench@numerique.gouv.fr', 'A', 'B', 'C', 'D', '{}', '', 'confirmed', '',"
            " '', '', now(), now()) RETURNING id",
            (event_id[0],),
        ).fetchone()
        assert row is not None
        return int(event_id[0]), int(row[0])


def pgbench(url: str, script: str, *options: str) -> tuple[float, float]:
    """Run pgbench with `script`: (transactions per second, seconds)."""
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench manquant : apt-get install postgresql-client")
    parts = urlsplit(plain_url(url))
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    try:
        started = time.perf_counter()
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-h",
                parts.hostname or "127.0.0.1",
                "-p",
                str(parts.port or 5432),
                "-U",
                parts.username or "postgres",
                *options,
                "-f",
                file.name,
                parts.path.lstrip("/"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        elapsed = time.perf_counter() - started
    finally:
        os.unlink(file.name)
    tps = float(re.search(r"tps = ([\d.]+)", out)[1])  # type: ignore[index]
    return tps, elapsed


# --- The benchmark ------------------------------------------------------------------------


def run_client(
    kind: str, base: str, env: dict[str, str]
) -> tuple[float, Timings, dict[str, float]]:
    """CONCURRENCY agents for SECONDS, after a warm-up: (sign-ups per second, timings, CPU
    milliseconds per sign-up by side, the client's own included)."""
    stamp = f"{time.time_ns():x}"
    mailbox = Mailbox(env["DATABASE_URL"])
    try:

        def agent(stage: str) -> Callable[[int, Timings], None]:
            if kind == "peer":
                return lambda i, timings: peer_sign_up(base, timings)
            return lambda i, timings: sign_up(
                base,
                mailbox,
                env["SECRET_KEY"],
                f"agent.{stamp}{stage}.{i}@numerique.gouv.fr",
                timings,
            )

        load(agent("w"), WARM_UP, CONCURRENCY)
        bind, database = urlsplit(base).netloc, urlsplit(env["DATABASE_URL"]).path.lstrip("/")
        before, client_before = cpu_by_side(bind, database), time.process_time()
        done, elapsed, timings = load(agent("m"), SECONDS, CONCURRENCY)
        cpu = cpu_ms_used(before, cpu_by_side(bind, database))
        cpu["client"] = (time.process_time() - client_before) * 1000
    finally:
        mailbox.close()
    if timings.errors:
        print(f"  {len(timings.errors)} erreur(s), dont : {timings.errors[0]}")
    return done / elapsed, timings, {side: ms / max(done, 1) for side, ms in cpu.items()}


@dataclass
class Runs:
    """RUNS runs of CONCURRENCY agents against one app: each run's figures."""

    rates: list[float] = field(default_factory=list)
    p95s: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    cpus: dict[str, list[float]] = field(default_factory=dict)


def measure(target: str, env: dict[str, str]) -> Runs:
    """`target` (module:app) under gunicorn, RUNS times, each time on emptied tables."""
    runs = Runs()
    for _ in range(RUNS):
        reset(POSTGRES_URL, 10_000_000)
        with gunicorn(target, env, workers=WORKERS, ready_path="/healthz") as base:
            rate, timings, cpu = run_client("app", base, env)
        runs.rates.append(rate)
        runs.p95s.append(percentile(timings.all(), 95) * 1000)
        for step, values in timings.by_step.items():
            runs.steps.setdefault(step, []).append(percentile(values, 95) * 1000)
        for side, ms in cpu.items():
            runs.cpus.setdefault(side, []).append(ms)
    return runs


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    if not POSTGRES_URL.startswith("postgresql"):
        raise SystemExit(
            "PostgreSQL requis : BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/"
            "inscriptions_bench_signup .venv/bin/python bench/signups.py"
        )
    results = Results("signups")
    with tempfile.TemporaryDirectory(prefix="bench-signups-") as folder:
        workdir = Path(folder)
        env = app_env(POSTGRES_URL, workdir)
        migrate(env)
        print(
            f"sign-ups: PostgreSQL, concurrency {CONCURRENCY}, {SECONDS:.0f} s x {RUNS}, "
            f"gunicorn {WORKERS} workers, no outbox worker (SMTP down)"
        )
        ours = measure("wsgi:app", env)
        # The peer app: the same steps, the same client, the same gunicorn settings.
        bare = measure("bench.signup_peer:app", env)

        event_id, attendee_id = pgbench_fixture(POSTGRES_URL)
        script = PGBENCH_SCRIPT.format(event_id=event_id, attendee_id=attendee_id)
        peers = [
            pgbench(POSTGRES_URL, script, "-c", "20", "-j", "2", "-T", f"{SECONDS:.0f}")[0]
            for _ in range(RUNS)
        ]

        page = workdir / "form.html"
        with gunicorn("wsgi:app", env, workers=WORKERS, ready_path="/healthz") as base:
            page.write_bytes(http(base, "GET", f"/agenda/{SLUG}/inscription").body)
        peer_env = {**env, "BENCH_PEER_BODY": str(page)}
        with gunicorn("bench.peer:app", peer_env, workers=WORKERS) as base:
            clients = [run_client("peer", base, env)[0] for _ in range(RUNS)]
        load_average = os.getloadavg()[0]

    peer_label = "pgbench, same transaction, -c 20"
    stack_label = "bench/signup_peer.py: the same steps on the bare stack"
    results.add(
        "whole sign-ups, best (5 requests each)",
        max(ours.rates),
        "per s",
        peer=max(peers),
        peer_label=peer_label,
    )
    results.add(
        "whole sign-ups, median",
        median(ours.rates),
        "per s",
        peer=median(peers),
        peer_label=peer_label,
    )
    results.add(
        "whole sign-ups, median, beside the bare stack",
        median(ours.rates),
        "per s",
        peer=median(bare.rates),
        peer_label=stack_label,
    )
    results.add("p95 per request, best run", min(ours.p95s), "ms", note="goal < 50 ms")
    results.add(
        "p95 per request, median run, bare stack", median(bare.p95s), "ms", note=stack_label
    )
    results.add("p95 per request, median run", median(ours.p95s), "ms")
    for step, values in ours.steps.items():
        results.add(f"  p95 {step}, median run", median(values), "ms")
    notes = {
        "web": "gunicorn's processes: 5 requests",
        "postgres": "backends on the bench database (the client's mailbox reads included)",
        "client": "this process: 5 requests and a mailbox read",
    }
    for runs, suffix, label in ((ours, "", None), (bare, ", bare stack", stack_label)):
        for side, values in runs.cpus.items():
            results.add(
                f"CPU per sign-up, {side}, median run{suffix}",
                median(values),
                "ms",
                note=label or notes[side],
            )
    results.add("load average (1 min) at the end", load_average, "", note="other sessions")
    results.add(
        "client alone against bench/peer.py, best",
        max(clients),
        "per s",
        note="the client's own ceiling (5 GETs of the form's bytes per sign-up)",
    )
    results.write()


if __name__ == "__main__":
    main()
