"""Hardened HTTP (registration/http.py): security headers, request size, NUL bytes, page
numbers, the French error pages, and the forms shown again after a CSRF or rate-limit refusal.
"""

from __future__ import annotations

import html
import re

import pytest
from flask import abort

from registration import config as settings
from registration import create_app, http, links
from registration.models import Status

from ..conftest import WITH_QUESTIONS, base_config
from ..factories import (
    PASSWORD,
    form_data,
    make_registration,
    make_user,
    register_url,
    registrations,
    sign_in,
)

BASE = f"/organisation/{WITH_QUESTIONS}"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/inscriptions"


def text_of(response) -> str:
    return response.get_data(as_text=True)


def csp_directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in policy.split("; ")}


def value_of(text: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', text)
    assert match, f"no value for {name}"
    return match.group(1)


# --- Headers --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/agenda/atelier-des-communs/", "/nulle-part/", "/connexion"])
def test_every_page_carries_a_strict_content_security_policy(client, path):
    response = client.get(path)
    directives = csp_directives(response)
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["form-action"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in permissions


def test_no_page_has_an_inline_script_or_style(app, organiser_client, event):
    make_registration(app, event, Status.CONFIRMED)
    pages = [
        organiser_client.get(path)
        for path in (f"{BASE}/", f"{BASE}/inscrits", f"{BASE}/emargement", event.url)
    ]
    for response in pages:
        text = text_of(response)
        assert "<style" not in text
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, response.request.path
        assert re.search(r"\son[a-z]+=", text) is None and " style=" not in text


def test_hsts_only_in_production(make_app):
    assert "Strict-Transport-Security" not in make_app().test_client().get("/connexion").headers
    production = make_app(APP_ENV="production").test_client().get("/connexion")
    assert production.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


@pytest.mark.parametrize(
    "path",
    [
        "/connexion",
        "/organisation/",
        f"{BASE}/",
        f"{BASE}/inscrits",
        f"{BASE}/export.csv",
        f"{BASE}/export.xlsx",
        f"{BASE}/emargement",
        "/administration/journal",
        "/administration/comptes",
        f"/administration/{WITH_QUESTIONS}/",
    ],
)
def test_back_office_pages_and_exports_are_never_stored(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_a_redirect_to_sign_in_is_not_stored_either(client):
    response = client.get(f"{BASE}/export.csv")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"


def test_the_agents_own_pages_are_never_stored(app, client, event):
    registration = make_registration(app, event, Status.PENDING)
    with app.app_context():
        manage = f"/agenda/{event.slug}/mon-inscription/{links.manage_token(registration)}"
        confirm = f"/agenda/{event.slug}/inscription/confirmer/{links.confirm_token(registration)}"
    for path in (manage, manage + "/annuler", confirm, f"/agenda/{event.slug}/inscription/envoyee"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    # The public pages may be kept: they carry nothing personal.
    assert "no-store" not in client.get(event.url).headers.get("Cache-Control", "")


# --- Request size ---------------------------------------------------------------------------


def test_the_size_limits_default_to_a_small_form_and_read_the_environment():
    defaults = settings.load({"APP_ENV": "test"})
    assert defaults["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert defaults["MAX_FORM_MEMORY_SIZE"] == 64 * 1024
    assert defaults["MAX_FORM_PARTS"] == 200
    chosen = settings.load(
        {"APP_ENV": "test", "MAX_CONTENT_LENGTH": "5000", "MAX_FORM_MEMORY_SIZE": "100"}
    )
    assert (chosen["MAX_CONTENT_LENGTH"], chosen["MAX_FORM_MEMORY_SIZE"]) == (5000, 100)


def test_a_ten_megabyte_field_answers_a_french_413_and_is_not_echoed(app, client, event):
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    huge = "A" * (10 * 1024 * 1024)
    response = client.post(register_url(event), data=form_data(employer=huge))
    assert response.status_code == 413
    text = text_of(response)
    assert "Envoi trop volumineux" in text and "Erreur 413" in text
    assert "AAAAAAAAAA" not in text
    assert registrations(app) == []


def test_the_size_limits_are_settings(make_app, event):
    app = make_app(MAX_CONTENT_LENGTH=2000, MAX_FORM_MEMORY_SIZE=500)
    client = app.test_client()
    assert client.post(register_url(event), data=form_data()).status_code == 302
    too_long = client.post(register_url(event), data=form_data(employer="D" * 3000))
    assert too_long.status_code == 413
    # A multipart text part above MAX_FORM_MEMORY_SIZE, the whole body under the limit.
    part = client.post(
        register_url(event),
        data=form_data(employer="D" * 800),
        content_type="multipart/form-data",
    )
    assert part.status_code == 413


# --- Bad input: 400, never 500 --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/inscrits?q=%00",
        f"{BASE}/inscrits?q=durand%00",
        f"{BASE}/export.csv?q=%00",
        f"{BASE}/export.xlsx?q=%00",
        f"{BASE}/inscrits/%00",
        f"{BASE}/inscrits?statut=confirmed&%00=1",
        "/agenda/%00/",
    ],
)
def test_a_nul_byte_in_the_url_answers_400(organiser_client, path):
    response = organiser_client.get(path)
    assert response.status_code == 400
    assert "Requête invalide" in text_of(response)


def test_a_nul_byte_in_the_sign_in_email_answers_400(app, client):
    make_user(app, "orga@numerique.gouv.fr")
    response = sign_in(client, "orga\x00@numerique.gouv.fr")
    assert response.status_code == 400
    assert "Requête invalide" in text_of(response)
    assert sign_in(client, "orga@numerique.gouv.fr").status_code == 302


def test_a_nul_byte_in_the_registration_form_answers_400(app, client, event):
    response = client.post(register_url(event), data=form_data(employer="DI\x00NUM"))
    assert response.status_code == 400 and registrations(app) == []


@pytest.mark.parametrize("number", ["99999999999999999999", "100001", "3", "9" * 5000])
def test_a_page_past_the_end_shows_the_last_page(app, organiser_client, event, number):
    for i in range(60):
        make_registration(app, event, Status.CONFIRMED, last_name=f"Nom{i:02d}")
    response = organiser_client.get(f"{BASE}/inscrits?page={number}")
    assert response.status_code == 200
    text = text_of(response)
    assert 'aria-current="page" title="Page 2"' in text
    assert "Nom59" in text and "Nom00" not in text


@pytest.mark.parametrize("number", ["abc", "-3", "0", "", "1.5"])
def test_an_unreadable_page_number_shows_the_first_page(app, organiser_client, event, number):
    for i in range(60):
        make_registration(app, event, Status.CONFIRMED, last_name=f"Nom{i:02d}")
    response = organiser_client.get(f"{BASE}/inscrits?page={number}")
    assert response.status_code == 200
    text = text_of(response)
    assert 'aria-current="page" title="Page 1"' in text and "Nom00" in text


@pytest.mark.parametrize("number", ["99999999999999999999", "-1", "x"])
def test_the_audit_log_survives_any_page_number(admin_client, number):
    response = admin_client.get(f"/administration/journal?page={number}")
    assert response.status_code == 200
    assert 'id="journal"' in text_of(response)


def test_the_audit_log_past_its_end_shows_its_last_page(app, admin_client, event):
    admin_client.get(f"{BASE}/export.csv")  # one entry: « export »
    response = admin_client.get("/administration/journal?page=99999999999999999999")
    assert response.status_code == 200
    assert "Export CSV" in text_of(response).split('id="journal"')[1]


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/administration/comptes/{}/desactiver", 404),
        ("/organisation/courriels/{}/renvoyer", 302),  # back to the list, nothing retried
    ],
)
def test_an_id_out_of_range_is_never_a_500(admin_client, path, unknown):
    # Past a 64-bit integer: no route takes it (SQLite raised OverflowError on binding it).
    assert admin_client.post(path.format("9" * 20)).status_code == 404
    # Past a 32-bit INTEGER: the keys are BIGINT, the row is simply unknown.
    assert admin_client.post(path.format(3_000_000_000)).status_code == unknown


# --- Error pages ----------------------------------------------------------------------------

TITLES = {
    400: "Requête invalide",
    403: "Accès refusé",
    404: "Page non trouvée",
    405: "Méthode non autorisée",
    413: "Envoi trop volumineux",
    429: "Trop de demandes",
    500: "Erreur inattendue",
}


@pytest.mark.parametrize("code", sorted(TITLES))
def test_each_error_is_a_french_dsfr_page_with_a_way_back_and_a_contact(make_app, code):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def fail() -> str:
        if code == 500:
            raise RuntimeError("boom")
        abort(code)

    app.add_url_rule("/essai-erreur", view_func=fail)
    response = app.test_client().get("/essai-erreur")
    assert response.status_code == code
    text = text_of(response)
    assert f"<title>{TITLES[code]} – Erreur {code} – Inscriptions" in text
    assert f"<h1>{TITLES[code]}</h1>" in text and f"Erreur {code}</p>" in text
    assert 'class="fr-header"' in text and 'class="fr-footer"' in text
    assert '<a class="fr-btn" href="/">Page d’accueil</a>' in text
    assert 'href="mailto:contact@example.gouv.fr"' in text
    assert "artwork/pictograms/system/" in text
    assert "boom" not in text


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("get", "/nulle-part/", 404),
        ("post", "/agenda/", 405),
        ("get", "/agenda/x/?q=%00", 400),
        ("get", f"/administration/{WITH_QUESTIONS}/", 403),
    ],
)
def test_real_errors_reach_their_pages(organiser_client, method, path, code):
    response = getattr(organiser_client, method)(path)
    assert response.status_code == code
    assert f"<h1>{TITLES[code]}</h1>" in text_of(response)


