"""Benchmarks that print figures (no assertions): in-process requests through the WSGI stack.

    make bench                       # SQLite in a temporary folder
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/inscriptions_bench make bench

The PostgreSQL database is created if it does not exist, and emptied: give it a name of its own.

A minimal Flask app serves as the baseline for the cost of the framework itself.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("APP_ENV", "test")

from flask_migrate import upgrade

from registration import create_app
from registration.extensions import db

N = int(os.environ.get("BENCH_REQUESTS", "300"))
SLUG = "la-dinum-en-action"


def measure(label: str, call, n: int = N) -> None:
    timings = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        timings.append(time.perf_counter() - started)
    timings.sort()
    p50 = statistics.median(timings) * 1000
    p95 = timings[int(len(timings) * 0.95) - 1] * 1000
    print(f"{label:<38} {n / sum(timings):8.0f} req/s   p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")


def create_database(url: str) -> None:
    server, _, name = url.rpartition("/")
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        run(Path(folder))


def run(workdir: Path) -> None:
    url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "FROZEN_NOW": datetime.fromisoformat("2023-05-20T10:00:00+02:00"),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "MAIL_BACKEND": "file",
            "MAIL_FILE_DIR": str(workdir / "mail"),
        }
    )
    if url.startswith("postgresql"):
        create_database(url)
    with app.app_context():
        if url.startswith("postgresql"):
            db.drop_all()
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
    client = app.test_client()

    baseline = Flask("baseline")
    baseline.get("/")(lambda: "<h1>Bonjour</h1>")
    base_client = baseline.test_client()

    print(f"database: {url.split('://')[0]}, {N} requests each, one process, in-process client")
    measure("minimal Flask app GET /", lambda i: base_client.get("/"))
    measure("event page GET /agenda/<slug>/", lambda i: client.get(f"/agenda/{SLUG}/"))
    measure(
        "form GET /agenda/<slug>/inscription", lambda i: client.get(f"/agenda/{SLUG}/inscription")
    )
    measure(
        "registration POST (mail queued, sent by the worker)",
        lambda i: client.post(
            f"/agenda/{SLUG}/inscription",
            data={
                "first_name": "Agent",
                "last_name": str(i),
                "email": f"agent{i}@numerique.gouv.fr",
                "employer": "DINUM",
                "job_title": "Bench",
                "certify_agent": "y",
                "accept_privacy": "y",
            },
            buffered=True,
        ),
    )
    measure("DINUM page GET /dinum/", lambda i: client.get("/dinum/"))


if __name__ == "__main__":
    main()
