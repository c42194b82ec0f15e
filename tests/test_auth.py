"""Sign-in, sign-out, cookies and access control, route by route."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, SLUG, make_user, sign_in

GENERIC = "Adresse e-mail ou mot de passe incorrect."


def test_sign_in_and_out(app):
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    response = sign_in(client, "Orga@Numerique.gouv.fr ")
    assert response.status_code == 302 and response.headers["Location"] == "/organisation/"
    assert client.get("/organisation/").status_code == 200
    client.get("/deconnexion", follow_redirects=True)  # sign-out is a POST: a GET does nothing
    assert client.get("/organisation/").status_code == 200
    assert client.post("/deconnexion").status_code == 302
    assert client.get("/organisation/").status_code == 302


def test_sign_out_needs_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert client.post("/deconnexion").status_code == 400


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
    assert (
        app.test_cli_runner().invoke(args=["users", "disable", "orga@numerique.gouv.fr"]).exit_code
        == 0
    )
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


def test_session_cookie_flags(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    make_user(app, "orga@numerique.gouv.fr")
    response = sign_in(app.test_client(), "orga@numerique.gouv.fr")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_production_defaults_to_secure_cookies():
    from registration.config import load

    assert load({"APP_ENV": "production", "SECRET_KEY": "x"})["SESSION_COOKIE_SECURE"] is True
    assert load({"APP_ENV": "development"})["SESSION_COOKIE_SECURE"] is False


def test_open_redirects_are_refused(app):
    make_user(app, "orga@numerique.gouv.fr")
    response = app.test_client().post(
        "/connexion?next=https://evil.example/",
        data={"email": "orga@numerique.gouv.fr", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/organisation/"


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


def test_organisers_reach_their_pages(app, organiser_client):
    for url in (
        "/organisation/",
        f"/organisation/{SLUG}/",
        f"/organisation/{SLUG}/inscrits",
        f"/organisation/{SLUG}/emargement",
        "/organisation/courriels",
    ):
        assert organiser_client.get(url).status_code == 200, url


def test_users_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "new@numerique.gouv.fr", "--role", "admin", "--password-stdin"],
        input="un autre mot de passe\n",
    )
    assert result.exit_code == 0, result.output
    assert "new@numerique.gouv.fr\tadmin\tactif" in runner.invoke(args=["users", "list"]).output
    short = runner.invoke(
        args=["users", "set-password", "new@numerique.gouv.fr", "--password-stdin"], input="court\n"
    )
    assert short.exit_code != 0 and "12 caractères" in short.output
    runner.invoke(
        args=["users", "set-password", "new@numerique.gouv.fr", "--password-stdin"],
        input="encore un autre mot de passe\n",
    )
    assert (
        sign_in(
            app.test_client(), "new@numerique.gouv.fr", "encore un autre mot de passe"
        ).status_code
        == 302
    )
    prompted = runner.invoke(
        args=["users", "create", "p@numerique.gouv.fr", "--role", "organiser"],
        input="mot de passe saisi\nmot de passe saisi\n",
    )
    assert prompted.exit_code == 0, prompted.output


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
