"""What a slow SMTP server and a Redis outage do to the pages people use.

    .venv/bin/python bench/outages.py          # SQLite; BENCH_DATABASE_URL for PostgreSQL

The service runs under gunicorn (gunicorn.conf.py, 2 workers) with rate limiting on, mail
by SMTP, and the outbox worker beside it. One visitor at a time opens the event page, then
the form, and registers. Three runs, the peer first:
- healthy: an SMTP server that answers, Redis up;
- silent SMTP: a server that accepts connections and never answers (the worst case: every
  SMTP step waits for MAIL_TIMEOUT);
- Redis down: nothing listens where RATELIMIT_STORAGE_URI points.
Printed: latency p50 and p95 of each request, beside the healthy run; errors counted.
"""

from __future__ import annotations

import http.cookiejar
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BIN,
    ROOT,
    Results,
    app_env,
    databases,
    dialect,
    free_port,
    gunicorn,
    migrate,
    percentile,
)

SLUG = "la-dinum-en-action"
VISITS = 60
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@contextmanager
def silent_smtp() -> Iterator[int]:
    """Accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def answering_smtp() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield port
    finally:
        process.terminate()
        process.wait()


@contextmanager
def outbox_worker(env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi:app", "outbox", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def visit(base: str, n: int, timings: dict[str, list[float]]) -> int:
    """One visitor: event page, form, registration. Returns the number of failed requests."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    failed = 0

    def timed(label: str, url: str, data: bytes | None = None) -> str:
        nonlocal failed
        started = time.perf_counter()
        try:
            with opener.open(url, data=data, timeout=30) as response:
                body = response.read().decode()
        except OSError:
            failed += 1
            body = ""
        timings[label].append((time.perf_counter() - started) * 1000)
        return body

    timed("event page GET", f"{base}/agenda/{SLUG}/")
    form = timed("form GET", f"{base}/agenda/{SLUG}/inscription")
    token = CSRF.search(form)
    fields = {
        "csrf_token": token[1] if token else "",
        "first_name": "Agent",
        "last_name": f"Banc {n}",
        "email": f"agent.banc{n}@numerique.gouv.fr",
        "employer": "DINUM",
        "job_title": "Banc d’essai",
    }
    timed(
        "registration POST",
        f"{base}/agenda/{SLUG}/inscription",
        urllib.parse.urlencode(fields).encode(),
    )
    return failed


def scenario(env: dict[str, str]) -> tuple[dict[str, list[float]], int]:
    timings: dict[str, list[float]] = {
        "event page GET": [],
        "form GET": [],
        "registration POST": [],
    }
    migrate(env)
    with outbox_worker(env), gunicorn("wsgi:app", env, ready_path="/healthz") as base:
        failed = sum(visit(base, n, timings) for n in range(VISITS))
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.scalar(sa.text("SELECT count(*) FROM attendees"))
    engine.dispose()
    # Every visitor's registration must be stored: a refused form would be no measurement.
    failed += VISITS - int(stored or 0)
    return timings, failed


def main() -> None:
    results = Results("outages")
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        for url in databases(workdir):
            common = {
                "RATELIMIT_ENABLED": "true",
                "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
                "RATELIMIT_KEY_PREFIX": f"bench-outages-{time.time_ns()}",
                "REGISTRATION_RATE_LIMIT": "100000 per minute",
                "MAIL_BACKEND": "smtp",
                "MAIL_SERVER": "127.0.0.1",
                "CONTENT_DIR": str(ROOT / "content"),
            }
            kind = dialect(url)
            print(f"{kind}: {VISITS} visitors one after the other, gunicorn 2 workers")
            with answering_smtp() as port:
                healthy, _ = scenario(app_env(url, workdir, **common, MAIL_PORT=str(port)))
            with silent_smtp() as port:
                slow, slow_failed = scenario(app_env(url, workdir, **common, MAIL_PORT=str(port)))
            dead_redis = {**common, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}
            with answering_smtp() as port:
                down, down_failed = scenario(
                    app_env(url, workdir, **dead_redis, MAIL_PORT=str(port))
                )
            for label in healthy:
                for name, runs, failed in (
                    ("silent SMTP", slow, slow_failed),
                    ("Redis down", down, down_failed),
                ):
                    for p in (50, 95):
                        results.add(
                            f"{kind} {label}, {name}, p{p}",
                            percentile(runs[label], p),
                            "ms",
                            peer=percentile(healthy[label], p),
                            peer_label="healthy",
                            note=f"errors {failed}" if p == 50 else "",
                        )
    results.write()


if __name__ == "__main__":
    main()