def test_the_403_page_leads_back_to_the_organisers_space(organiser_client):
    text = text_of(organiser_client.get(f"/administration/{WITH_QUESTIONS}/"))
    assert 'href="/organisation/">Espace organisateur</a>' in text.split('id="sorties"')[1]


# --- Database down: 503 ---------------------------------------------------------------------


@pytest.fixture
def unreachable_app(tmp_path):
    """The app pointed at a PostgreSQL server that is not there (port 1 refuses at once)."""
    return create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=UNREACHABLE))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/agenda/atelier-des-communs/"),
        ("get", "/agenda/atelier-des-communs/inscription"),
        ("post", "/agenda/atelier-des-communs/inscription"),
        ("post", "/connexion"),
    ],
)
def test_a_database_outage_is_a_french_503_page(unreachable_app, method, path):
    client = unreachable_app.test_client()
    response = getattr(client, method)(path, data=form_data(password=PASSWORD))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(http.RETRY_AFTER_SECONDS)
    text = text_of(response)
    assert "<h1>Service indisponible</h1>" in text and "Erreur 503" in text
    assert 'href="mailto:contact@example.gouv.fr"' in text


def test_the_503_page_reads_no_database_even_for_a_signed_in_organiser(unreachable_app):
    client = unreachable_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:0"  # loading this user would need the database
        session["_fresh"] = True
    response = client.get(f"{BASE}/")
    assert response.status_code == 503
    text = text_of(response)
    assert "<h1>Service indisponible</h1>" in text
    assert "Se déconnecter" not in text  # nobody is shown as signed in


