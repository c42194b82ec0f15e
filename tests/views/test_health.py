"""/healthz (registration.views.health): the database answers, or a 503 that says so."""

from __future__ import annotations

import logging

import pytest

from registration import create_app
from registration.extensions import db, limiter

from ..conftest import base_config

UNREACHABLE = {
    # nothing listens on port 1: the connection is refused at once
    "postgresql": "postgresql+psycopg://postgres:secret-password@127.0.0.1:1/inscriptions",
    "sqlite": "sqlite:////nonexistent-folder/inscriptions.db",
}


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path, caplog, dialect):
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=UNREACHABLE[dialect]))
    try:
        with caplog.at_level(logging.WARNING):
            response = app.test_client().get("/healthz")
    finally:
        with app.app_context():
            db.engine.dispose()
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    body = response.get_data(as_text=True)
    for secret in ("secret-password", "127.0.0.1", "nonexistent", "Traceback", "Error"):
        assert secret not in body
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("database unreachable" in w for w in warnings)
    assert not any("secret-password" in w for w in warnings)


def test_healthz_is_not_rate_limited(make_app, monkeypatch):
    """With a default limit on every page, the probe still always answers."""
    # The one Limiter keeps the first default limits it is given: start from none, and put
    # the original back afterwards.
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", [])
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    assert [client.get("/agenda/").status_code for _ in range(3)] == [200, 200, 429]


def test_healthz_opens_no_session(make_app):
    """Even after a signed-in page, a probe sends no cookie back."""
    client = make_app().test_client()
    client.get("/connexion")
    response = client.get("/healthz")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
