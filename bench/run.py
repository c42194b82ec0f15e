"""Every benchmark, one after the other: `make bench`.

    make bench                                  # all of them
    make bench BENCH="page exports"             # some of them

Each prints its figures beside its peer's, measured in the same run, and writes
bench/results/<name>.json. They run on SQLite, and on PostgreSQL where it is reachable:
BENCH_DATABASE_URL names the database (default: inscriptions_bench on the local server,
created if missing, and emptied: give it a name of its own). Those that need PostgreSQL say
so and are left out without it. See bench/README.md.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHES = ["startup", "page", "signups", "burst", "exports", "dashboard", "checkin", "outages"]
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench"


def postgres_reachable(url: str) -> bool:
    server = url.rpartition("/")[0]
    engine = sa.create_engine(f"{server}/postgres", connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def main() -> None:
    if "BENCH_DATABASE_URL" not in os.environ and postgres_reachable(DEFAULT_POSTGRES):
        os.environ["BENCH_DATABASE_URL"] = DEFAULT_POSTGRES
    where = os.environ.get("BENCH_DATABASE_URL") or "SQLite only (PostgreSQL unreachable)"
    print(f"databases: SQLite and {where}" if "://" in where else f"databases: {where}")
    chosen = os.environ.get("BENCH", "").split() or BENCHES
    for name in chosen:
        started = time.monotonic()
        print(f"\n== {name}")
        importlib.import_module(f"bench.{name}").main()
        print(f"   ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
