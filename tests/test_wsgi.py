"""Start-up (`from wsgi import app`, as each gunicorn worker and each command pays it): what
only some requests or commands need is imported when they need it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask

from registration import accounts

from .conftest import ROOT

# Needed by the outbox worker, exports, password changes, a sent form, `flask db`, or the
# parsing of a changed content file: never by start-up.
LAZY = (
    "alembic",
    "flask_migrate",
    "openpyxl",
    "icalendar",
    "zxcvbn",
    "email_validator",
    "psycopg",
    "markdown_it",
    "frontmatter",
    "dotenv",
    "authlib",  # ProConnect: only when it is set and someone presses its button
    "requests",
    "joserfc",
    # not sqlalchemy.dialects.postgresql: the partial index's postgresql_where loads it
)
PROBE = (
    "import json, sys; from wsgi import app; import gc; "
    "print(json.dumps([gc.isenabled(), gc.get_freeze_count(), "
    f"[m for m in {LAZY!r} if m in sys.modules]]))"
)


def start(tmp_path) -> tuple[bool, int, list[str]]:
    env = {
        **os.environ,
        "FLASK_SKIP_DOTENV": "1",
        "APP_ENV": "production",
        "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'start.db'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True, capture_output=True
    ).stdout
    enabled, frozen, imported = json.loads(out.splitlines()[-1])
    return bool(enabled), int(frozen), list(imported)


def test_start_up_imports_only_what_serving_pages_needs(tmp_path):
    start(tmp_path)  # the first start parses the content and keeps it (instance/)
    gc_enabled, frozen, imported = start(tmp_path)
    assert imported == []
    assert gc_enabled  # off during start-up only
    assert frozen > 10_000  # what start-up built is left out of every collection


def test_start_up_computes_no_password_hash(app: Flask):
    assert accounts._dummy_hash.cache_info().currsize == 0


def test_flask_migrate_is_set_up_when_first_used(app: Flask):
    from flask_migrate import upgrade

    assert app.extensions["migrate"].directory == str(ROOT / "migrations")
    assert app.cli.commands["db"].name == "db"
    with app.app_context():
        upgrade()  # at head already: nothing to do, and no error


def test_flask_db_is_a_command(tmp_path):
    env = {**os.environ, "FLASK_SKIP_DOTENV": "1", "APP_ENV": "test"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi:app"]
    listing = subprocess.run(
        [*flask, "db", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "upgrade" in listing and "--directory" in listing
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    current = subprocess.run(
        [*flask, "db", "current"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert "(head)" in current.stdout
