"""What every benchmark shares: a database of its own, gunicorn on a free port, wrk, and the
results printed beside their peer and written to bench/results/<name>.json.

A benchmark never asserts a time: it prints figures, measured in the same run as its peer.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
FROZEN_NOW = "2023-05-20T10:00:00+02:00"  # before the demo event's deadline
POSTGRES_URL = os.environ.get("BENCH_DATABASE_URL", "")


# --- Figures --------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    value: float
    peer: float | None = None
    unit: str = ""
    peer_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer in (None, 0) or self.value == 0:
            return None
        # "higher is better" units compare value/peer; times compare peer/value
        if self.unit in {"req/s", "per s", "TPS"}:
            return self.value / self.peer  # type: ignore[operator]
        return self.peer / self.value  # type: ignore[operator]


@dataclass
class Results:
    """Rows of one benchmark, printed as a table and written as JSON."""

    name: str
    rows: list[Row] = field(default_factory=list)

    def add(self, what: str, value: float, unit: str, **extra: Any) -> Row:
        row = Row(what, value, unit=unit, **extra)
        self.rows.append(row)
        peer = f"{row.peer:,.1f} {unit} ({row.peer_label})" if row.peer is not None else ""
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
        print(f"  {what:<52} {value:>11,.1f} {unit:<6} {peer:<40} {ratio:>7} {row.note}")
        return row

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        machine = {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        rows = [{**asdict(row), "ratio": row.ratio} for row in self.rows]
        path.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        print(f"  -> {path.relative_to(ROOT)}")
        return path


def best_and_median(measure: Callable[[], float], runs: int = 3) -> tuple[float, float]:
    """Min and median of `runs` measurements (seconds or rates, as `measure` returns)."""
    values = [measure() for _ in range(runs)]
    return min(values), statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# --- Databases ------------------------------------------------------------------------------


def postgres_database(url: str) -> str:
    """`url`'s database, created if missing, its schema emptied: give it a name of its own."""
    server, _, name = url.rpartition("/")
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url


def databases(workdir: Path) -> list[str]:
    """SQLite in `workdir`, and PostgreSQL where BENCH_DATABASE_URL names one."""
    urls = [f"sqlite:///{workdir / 'bench.db'}"]
    if POSTGRES_URL:
        urls.append(POSTGRES_URL)
    return urls


def dialect(url: str) -> str:
    """ "sqlite" or "postgresql": what a figure's name says it ran on."""
    return url.split(":", 1)[0].split("+", 1)[0]


def on_each_database(name: str, title: str, bench: Callable[[str, Path, Results], None]) -> None:
    """`bench(url, workdir, results)` on each of databases(), in a temporary folder, after
    printing `title`; then bench/results/<name>.json."""
    results = Results(name)
    print(title)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        for url in databases(Path(folder)):
            bench(url, Path(folder), results)
    results.write()


def app_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of the service under test: production-like, clock before the deadline,
    mail queued (no worker runs unless the benchmark starts one)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLASK_APP", "GUNICORN"))},
        "FLASK_SKIP_DOTENV": "1",
        "APP_ENV": "production",
        "SECRET_KEY": "bench-secret",
        "SESSION_COOKIE_SECURE": "false",
        "DATABASE_URL": database_url,
        "FROZEN_NOW": FROZEN_NOW,
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(workdir / "mail"),
        "RATELIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    """`flask db upgrade`, as the README deploys it."""
    if env["DATABASE_URL"].startswith("postgresql"):
        postgres_database(env["DATABASE_URL"])
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi:app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


# --- Servers and load -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def gunicorn(
    target: str, env: dict[str, str], workers: int = 2, ready_path: str = "/"
) -> Iterator[str]:
    """`target` (module:app) under gunicorn.conf.py with `workers` sync workers; yields its
    base URL. The same settings serve the service and its peer."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", target],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": str(workers), "GUNICORN_BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + ready_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Load:
    rate: float  # requests per second
    p50_ms: float
    p99_ms: float
    errors: int


WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, threads: int = 2, connections: int = 32, seconds: int = 10) -> Load:
    """Debian's wrk against `url`: requests per second, p50 and p99 latency."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk manquant : apt-get install wrk")
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = {p: float(v) * UNITS_MS[u] for p, v, u in WRK_LATENCY.findall(out)}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    failed = int(errors[1]) if errors else 0
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    return Load(rate, latency["50"], latency["99"], failed)
