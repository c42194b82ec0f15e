"""Sign-in and sign-out (registration.views.auth): cookies, rate limits, redirects, and
access control route by route."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask_login.utils import encode_cookie

from registration import accounts
from registration.config import load
from registration.extensions import db
from registration.models import AuditEntry

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


def _attempt(app, email, password, ip):
    return (
        app.test_client()
        .post(
            "/connexion",
            data={"email": email, "password": password},
            environ_base={"REMOTE_ADDR": ip},
        )
        .status_code
    )


def test_a_stranger_cannot_lock_the_owner_out(make_app):
    """Failures are limited per account AND IP: the attacker's address is stopped, the owner
    signs in from theirs with the right password."""
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    make_user(app, "orga@numerique.gouv.fr")
    attacker = [_attempt(app, "orga@numerique.gouv.fr", "faux", "203.0.113.66") for _ in range(6)]
    assert attacker == [200] * 5 + [429]
    # even the right password is refused from the attacker's address now...
    assert _attempt(app, "orga@numerique.gouv.fr", PASSWORD, "203.0.113.66") == 429
    # ...and the owner, from another address, signs in at once
    assert _attempt(app, "orga@numerique.gouv.fr", PASSWORD, "198.51.100.7") == 302


def test_failures_are_counted_per_account_and_ip_and_per_ip(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="3 per minute")
    make_user(app, "orga@numerique.gouv.fr")
    # one account from many addresses: no address reaches its limit
    codes = [_attempt(app, "orga@numerique.gouv.fr", "faux", f"10.0.0.{i}") for i in range(6)]
    assert codes == [200] * 6
    # one account from one address: the account's key is its normalised address
    codes = [
        _attempt(app, email, "faux", "10.1.1.1")
        for email in ("orga@numerique.gouv.fr", " ORGA@numerique.gouv.fr", "Orga@Numerique.gouv.fr")
    ]
    assert codes == [200, 200, 200]
    assert _attempt(app, "orga@numerique.gouv.fr", PASSWORD, "10.1.1.1") == 429
    # one address across accounts: limited too
    codes = [_attempt(app, f"x{i}@numerique.gouv.fr", "faux", "10.9.9.9") for i in range(4)]
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


HOSTILE_TARGETS = [
    "https://evil.example/",
    "http:evil.example",  # browsers read it as http://evil.example
    "https:/evil.example",
    "//evil.example/",
    "////evil.example",
    "///evil.example/",
    "/\\evil.example/",  # browsers read a backslash as a slash
    "\\\\evil.example",
    "/.\\evil.example",
    "\\/evil.example",
    "/\t/evil.example/",  # browsers drop tabs and newlines
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    " //evil.example/",
    "/\x00/evil.example/",
    "/\u3000/evil.example/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "http://localhost/organisation/",
]


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_open_redirects_are_refused(app, target):
    make_user(app, "orga@numerique.gouv.fr")
    response = app.test_client().post(
        f"/connexion?next={quote(target, safe='')}",
        data={"email": "orga@numerique.gouv.fr", "password": PASSWORD},
    )
    if "\x00" in target:  # refused before anything else (registration/http.py)
        assert response.status_code == 400
        return
    assert response.status_code == 302
    assert response.headers["Location"] == "/organisation/"


@pytest.mark.parametrize(
    "target",
    [
        "/organisation/",
        f"/organisation/{SLUG}/inscrits?q=zo%C3%A9&statut=confirmed",
        "/administration/journal?page=2#haut",
    ],
)
def test_paths_of_the_site_are_followed(app, target):
    make_user(app, "orga@numerique.gouv.fr")
    response = app.test_client().post(
        f"/connexion?next={quote(target, safe='')}",
        data={"email": "orga@numerique.gouv.fr", "password": PASSWORD},
    )
    assert response.headers["Location"] == target


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


# --- Sessions can be revoked ---------------------------------------------------------------

ADMIN = "admin@numerique.gouv.fr"
ACCOUNTS_PAGE = "/administration/comptes"


def _copy_of(app, client):
    """Another browser holding a copy of this client's session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def _remember_cookie_client(app, email):
    """A browser holding the remember-me cookie Flask-Login would give this account now."""
    with app.test_request_context():
        token = encode_cookie(accounts.find(email).get_id())
    client = app.test_client()
    client.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), token)
    return client


