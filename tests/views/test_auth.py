"""Sign-in and sign-out (registration.views.auth): cookies, rate limits, redirects, and
access control route by route."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from registration import accounts
from registration.config import load

from ..factories import PASSWORD, make_user, sign_in

SLUG = "atelier-des-communs"
GENERIC = "Adresse e-mail ou mot de passe incorrect."


def test_sign_in_and_out(app):
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    assert client.get("/connexion").status_code == 200
    response = sign_in(client, "Orga@Numerique.gouv.fr ")
    assert response.status_code == 302 and response.headers["Location"] == "/organisation/"
    assert client.get("/organisation/").status_code == 200
    client.get("/deconnexion", follow_redirects=True)  # sign-out is a POST: a GET does nothing
    assert client.get("/organisation/").status_code == 200
    response = client.post("/deconnexion")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/organisation/").status_code == 302


def test_signing_in_records_the_time(app):
    make_user(app, "orga@numerique.gouv.fr")
    sign_in(app.test_client(), "orga@numerique.gouv.fr")
    with app.app_context():
        assert accounts.find("orga@numerique.gouv.fr").last_sign_in_at == app.config["FROZEN_NOW"]


def test_sign_out_needs_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert client.post("/deconnexion").status_code == 400


def test_sign_in_needs_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    make_user(app, "orga@numerique.gouv.fr")
    response = sign_in(app.test_client(), "orga@numerique.gouv.fr")
    assert response.status_code != 302


@pytest.mark.parametrize(
    ("email", "password"),
    [("orga@numerique.gouv.fr", "mauvais mot de passe"), ("inconnu@numerique.gouv.fr", PASSWORD)],
)
def test_the_error_never_says_whether_the_email_exists(app, email, password):
    make_user(app, "orga@numerique.gouv.fr")
    response = sign_in(app.test_client(), email, password)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert GENERIC in text and "inconnu" not in text.split("<form")[0].split("</h1>")[-1]


def test_a_disabled_account_cannot_sign_in(app):
    make_user(app, "orga@numerique.gouv.fr")
    with app.app_context():
        accounts.set_active(accounts.find("orga@numerique.gouv.fr"), False)
    assert GENERIC in sign_in(app.test_client(), "orga@numerique.gouv.fr").get_data(as_text=True)


def test_failed_sign_ins_are_limited_per_account_and_per_ip(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="3 per minute")
    make_user(app, "orga@numerique.gouv.fr")
    # per account: different IPs, same account
    codes = [
        app.test_client()
        .post(
            "/connexion",
            data={"email": "orga@numerique.gouv.fr", "password": "faux"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"},
        )
        .status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    # the account's key is its normalised address
    response = app.test_client().post(
        "/connexion",
        data={"email": " ORGA@numerique.gouv.fr", "password": "faux"},
        environ_base={"REMOTE_ADDR": "10.0.0.99"},
    )
    assert response.status_code == 429
    # per IP: same IP, different accounts
    client = app.test_client()
    codes = [
        client.post(
            "/connexion",
            data={"email": f"x{i}@numerique.gouv.fr", "password": "faux"},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        ).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_successful_sign_ins_are_not_counted(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="2 per minute")
    make_user(app, "orga@numerique.gouv.fr")
    for _ in range(4):
        assert sign_in(app.test_client(), "orga@numerique.gouv.fr").status_code == 302


def test_the_sign_in_page_itself_is_not_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="1 per minute")
    client = app.test_client()
    assert [client.get("/connexion").status_code for _ in range(3)] == [200, 200, 200]


def test_session_cookie_flags(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    make_user(app, "orga@numerique.gouv.fr")
    response = sign_in(app.test_client(), "orga@numerique.gouv.fr")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_production_defaults_to_secure_cookies():
    assert load({"APP_ENV": "production", "SECRET_KEY": "x"})["SESSION_COOKIE_SECURE"] is True
    assert load({"APP_ENV": "development"})["SESSION_COOKIE_SECURE"] is False


def test_sign_in_goes_back_to_the_page_asked_for(app):
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    response = client.get(f"/organisation/{SLUG}/inscrits?q=durand")
    assert response.status_code == 302
    login = response.headers["Location"]
    assert login.startswith("/connexion?next=")
    response = client.post(login, data={"email": "orga@numerique.gouv.fr", "password": PASSWORD})
    assert response.headers["Location"] == f"/organisation/{SLUG}/inscrits?q=durand"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "/\t/evil.example/",  # browsers drop tabs: //evil.example/
    ],
)
def test_open_redirects_are_refused(app, target):
    make_user(app, "orga@numerique.gouv.fr")
    response = app.test_client().post(
        f"/connexion?next={quote(target, safe='')}",
        data={"email": "orga@numerique.gouv.fr", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/organisation/"


def test_a_backslash_in_the_target_stays_on_the_site(app):
    """Browsers read "/\\evil.example/" as "//evil.example/": the Location header must not
    carry the backslash as such."""
    make_user(app, "orga@numerique.gouv.fr")
    target = quote("/\\evil.example/", safe="")
    response = app.test_client().post(
        f"/connexion?next={target}",
        data={"email": "orga@numerique.gouv.fr", "password": PASSWORD},
    )
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location


# --- Access control -------------------------------------------------------------------------


def _staff_urls(app):
    """Every GET and POST route of the organiser and admin blueprints, with sample values."""
    samples = {"slug": SLUG, "public_id": "0" * 32, "message_id": 1, "user_id": 1}
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            blueprint = rule.endpoint.partition(".")[0]
            if blueprint not in ("organiser", "admin"):
                continue
            values = {name: samples[name] for name in rule.arguments if name in samples}
            for name in rule.arguments - samples.keys():  # any(...) converters
                values[name] = sorted(rule._converters[name].items)[0]
            url = app.url_for(rule.endpoint, **values)
            for method in sorted(rule.methods & {"GET", "POST"}):
                yield blueprint, method, url


def test_every_staff_route_refuses_anonymous_users(app):
    client = app.test_client()
    routes = list(_staff_urls(app))
    assert len(routes) >= 14
    for _, method, url in routes:
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/connexion?next="), (method, url)


def test_every_admin_route_refuses_organisers(app, organiser_client):
    admin_routes = [(m, u) for bp, m, u in _staff_urls(app) if bp == "admin"]
    assert len(admin_routes) >= 7
    for method, url in admin_routes:
        assert organiser_client.open(url, method=method).status_code == 403, (method, url)


def test_a_disabled_account_loses_access_at_once(app, organiser_client):
    with app.app_context():
        accounts.set_active(accounts.find("orga@numerique.gouv.fr"), False)
    assert organiser_client.get("/organisation/").status_code == 302


def test_organisers_reach_their_pages(app, organiser_client):
    for url in (
        "/organisation/",
        f"/organisation/{SLUG}/",
        f"/organisation/{SLUG}/inscrits",
        f"/organisation/{SLUG}/emargement",
        "/organisation/courriels",
    ):
        assert organiser_client.get(url).status_code == 200, url


def test_admins_reach_their_pages(admin_client):
    for url in (
        f"/administration/{SLUG}/",
        f"/administration/{SLUG}/fermer",
        f"/administration/{SLUG}/rouvrir",
        "/administration/comptes",
        "/administration/journal",
        f"/organisation/{SLUG}/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_drafts_are_previewed_by_signed_in_staff(make_app, tmp_path):
    content = tmp_path / "content" / "agenda"
    content.mkdir(parents=True)
    (content / "2030-01-01-brouillon.md").write_text(
        "---\ntitle: Brouillon\nevent_start_date: 2030-01-01 10:00:00 +01:00\n"
        "published: false\n---\nx\n",
        encoding="utf-8",
    )
    app = make_app(CONTENT_DIR=str(tmp_path / "content"))
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    assert client.get("/agenda/brouillon/").status_code == 404
    sign_in(client, "orga@numerique.gouv.fr")
    assert client.get("/agenda/brouillon/").status_code == 200
    index = client.get("/organisation/").get_data(as_text=True)
    assert "(brouillon, " in index and 'href="/agenda/brouillon/"' in index
    assert client.get("/organisation/brouillon/").status_code == 200
