"""PlainVisits, in front of Flask: a plain visit of an event page gets Flask's last answer
for that URL while all it was made from stays true, with its own request id and log line."""

from __future__ import annotations

import json
import shutil

import pytest

from registration.models import Status
from registration.registrations import queries
from registration.views.event_page import MAX_ANSWERS, PlainVisits

from ..conftest import CONTENT
from ..factories import make_record, make_registration, set_now


@pytest.fixture
def flask_calls(app, monkeypatch) -> list[str]:
    """The requests that reached Flask behind PlainVisits."""
    front = app.wsgi_app
    assert isinstance(front, PlainVisits)
    calls: list[str] = []
    behind = front.wsgi_app

    def counted(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return behind(environ, start_response)

    monkeypatch.setattr(front, "wsgi_app", counted)
    monkeypatch.setattr(queries.time, "monotonic", lambda: 1000.0)  # the second never ends
    return calls


def headers_of(response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")


def test_a_second_plain_visit_gets_flasks_answer_again(app, client, event, flask_calls):
    first = client.get(event.url)
    second = client.get(event.url)
    assert flask_calls == [event.url]
    assert second.status_code == 200 and second.data == first.data
    assert headers_of(second) == headers_of(first)
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert len(second.headers["X-Request-ID"]) == 32


def test_the_request_id_of_the_proxy_is_kept(client, event, flask_calls):
    client.get(event.url)
    response = client.get(event.url, headers={"X-Request-ID": "proxy-12345678"})
    assert response.headers["X-Request-ID"] == "proxy-12345678"
    assert len(flask_calls) == 1


def test_an_answer_from_the_front_is_logged_as_flask_logs_it(make_app, event, capsys):
    app = make_app(LOG_FORMAT="json", LOG_LEVEL="INFO")
    client = app.test_client()
    capsys.readouterr()
    for _ in range(2):
        client.get(event.url, headers={"X-Request-ID": "proxy-12345678"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    requests = [line for line in lines if line["logger"] == "registration.request"]
    assert len(requests) == 2
    for line in requests:
        del line["time"], line["duration_ms"]
    assert (
        requests[0]
        == requests[1]
        == {
            "level": "INFO",
            "logger": "registration.request",
            "message": "GET /agenda/<slug>/ 200",
            "request_id": "proxy-12345678",
            "method": "GET",
            "route": "/agenda/<slug>/",
            "status": 200,
            "slug": event.slug,
        }
    )


def test_a_write_of_this_process_makes_a_new_answer(app, client, event, flask_calls):
    make_record(app, event, capacity=2)
    assert "2 places restantes." in client.get(event.url).get_data(as_text=True)
    make_registration(app, event, Status.CONFIRMED)
    assert "1 place restante." in client.get(event.url).get_data(as_text=True)
    assert len(flask_calls) == 2


def test_after_a_second_the_seats_are_read_again(app, client, event, flask_calls, monkeypatch):
    client.get(event.url)
    client.get(event.url)
    monkeypatch.setattr(queries.time, "monotonic", lambda: 1001.5)
    client.get(event.url)
    assert len(flask_calls) == 2


def test_a_new_simulated_date_makes_a_new_answer(app, client, event, flask_calls):
    client.get(event.url)
    set_now(app, "2023-06-12T18:00:00+02:00")  # past the deadline
    assert "Inscriptions closes" in client.get(event.url).get_data(as_text=True)
    assert len(flask_calls) == 2


def test_an_edited_file_makes_a_new_answer(make_app, tmp_path, event, monkeypatch):
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    app = make_app(CONTENT_DIR=str(folder))
    monkeypatch.setattr(queries.time, "monotonic", lambda: 1000.0)
    client = app.test_client()
    assert "<h1>Atelier des communs numériques</h1>" in client.get(event.url).get_data(True)
    (path,) = (folder / "agenda").glob(f"*{event.slug}.md")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Atelier des communs numériques", "Atelier neuf", 1), "utf-8")
    assert "<h1>Atelier neuf</h1>" in client.get(event.url).get_data(as_text=True)


@pytest.mark.parametrize(
    "ask",
    [
        lambda c, url: c.set_cookie("autre", "1") or c.get(url),
        lambda c, url: c.get(url + "?source=lettre"),
        lambda c, url: c.head(url),
        lambda c, url: c.get(url, headers={"Host": "ailleurs.example"}),
    ],
    ids=["cookie", "query", "head", "other-host"],
)
def test_other_requests_go_to_flask(client, event, flask_calls, ask):
    client.get(event.url)
    response = ask(client, event.url)
    assert response.status_code == 200
    assert len(flask_calls) == 2


def test_only_a_plain_visits_page_is_kept(client, event, flask_calls):
    for _ in range(2):
        assert client.get("/agenda/nulle-part/").status_code == 404
        assert client.get("/agenda/").status_code == 200
        assert client.get("/a-propos/").status_code == 200
    assert len(flask_calls) == 6


def test_a_signed_in_visit_is_never_answered_from_the_front(app, client, event, flask_calls):
    from ..factories import signed_in_client

    client.get(event.url)
    staff = signed_in_client(app, "orga@numerique.gouv.fr", "organiser")
    calls = len(flask_calls)
    assert "Se déconnecter" in staff.get(event.url).get_data(as_text=True)
    assert len(flask_calls) == calls + 1


def test_the_answers_kept_are_bounded(client, event, flask_calls):
    for n in range(MAX_ANSWERS + 5):
        client.get(event.url, headers={"Host": f"h{n}.example"})
    assert len(client.application.wsgi_app.answers) <= MAX_ANSWERS


def test_in_development_templates_are_read_again_and_nothing_is_kept(make_app, event):
    app = make_app(TEMPLATES_AUTO_RELOAD=True)
    client = app.test_client()
    for _ in range(2):
        assert client.get(event.url).status_code == 200
    assert app.wsgi_app.answers == {}


def test_a_draft_shown_by_the_setting_is_hidden_again_with_it(make_app, tmp_path, event):
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    (path,) = (folder / "agenda").glob(f"*{event.slug}.md")
    path.write_text(
        path.read_text("utf-8").replace("published: true", "published: false", 1), "utf-8"
    )
    app = make_app(CONTENT_DIR=str(folder), SHOW_UNPUBLISHED=True)
    client = app.test_client()
    assert client.get(event.url).status_code == 200
    app.config["SHOW_UNPUBLISHED"] = False
    assert client.get(event.url).status_code == 404
