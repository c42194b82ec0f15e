"""Logs (registration.logs): one JSON line per request with a request id, and never a
password, a token or a full e-mail address."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime

import pytest
from flask import current_app

from registration import logs
from registration.config import load

from .factories import (
    PASSWORD,
    form_data,
    link_from,
    make_user,
    outbox,
    register_url,
    registrations,
    sign_in,
)

EMAIL = "prenom.nom@numerique.gouv.fr"
MASKED = "p***@numerique.gouv.fr"


def json_lines(err: str) -> list[dict]:
    """Every line written to stderr, each parsed as JSON (a line that is not fails)."""
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "registration.request"]


@pytest.fixture
def json_app(make_app):
    return make_app(LOG_FORMAT="json", LOG_LEVEL="INFO")


def test_one_json_line_per_request(json_app, event, capsys):
    capsys.readouterr()
    response = json_app.test_client().get(event.url, headers={"X-Request-ID": "lb-1234abcd"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "lb-1234abcd"
    [line] = request_lines(json_lines(capsys.readouterr().err))
    assert datetime.fromisoformat(line.pop("time")).utcoffset().total_seconds() == 0
    assert isinstance(line.pop("duration_ms"), float)
    assert line == {
        "level": "INFO",
        "logger": "registration.request",
        "message": "GET /agenda/<slug>/ 200",
        "request_id": "lb-1234abcd",
        "method": "GET",
        "route": "/agenda/<slug>/",
        "slug": event.slug,
        "status": 200,
    }


@pytest.mark.parametrize("incoming", [None, "short", "has spaces in it", "x" * 200, "é" * 10])
def test_a_request_id_is_made_unless_a_valid_one_came_in(json_app, capsys, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    response = json_app.test_client().get("/healthz", headers=headers)
    made = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert request_lines(json_lines(capsys.readouterr().err))[-1]["request_id"] == made


def test_every_line_of_a_request_carries_its_id(json_app, capsys):
    @json_app.get("/test-logs")
    def speak() -> str:
        current_app.logger.warning("from the app")
        logging.getLogger("sqlalchemy.pool").warning("from a library")
        return "ok"

    capsys.readouterr()
    json_app.test_client().get("/test-logs", headers={"X-Request-ID": "abcd-1234-efgh"})
    lines = json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["request_id"]) for line in lines] == [
        ("registration", "abcd-1234-efgh"),
        ("sqlalchemy.pool", "abcd-1234-efgh"),
        ("registration.request", "abcd-1234-efgh"),
    ]
    logging.getLogger("registration").warning("outside any request")
    [outside] = json_lines(capsys.readouterr().err)
    assert "request_id" not in outside


def test_the_signed_in_user_is_named_by_id(json_app, capsys):
    user = make_user(json_app, "orga@numerique.gouv.fr")
    client = json_app.test_client()
    sign_in(client, "orga@numerique.gouv.fr")
    capsys.readouterr()
    assert client.get("/organisation/").status_code == 200
    [line] = request_lines(json_lines(capsys.readouterr().err))
    assert line["user_id"] == user.id and line["route"] == "/organisation/"


def test_no_address_token_nor_password_ever_reaches_the_logs(json_app, event, capsys):
    """A whole visit: register, confirm, manage, search, sign in; then a page that fails."""

    @json_app.get("/test-failure/<token>")
    def fail(token: str) -> str:
        raise RuntimeError(f"refused for {EMAIL}")

    make_user(json_app, "orga.nisatrice@numerique.gouv.fr")
    client = json_app.test_client()
    assert client.post(register_url(event), data=form_data(email=EMAIL)).status_code == 302
    confirm = link_from(outbox(json_app, "confirm_address")[0], "/confirmer/")
    manage = client.post(confirm).headers["Location"]
    assert client.get(manage).status_code == 200
    assert registrations(json_app)[0].email == EMAIL
    tokens = [confirm.rsplit("/", 1)[1], manage.rsplit("/", 1)[1]]
    wrong = "mauvais mot de passe secret"
    sign_in(client, "orga.nisatrice@numerique.gouv.fr", wrong)
    sign_in(client, "orga.nisatrice@numerique.gouv.fr")
    client.get(f"/organisation/{event.slug}/inscrits?q={EMAIL}")
    client.get(f"/agenda/{event.slug}/?email={EMAIL}")

    json_app.config["PROPAGATE_EXCEPTIONS"] = False  # log it, as in production
    assert client.get(f"/test-failure/{tokens[1]}").status_code == 500

    err = capsys.readouterr().err
    lines = json_lines(err)
    for secret in (EMAIL, "orga.nisatrice@", "prenom.nom%40", wrong, PASSWORD, *tokens):
        assert secret not in err
    routes = [line["route"] for line in request_lines(lines)]
    assert "/agenda/<slug>/mon-inscription/<token>" in routes
    assert "/agenda/<slug>/inscription/confirmer/<token>" in routes
    [failure] = [line for line in lines if line["level"] == "ERROR"]
    assert failure["message"] == "Exception on /test-failure/<token> [GET]"
    assert f"RuntimeError: refused for {MASKED}" in failure["exception"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"envoyé à {EMAIL}.", f"envoyé à {MASKED}."),
        ("<é1@numerique.gouv.fr>, a+b@x.fr", "<é***@numerique.gouv.fr>, a***@x.fr"),
        ("/?q=jean.dupont%40paris.fr", "/?q=j***@paris.fr"),
        ("Key (email)=(c.durand@finances.gouv.fr)", "Key (email)=(c***@finances.gouv.fr)"),
        ("no address @ all, user@localhost", "no address @ all, user@localhost"),
    ],
)
def test_email_addresses_are_masked(text, masked):
    assert logs.mask_emails(text) == masked


def test_any_logger_is_masked_and_its_arguments_too(json_app, capsys):
    logging.getLogger("some.library").warning("sent to %s (%d)", EMAIL, 2)
    try:
        raise ValueError(f"bad {EMAIL}")
    except ValueError:
        logging.getLogger("some.library").exception("failed")
    first, second = json_lines(capsys.readouterr().err)
    assert first["message"] == f"sent to {MASKED} (2)"
    assert f"ValueError: bad {MASKED}" in second["exception"]


def test_paths_outside_the_application_lose_their_token_and_query(json_app, capsys):
    """gunicorn names the request it failed on, outside any Flask request."""
    uri = f"/agenda/a/mon-inscription/Ab1.cD2-eF3?email={EMAIL}"
    logging.getLogger("gunicorn.error").error("Error handling request %s", uri)
    [line] = json_lines(capsys.readouterr().err)
    assert line["message"] == "Error handling request /agenda/a/mon-inscription/<token>?<query>"
    assert (
        logs.mask("/inscription/confirmer/x.y.z, puis ?")
        == "/inscription/confirmer/<token>, puis ?"
    )


def test_the_development_server_access_line_is_dropped(json_app, capsys):
    """werkzeug's own request line holds the query string: the app writes its own instead."""
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.info('127.0.0.1 - - [date] "%s" %s %s', f"GET /?email={EMAIL} HTTP/1.1", "200", "-")
    werkzeug.info(" * Running on http://127.0.0.1:5000")
    [line] = json_lines(capsys.readouterr().err)
    assert line["message"] == " * Running on http://127.0.0.1:5000"


