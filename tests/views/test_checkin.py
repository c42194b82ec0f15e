"""Check-in pages (registration.views.checkin): the Accueil page and its JSON endpoints,
the ticket, the code on the manage page and in the e-mails, arrivals on the dashboard and
the sign-in sheet."""

from __future__ import annotations

import html
import re

import pytest

from registration import links
from registration.backoffice import api as backoffice
from registration.checkin import codes
from registration.models import Status

from ..checkin.qr import decode, png_pixels, svg_modules
from ..factories import make_record, make_registration, make_user, registrations
from ..test_mail import deliver, html_of, queue, text_of

SLUG = "atelier-des-communs"
BASE = f"/organisation/{SLUG}"
ACCUEIL = f"{BASE}/accueil"


def code_of(app, registration, slug=SLUG) -> str:
    with app.app_context():
        return codes.checkin_code(registration.public_id, slug)


def qr_on(page: str) -> str | None:
    """The text of the page's one QR code (an SVG data URI), as a scanner reads it."""
    [qr] = re.findall(r'src="(data:image/svg\+xml,[^"]*)"', page)
    return decode(svg_modules(html.unescape(qr)))


def manage_path(app, registration, slug=SLUG) -> str:
    with app.app_context():
        return f"/agenda/{slug}/mon-inscription/{links.manage_token(registration)}"


# --- The Accueil page -------------------------------------------------------------------------


def test_the_accueil_page_needs_a_signed_in_account(client):
    response = client.get(ACCUEIL)
    assert response.status_code == 302 and "/connexion" in response.location
    answer = client.post(f"{ACCUEIL}/arrivees", json={"code": "x"})
    assert answer.status_code == 401
    assert "reconnectez-vous" in answer.get_json()["error"]


