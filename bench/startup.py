"""Start-up: `python -c "from wsgi import app"` in a fresh process, as each gunicorn worker
and each `flask` command pays it, against a minimal Flask app (bench/peer.py) in the same
run.

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
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Results, app_env, databases, migrate  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
OURS = "from wsgi import app"
PEER = "from bench.peer import app"


def start(code: str, env: dict[str, str]) -> float:
    """Seconds from process start to exit, for `python -c code`."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def measure(results: Results, url: str, workdir: Path) -> None:
    kind = url.split(":", 1)[0].split("+", 1)[0]
    env = {
        k: v for k, v in app_env(url, workdir).items() if k != "PYTHONDONTWRITEBYTECODE"
    }
    migrate(env)
    start(OURS, env), start(PEER, env)  # writes the bytecode cache
    ours: list[float] = []
    peer: list[float] = []
    for _ in range(RUNS):
        ours.append(start(OURS, env))
        peer.append(start(PEER, env))
    for label, pick in (("min", min), ("median", statistics.median)):
        results.add(
            f"{kind}, `{OURS}`: {label} of {RUNS}",
            pick(ours) * 1000,
            "ms",
            peer=pick(peer) * 1000,
            peer_label="minimal Flask app",
            note=f"runs {min(ours) * 1000:.0f}–{max(ours) * 1000:.0f} ms" if label == "min" else "",
        )


def main() -> None:
    results = Results("startup")
    print("start-up in a fresh process (python -c), vs a minimal Flask app")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        for url in databases(Path(folder)):
            measure(results, url, Path(folder))
    results.write()


if __name__ == "__main__":
    main()