# --- The form again, after a CSRF or rate-limit refusal -------------------------------------


def focused_message(text: str) -> str:
    """The one message static/focus.js moves the focus to, as after a failed submit."""
    found = re.findall(r"<div [^>]*data-app-focus[^>]*>\s*<p>(.*?)</p>", text, re.S)
    assert len(found) == 1, found
    return html.unescape(found[0])


def test_an_expired_csrf_token_shows_the_registration_form_again_with_its_values(make_app, event):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()  # no session cookie: as when the session has expired
    data = form_data(
        job_title="Cheffe de projet numérique", q_sujets=["Financement"], csrf_token="périmé"
    )
    response = client.post(register_url(event), data=data)
    assert response.status_code == 400 and registrations(app) == []
    text = text_of(response)
    assert "Votre session a expiré" in text
    assert focused_message(text).startswith("Votre session a expiré")
    assert 'id="formulaire-inscription"' in text
    assert value_of(text, "first_name") == "Camille"
    assert value_of(text, "email") == "camille.durand@numerique.gouv.fr"
    assert value_of(text, "job_title") == "Cheffe de projet numérique"
    assert re.search(r'<input[^>]*checked[^>]*value="Financement"', text) or re.search(
        r'<input[^>]*value="Financement"[^>]*checked', text
    )
    # The page carries a fresh token, which the next post uses: the form goes through.
    token = value_of(text, "csrf_token")
    assert token != "périmé"
    again = client.post(register_url(event), data={**data, "csrf_token": token})
    assert again.status_code == 302 and len(registrations(app)) == 1


def test_a_429_shows_the_registration_form_again_with_its_values(make_app, event):
    app = make_app(RATELIMIT_ENABLED=True, REGISTRATION_RATE_LIMIT="1 per minute")
    client = app.test_client()
    assert client.post(register_url(event), data=form_data()).status_code == 302
    data = form_data(email="zoe@interieur.gouv.fr", first_name="Zoé")
    response = client.post(register_url(event), data=data)
    assert response.status_code == 429
    text = text_of(response)
    assert focused_message(text).startswith("Trop de demandes en peu de temps")
    assert value_of(text, "first_name") == "Zoé"
    assert value_of(text, "email") == "zoe@interieur.gouv.fr"
    assert len(registrations(app)) == 1


def test_an_expired_csrf_token_shows_the_sign_in_form_again_without_the_password(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post(
        "/connexion", data={"email": "orga@numerique.gouv.fr", "password": "secret-très-long"}
    )
    assert response.status_code == 400
    text = text_of(response)
    assert focused_message(text).startswith("Votre session a expiré")
    assert "focus.js" in text
    assert value_of(text, "email") == "orga@numerique.gouv.fr"
    assert "secret-très-long" not in text
    assert value_of(text, "csrf_token")


def test_a_429_shows_the_sign_in_form_again_without_the_password(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="1 per minute")
    client = app.test_client()
    form = {"email": "orga@numerique.gouv.fr", "password": "mauvais-mot-de-passe"}
    assert client.post("/connexion", data=form).status_code == 200
    response = client.post("/connexion", data=form)
    assert response.status_code == 429
    text = text_of(response)
    assert "Trop de demandes en peu de temps" in text
    assert value_of(text, "email") == "orga@numerique.gouv.fr"
    assert "mauvais-mot-de-passe" not in text


def test_a_csrf_failure_elsewhere_is_the_400_page(make_app, event):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/deconnexion")
    assert response.status_code == 400
    assert "<h1>Requête invalide</h1>" in text_of(response)