def test_the_accueil_page_may_use_the_camera_and_is_never_kept(app, organiser_client, event):
    make_registration(app, event)
    response = organiser_client.get(ACCUEIL)
    assert response.status_code == 200
    assert "camera=(self)" in response.headers["Permissions-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "0 arrivée sur 1 inscription confirmée (0&nbsp;%)" in page
    assert 'src="/static/checkin.js"' in page
    assert 'data-jsqr-url="/static/jsqr/jsQR.js"' in page
    assert f'data-arrivals-url="{BASE}/arrivees"' in page  # the count follows the other doors
    # Every other page keeps the camera off.
    dashboard = organiser_client.get(f"{BASE}/")
    assert "camera=()" in dashboard.headers["Permissions-Policy"]
    assert f'href="{ACCUEIL}"' in dashboard.get_data(as_text=True)


def test_jsqr_is_served_from_node_modules(client):
    response = client.get("/static/jsqr/jsQR.js")
    assert response.status_code == 200
    assert b"jsQR" in response.data
    response.close()


def test_a_scan_answers_green_then_already(app, organiser_client, event):
    registration = make_registration(app, event, first_name="Camille", last_name="Durand")
    code = code_of(app, registration)
    first = organiser_client.post(f"{ACCUEIL}/arrivees", json={"code": code, "scan": "s1"})
    assert first.status_code == 200
    data = first.get_json()
    assert data["ok"] is True and data["outcome"] == "arrived"
    assert data["name"] == "Camille Durand" and data["status"] == "Confirmée"
    assert data["scan"] == "s1"
    assert data["arrivals"] == {"arrived": 1, "confirmed": 1, "share": 100}
    again = organiser_client.post(f"{ACCUEIL}/arrivees", json={"code": code}).get_json()
    assert again["ok"] is False and again["outcome"] == "already"
    assert again["message"] == "Déjà enregistré à 10h00 par orga@numerique.gouv.fr."
    assert again["checked_in"] is True  # the undo button shows


@pytest.mark.parametrize("body", [None, [], {"code": ""}, {"code": 3}, {"id": "x" * 33}])
def test_a_request_without_code_nor_registration_is_refused(organiser_client, body):
    response = organiser_client.post(f"{ACCUEIL}/arrivees", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]


# What a camera may read at the door besides our codes: a vCard, a long address, bytes.
VCARD = "BEGIN:VCARD\nVERSION:3.0\nN:Durand;Camille\nEMAIL:camille@example.org\n" * 8 + "END:VCARD"


@pytest.mark.parametrize(
    "code", ["faux.code", "x" * 401, VCARD, "https://example.org/" + "a" * 500, "abc\x00def"]
)
def test_a_forged_long_or_malformed_code_is_red(organiser_client, code):
    response = organiser_client.post(f"{ACCUEIL}/arrivees", json={"code": code, "scan": "s1"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["ok"] is False and data["title"] == "Code non reconnu"
    assert data["scan"] == "s1"


@pytest.mark.parametrize("field", ["id", "at"])
def test_a_nul_byte_in_the_json_is_refused(app, organiser_client, event, field):
    registration = make_registration(app, event)
    body = {"id": registration.public_id, "at": "2023-05-20T07:55:00.000Z"}
    body[field] = body[field][:5] + "\x00" + body[field][5:]
    response = organiser_client.post(f"{ACCUEIL}/arrivees", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Caractère nul dans la requête."
    assert registrations(app)[0].checked_in_at is None


def test_an_offline_scan_keeps_its_time(app, organiser_client, event):
    registration = make_registration(app, event)
    organiser_client.post(
        f"{ACCUEIL}/arrivees",
        json={"id": registration.public_id, "at": "2023-05-20T07:55:00.000Z"},
    )
    [row] = registrations(app)
    assert row.checked_in_at.isoformat() == "2023-05-20T07:55:00+00:00"


def test_undo_clears_the_arrival(app, organiser_client, event):
    registration = make_registration(app, event, first_name="Camille", last_name="Durand")
    organiser_client.post(f"{ACCUEIL}/arrivees", json={"id": registration.public_id})
    undo = f"{ACCUEIL}/arrivees/{registration.public_id}/annuler"
    response = organiser_client.post(undo)
    assert response.status_code == 200
    assert response.get_json()["message"] == "Arrivée de Camille Durand annulée."
    assert response.get_json()["arrivals"]["arrived"] == 0
    assert registrations(app)[0].checked_in_at is None
    again = organiser_client.post(undo)
    assert again.status_code == 409
    assert again.get_json()["error"] == "Aucune arrivée à annuler pour cette inscription."


def test_the_search_finds_people_by_name_with_their_status(app, organiser_client, event):
    make_registration(app, event, first_name="Camille", last_name="Durand")
    make_registration(app, event, Status.CANCELLED, first_name="Claude", last_name="Durand")
    make_registration(app, event, first_name="Zoé", last_name="Martin")
    results = organiser_client.get(f"{ACCUEIL}/recherche?q=durand").get_json()["results"]
    assert [(r["name"], r["status"], r["confirmed"]) for r in results] == [
        ("Camille Durand", "Confirmée", True),
        ("Claude Durand", "Annulée", False),
    ]
    assert organiser_client.get(f"{ACCUEIL}/recherche?q=").get_json()["results"] == []


def test_the_json_endpoints_want_the_csrf_header(make_app, event):
    app = make_app(WTF_CSRF_ENABLED=True)
    registration = make_registration(app, event)
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    client.post(
        "/connexion",
        data={
            "email": "orga@numerique.gouv.fr",
            "password": "un mot de passe solide",
            "csrf_token": token,
        },
    )
    page = client.get(ACCUEIL).get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)[1]
    body = {"id": registration.public_id}
    refused = client.post(f"{ACCUEIL}/arrivees", json=body)
    assert refused.status_code == 400 and refused.get_json()["reload"] is True
    accepted = client.post(f"{ACCUEIL}/arrivees", json=body, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.get_json()["ok"] is True


# --- Arrivals where the organiser looks -------------------------------------------------------


def test_the_dashboard_shows_the_arrivals_and_their_share(app, organiser_client, event):
    people = [make_registration(app, event) for _ in range(3)]
    make_registration(app, event, Status.PENDING)
    organiser_client.post(f"{ACCUEIL}/arrivees", json={"id": people[0].public_id})
    page = organiser_client.get(f"{BASE}/").get_data(as_text=True)
    assert "1 arrivée sur 3 inscriptions confirmées (33&nbsp;%)" in page
    assert f'data-arrivals-url="{BASE}/arrivees"' in page
    assert organiser_client.get(f"{BASE}/arrivees").get_json() == {
        "arrived": 1,
        "confirmed": 3,
        "share": 33,
    }


def test_the_sign_in_sheet_marks_who_arrived(app, organiser_client, event):
    here = make_registration(app, event, last_name="Arrivée")
    make_registration(app, event, last_name="Absente")
    organiser_client.post(f"{ACCUEIL}/arrivees", json={"id": here.public_id})
    page = organiser_client.get(f"{BASE}/emargement").get_data(as_text=True)
    assert '<th scope="col">Arrivée</th>' in page
    rows = re.findall(r"<tr><td>(\w+)</td>.*?<td class=\"app-arrival\">([^<]*)</td>", page)
    assert rows == [("Absente", ""), ("Arrivée", "✓ 10h00")]


# --- The code on the attendee's pages ---------------------------------------------------------


def test_the_manage_page_shows_the_code_of_a_confirmed_registration(app, client, event):
    registration = make_registration(app, event)
    page = client.get(manage_path(app, registration)).get_data(as_text=True)
    assert 'id="code-accueil"' in page
    assert qr_on(page) == code_of(app, registration)
    assert f"Code : {code_of(app, registration)}</p>" in page  # for who cannot show an image
    assert f"{manage_path(app, registration)}/billet" in page


@pytest.mark.parametrize("status", [Status.PENDING, Status.WAITLISTED, Status.CANCELLED])
def test_no_code_before_a_seat_nor_after_cancelling(app, client, event, status):
    registration = make_registration(app, event, status)
    page = client.get(manage_path(app, registration)).get_data(as_text=True)
    assert 'id="code-accueil"' not in page
    ticket = client.get(f"{manage_path(app, registration)}/billet").get_data(as_text=True)
    assert 'id="pas-de-billet"' in ticket and "data:image" not in ticket


def test_the_ticket_has_the_event_the_name_and_the_code(app, client, event):
    registration = make_registration(app, event, first_name="Camille", last_name="Durand")
    response = client.get(f"{manage_path(app, registration)}/billet")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert event.title in page and event.place in page
    assert "jeudi 15 juin 2023 à 09h30" in page
    assert "Camille Durand" in page
    assert 'alt="QR code d’accueil de Camille Durand"' in page
    assert code_of(app, registration) in page
    assert qr_on(page) == code_of(app, registration)
    assert client.get(f"/agenda/{SLUG}/mon-inscription/faux/billet").status_code == 404


def test_a_registration_moved_up_from_the_waiting_list_gets_its_code(app, client, event):
    make_record(app, event, capacity=1)
    make_registration(app, event)
    waiting = make_registration(app, event, Status.WAITLISTED)
    assert 'id="code-accueil"' not in client.get(manage_path(app, waiting)).get_data(True)
    with app.test_request_context():
        backoffice.change_capacity(event, "admin@numerique.gouv.fr", 2)
    assert registrations(app)[1].status == Status.CONFIRMED
    assert 'id="code-accueil"' in client.get(manage_path(app, waiting)).get_data(True)


# --- The code in the e-mails ------------------------------------------------------------------


@pytest.fixture
def mail_app(make_app, smtp_config):
    return make_app(**smtp_config)


def test_the_confirmation_email_carries_the_code_inline_with_a_text_fallback(mail_app, smtp, event):
    [registration] = queue(mail_app, event, "confirmed")
    deliver(mail_app)
    [message] = smtp.messages
    code = code_of(mail_app, registration)
    [image] = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert decode(png_pixels(image.get_content())) == code
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_of(message)
    assert image.get_content_disposition() == "inline"
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    text = text_of(message)
    assert f"à présenter à l’entrée : {code}" in text
    assert f"{manage_path(mail_app, registration)}/billet" in text
    assert [p.get_content_type() for p in message.iter_attachments()] == ["text/calendar"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [("confirm_address", Status.PENDING), ("waitlisted", Status.WAITLISTED)],
)
def test_messages_without_a_seat_carry_no_code(mail_app, smtp, event, kind, status):
    queue(mail_app, event, kind, status=status)
    deliver(mail_app)
    [message] = smtp.messages
    assert not [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert "Votre code pour l’accueil" not in text_of(message)
