"""registration/db.py: a pooled PostgreSQL connection left dead by a restart is replaced."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registration.extensions import db

from .factories import register_url

APP_NAME = "test-db-app"
OPTIONS = {"connect_args": {"application_name": APP_NAME}}


def kill_the_app_connections(app) -> int:
    """What a server restart does to the pool: every connection of the app's is cut."""
    with app.app_context():
        url = db.engine.url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        killed = conn.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": APP_NAME},
        )
    engine.dispose()
    return int(killed or 0)


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to restart")


@pytest.mark.usefixtures("postgres_only")
def test_an_idle_dead_connection_is_replaced_before_use(make_app, event):
    app = make_app(DATABASE_PING_AFTER_IDLE=0, SQLALCHEMY_ENGINE_OPTIONS=OPTIONS)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert kill_the_app_connections(app) >= 1
    assert client.get("/healthz").status_code == 200
    assert client.get(register_url(event)).status_code == 200


@pytest.mark.usefixtures("postgres_only")
def test_a_connection_used_moments_ago_is_not_tested_and_a_dead_one_costs_one_503(make_app, event):
    app = make_app(DATABASE_PING_AFTER_IDLE=3600, SQLALCHEMY_ENGINE_OPTIONS=OPTIONS)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert kill_the_app_connections(app) >= 1
    # The dead connection is found by the request itself: "momentanément indisponible"...
    response = client.get(register_url(event))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    # ...and the pool connects afresh for the next one.
    assert client.get(register_url(event)).status_code == 200
    assert client.get("/healthz").status_code == 200