def _is_sent_to_sign_in(client, url=ACCOUNTS_PAGE):
    response = client.get(url)
    return response.status_code == 302 and response.headers["Location"].startswith(
        "/connexion?next="
    )


def _revoked_by_sign_out(app, admin_client):
    admin_client.post("/deconnexion")


def _revoked_by_password_change_page(app, admin_client):
    response = admin_client.post(
        "/compte/mot-de-passe",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirmation": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302


def _revoked_by_set_password_command(app, admin_client):
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", ADMIN, "--password-stdin"], input=f"{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output


def _revoked_by_disable_command(app, admin_client):
    assert app.test_cli_runner().invoke(args=["users", "disable", ADMIN]).exit_code == 0
    with app.app_context():  # even once the account is enabled again
        accounts.set_active(accounts.find(ADMIN), True)


def _revoked_by_another_admin(app, admin_client):
    make_user(app, "autre-admin@numerique.gouv.fr", "admin")
    other = app.test_client()
    sign_in(other, "autre-admin@numerique.gouv.fr")
    with app.app_context():
        user_id = accounts.find(ADMIN).id
    assert other.post(f"/administration/comptes/{user_id}/desactiver").status_code == 302
    assert other.post(f"/administration/comptes/{user_id}/reactiver").status_code == 302


NEW_PASSWORD = "une toute nouvelle phrase secrète"
REVOCATIONS = {
    "sign-out": _revoked_by_sign_out,
    "password-page": _revoked_by_password_change_page,
    "set-password-command": _revoked_by_set_password_command,
    "disable-command": _revoked_by_disable_command,
    "disabled-by-an-admin": _revoked_by_another_admin,
}


@pytest.mark.parametrize("revoke", REVOCATIONS.values(), ids=REVOCATIONS.keys())
def test_copied_cookies_stop_working(app, admin_client, revoke):
    copied_session = _copy_of(app, admin_client)
    remembered = _remember_cookie_client(app, ADMIN)
    # both open the page until the account's sessions end...
    assert copied_session.get(ACCOUNTS_PAGE).status_code == 200
    assert remembered.get(ACCOUNTS_PAGE).status_code == 200
    revoke(app, admin_client)
    # ...then neither does, in a fresh browser holding only the copied cookie
    assert _is_sent_to_sign_in(_copy_of(app, copied_session))
    assert _is_sent_to_sign_in(_remember_cookie_client_from(app, remembered))


def _remember_cookie_client_from(app, client):
    copy = app.test_client()
    name = app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    copy.set_cookie(name, client.get_cookie(name).value)
    return copy


def test_signing_in_again_opens_a_new_session(app, admin_client):
    admin_client.post("/deconnexion")
    client = app.test_client()
    assert sign_in(client, ADMIN).status_code == 302
    assert client.get(ACCOUNTS_PAGE).status_code == 200


def test_a_session_from_before_session_versions_is_refused(app, admin_client):
    """Sessions signed before the upgrade held the bare id: they end too."""
    with app.app_context():
        user_id = accounts.find(ADMIN).id
    with admin_client.session_transaction() as session:
        session["_user_id"] = str(user_id)
    assert _is_sent_to_sign_in(admin_client)


def test_a_forged_version_is_refused(app, admin_client):
    with admin_client.session_transaction() as session:
        user_id, _, version = session["_user_id"].partition(":")
        session["_user_id"] = f"{user_id}:{int(version) + 1}"
    assert _is_sent_to_sign_in(admin_client)


# --- Changing one's own password -----------------------------------------------------------

PASSWORD_PAGE = "/compte/mot-de-passe"


def _change(client, current=PASSWORD, new=NEW_PASSWORD, confirmation=None):
    return client.post(
        PASSWORD_PAGE,
        data={
            "current_password": current,
            "new_password": new,
            "confirmation": new if confirmation is None else confirmation,
        },
    )


def _field_error(response, field):
    """The DSFR error text rendered under one field."""
    text = response.get_data(as_text=True)
    marker = f'<p class="fr-error-text" id="{field}-erreur">'
    assert marker in text, f"no error under {field}"
    return text.split(marker, 1)[1].split("</p>", 1)[0]


def test_the_password_page_is_for_signed_in_staff(client):
    response = client.get(PASSWORD_PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion?next=")


def test_the_header_links_to_the_password_page(organiser_client):
    page = organiser_client.get("/organisation/").get_data(as_text=True)
    assert f'href="{PASSWORD_PAGE}"' in page
    form = organiser_client.get(PASSWORD_PAGE).get_data(as_text=True)
    assert "<h1>Changer de mot de passe</h1>" in form


def test_changing_ones_password_keeps_this_session_and_ends_the_others(app, organiser_client):
    other_device = _copy_of(app, organiser_client)
    response = _change(organiser_client)
    assert response.status_code == 302 and response.headers["Location"] == "/organisation/"
    page = organiser_client.get("/organisation/")
    assert page.status_code == 200
    assert "Votre mot de passe est changé." in page.get_data(as_text=True)
    assert _is_sent_to_sign_in(other_device, "/organisation/")
    assert sign_in(app.test_client(), "orga@numerique.gouv.fr").status_code == 200
    assert sign_in(app.test_client(), "orga@numerique.gouv.fr", NEW_PASSWORD).status_code == 302
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.details) == (
            "orga@numerique.gouv.fr",
            "user-mot-de-passe",
            "orga@numerique.gouv.fr",
        )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current": "pas le bon mot de passe"}, "current_password", "actuel est incorrect"),
        ({"current": ""}, "current_password", "Renseignez votre mot de passe actuel."),
        ({"new": "court"}, "new_password", "12 caractères au moins"),
        ({"new": "xxxxxxxxxxxx"}, "new_password", "trop facile à deviner"),
        ({"new": "orga@numerique.gouv.fr"}, "new_password", "trop facile à deviner"),
        ({"new": PASSWORD}, "new_password", "différent de l’actuel"),
        ({"confirmation": "autre chose encore"}, "confirmation", "pas identiques"),
    ],
)
def test_password_change_errors_stand_next_to_their_field(
    app, organiser_client, data, field, message
):
    response = _change(organiser_client, **data)
    assert response.status_code == 200
    assert message in _field_error(response, field)
    assert "Le formulaire contient une erreur" in response.get_data(as_text=True)
    # nothing changed: the old password still works, and this session too
    assert sign_in(app.test_client(), "orga@numerique.gouv.fr").status_code == 302
    assert organiser_client.get("/organisation/").status_code == 200


def test_password_change_needs_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    with app.app_context(), client.session_transaction() as session:
        session["_user_id"] = accounts.find("orga@numerique.gouv.fr").get_id()
    assert client.get(PASSWORD_PAGE).status_code == 200  # signed in
    assert _change(client).status_code == 400
    assert sign_in(app.test_client(), "orga@numerique.gouv.fr").status_code != 302  # no token
    with app.app_context():
        user = accounts.find("orga@numerique.gouv.fr")
        assert accounts.authenticate(user.email, PASSWORD) is not None


def test_guessing_the_current_password_is_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="3 per minute")
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    assert sign_in(client, "orga@numerique.gouv.fr").status_code == 302
    codes = [_change(client, current="pas le bon mot de passe").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
