"""Start-up: `python -c "from wsgi import app"` in a fresh process, as each gunicorn worker
and each `flask` command pays it, against a minimal Flask app (bench/peer.py) in the same
run. Three figures each: until the app is ready (the process prints a line once `app`
exists: what a worker waits for); until the process has exited (interpreter start-up and
shutdown included, as `time python -c ...` shows); and the CPU time (user + system) the
process used in all, which other work on the machine disturbs least.

    .venv/bin/python bench/startup.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench_page \
        .venv/bin/python bench/startup.py

The production settings of bench/common.py (`app_env`), on SQLite and, where
BENCH_DATABASE_URL names one, on PostgreSQL (its driver is imported then). Python's bytecode
cache is written by a first, unmeasured run, as on any deployed machine (even where
PYTHONDONTWRITEBYTECODE is set in the environment). Min and median of 5 runs
(BENCH_RUNS), ours and the peer's in turn.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Results, app_env, dialect, migrate, on_each_database

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
OURS = "from wsgi import app"
PEER = "from bench.peer import app"
READY = "; import sys; sys.stdout.write('ready\\n'); sys.stdout.flush()"


def start(code: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from process start until `code` has run, until the process exited, and the
    CPU seconds it used."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code + READY], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    ready = time.perf_counter() - started
    _, status, usage = os.wait4(process.pid, 0)
    exited = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode != 0 or line != b"ready\n":
        raise SystemExit(f"échec au démarrage : {code}")
    return ready, exited, usage.ru_utime + usage.ru_stime


def measure(url: str, workdir: Path, results: Results) -> None:
    kind = dialect(url)
    env = {k: v for k, v in app_env(url, workdir).items() if k != "PYTHONDONTWRITEBYTECODE"}
    migrate(env)
    start(OURS, env), start(PEER, env)  # writes the bytecode cache
    ours: list[tuple[float, float, float]] = []
    peer: list[tuple[float, float, float]] = []
    for _ in range(RUNS):
        ours.append(start(OURS, env))
        peer.append(start(PEER, env))
    for index, until in ((0, "app ready"), (1, "process exited"), (2, "CPU time")):
        mine = [run[index] * 1000 for run in ours]
        theirs = [run[index] * 1000 for run in peer]
        for label, pick in (("min", min), ("median", statistics.median)):
            results.add(
                f"{kind}, {until}: {label} of {RUNS}",
                pick(mine),
                "ms",
                peer=pick(theirs),
                peer_label="minimal Flask app",
                note=f"runs {min(mine):.0f}–{max(mine):.0f} ms" if label == "min" else "",
            )


def main() -> None:
    title = "start-up in a fresh process (python -c), vs a minimal Flask app"
    on_each_database("startup", title, measure)


if __name__ == "__main__":
    main()