def test_readable_text_in_development(make_app, event, capsys):
    app = make_app(APP_ENV="development", LOG_LEVEL="INFO")
    capsys.readouterr()
    app.test_client().get(event.url, headers={"X-Request-ID": "dev-12345678"})
    [line] = [x for x in capsys.readouterr().err.splitlines() if "registration.request" in x]
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO registration.request \[dev-12345678\] GET /agenda/<slug>/ 200", line
    )


def test_json_by_default_in_production_only():
    assert logs.use_json(load({"APP_ENV": "production", "SECRET_KEY": "x"})["APP_ENV"])
    assert not logs.use_json("development")
    assert not logs.use_json("production", "text")
    assert logs.use_json("test", load({"APP_ENV": "test", "LOG_FORMAT": "JSON"})["LOG_FORMAT"])


def test_info_lines_outside_the_tests():
    assert load({"APP_ENV": "production", "SECRET_KEY": "x"})["LOG_LEVEL"] == "INFO"
    assert load({"APP_ENV": "development"})["LOG_LEVEL"] == "INFO"
    assert load({"APP_ENV": "test"})["LOG_LEVEL"] == "WARNING"
    assert load({"APP_ENV": "test", "LOG_LEVEL": "debug"})["LOG_LEVEL"] == "DEBUG"
