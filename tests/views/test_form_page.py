"""The empty registration form kept once per version of what it shows, each request's own
CSRF token spliced in: the same bytes as a page rendered in full, and only for a plain GET."""

from __future__ import annotations

import re

import pytest
from flask import g

from registration.forms import registration_form
from registration.registrations import queries
from registration.views import form_page

from ..factories import form_data, make_record, make_user, register_url, registrations

TOKEN = re.compile(r'(name="csrf_token" type="hidden" value=")([^"]+)(")')


@pytest.fixture
def app(make_app):
    return make_app(WTF_CSRF_ENABLED=True)


def without_token(html: str) -> str:
    found = TOKEN.findall(html)
    assert len(found) == 1, found
    return TOKEN.sub(r"\1TOKEN\3", html)


def rendered_in_full(app, event) -> str:
    with app.test_request_context(register_url(event)):
        g.event = event
        return form_page.render(event, queries.availability(event), registration_form(event))


def test_the_kept_page_is_the_page_rendered_in_full_but_for_its_token(app, client, event):
    first = client.get(register_url(event))
    again = app.test_client().get(register_url(event))
    assert first.status_code == again.status_code == 200
    assert app.extensions[form_page._CACHE]  # the second one came from the kept parts
    assert TOKEN.search(first.text)[2] != TOKEN.search(again.text)[2]
    assert without_token(first.text) == without_token(again.text)
    assert without_token(again.text) == without_token(rendered_in_full(app, event))
    assert form_page.MARK not in again.text
    # Each visitor gets a session holding the token's secret, as from a page rendered in full.
    assert "session=" in again.headers["Set-Cookie"]
    assert first.headers["Vary"] == again.headers["Vary"] == "Cookie"


def test_the_token_of_a_kept_page_is_accepted(app, event):
    app.test_client().get(register_url(event))  # the page is kept now
    client = app.test_client()
    page = client.get(register_url(event))
    token = TOKEN.search(page.text)[2]
    response = client.post(register_url(event), data=form_data(csrf_token=token))
    assert response.status_code == 302
    assert [r.email for r in registrations(app)] == ["camille.durand@numerique.gouv.fr"]


def test_a_token_from_another_session_is_refused(app, event):
    token = TOKEN.search(app.test_client().get(register_url(event)).text)[2]
    client = app.test_client()
    client.get(register_url(event))
    response = client.post(register_url(event), data=form_data(csrf_token=token))
    assert response.status_code == 400
    assert registrations(app) == []


def test_a_new_state_gets_a_page_of_its_own(app, client, event):
    assert "S’inscrire</button>" in client.get(register_url(event)).text
    make_record(app, event, capacity=1, taken=1)
    page = client.get(register_url(event)).text
    assert "Rejoindre la liste d’attente</button>" in page
    assert without_token(page) == without_token(rendered_in_full(app, event))


def test_the_number_of_seats_left_alone_renders_nothing_again(app, client, event, monkeypatch):
    make_record(app, event, capacity=10, taken=1)
    client.get(register_url(event))
    make_record(app, event, capacity=10, taken=2)

    def no_render(*args: object) -> list[str]:
        raise AssertionError("rendered again")

    monkeypatch.setattr(form_page, "_render_parts", no_render)
    assert client.get(register_url(event)).status_code == 200


def test_a_closed_registration_gives_no_token_and_no_session(app, client, event):
    make_record(app, event, is_open=False)
    for _ in range(2):
        response = client.get(register_url(event))
        assert "Inscriptions closes" in response.text
        assert "csrf_token" not in response.text
        assert "Set-Cookie" not in response.headers
        assert response.headers["Vary"] == "Cookie"  # as on the page rendered in full


@pytest.mark.parametrize(
    "session_key, value",
    [
        ("_flashes", [("error", "Votre formulaire a expiré.")]),
        ("proconnect", {"email": "camille.durand@numerique.gouv.fr"}),
        ("proconnect_id_token", "en-tete.charge.signature"),  # « Se déconnecter de ProConnect »
        ("registered_email", "camille.durand@numerique.gouv.fr"),
    ],
)
def test_a_session_with_anything_else_renders_the_page_in_full(
    app, client, event, monkeypatch, session_key, value
):
    client.get(register_url(event))  # a kept page exists
    with client.session_transaction() as session:
        session[session_key] = value

    def no_cache(*args: object) -> str:
        raise AssertionError("the kept page was used")

    monkeypatch.setattr(form_page, "page", no_cache)
    response = client.get(register_url(event))
    assert response.status_code == 200
    if session_key == "_flashes":
        assert "Votre formulaire a expiré." in response.text


def test_a_query_string_or_a_remember_me_cookie_renders_the_page_in_full(
    app, client, event, monkeypatch
):
    def no_cache(*args: object) -> str:
        raise AssertionError("the kept page was used")

    monkeypatch.setattr(form_page, "page", no_cache)
    assert client.get(register_url(event) + "?source=lettre").status_code == 200
    client.set_cookie("remember_token", "1|abc")
    assert client.get(register_url(event)).status_code == 200


def test_a_signed_in_organiser_sees_their_own_header(app, client, event):
    app.test_client().get(register_url(event))  # an anonymous page is kept
    user = make_user(app, "orga@numerique.gouv.fr")
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    page = client.get(register_url(event)).text
    assert "Se déconnecter" in page
