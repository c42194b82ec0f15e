"""Sign in with ProConnect through the routes, against the provider on loopback: agents on
the registration page, staff on the sign-in page, sign-out, and the provider down."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from registration import proconnect
from registration.extensions import db
from registration.models import Registration, Status, User
from registration.views.proconnect import ALREADY_REGISTERED, NOT_AN_AGENT

from ..factories import form_data, make_record, make_registration, make_user, outbox, sign_in
from ..oidc_provider import USERS, back_to_app, through_provider, to_provider

SLUG = "atelier-des-communs"
REGISTER = f"/agenda/{SLUG}/inscription"
START = f"{REGISTER}/proconnect"


def registration_of(app, email: str) -> Registration:
    with app.app_context():
        found = db.session.scalars(select(Registration).where(Registration.email == email)).one()
        db.session.expunge(found)
        return found


# --- Without the settings ------------------------------------------------------------------


def test_without_settings_no_button_and_no_route(client):
    page = client.get(REGISTER).get_data(as_text=True)
    assert "fr-connect" not in page and "ProConnect" not in page
    assert "fr-connect" not in client.get("/connexion").get_data(as_text=True)
    for path in (START, "/connexion/proconnect", "/proconnect/retour?code=x&state=y"):
        assert client.get(path).status_code == 404


def test_with_settings_the_button_comes_above_the_email_form(proconnect_app):
    page = proconnect_app.test_client().get(REGISTER).get_data(as_text=True)
    assert 'class="fr-connect fr-connect--pro"' in page
    assert "S’identifier avec" in page and "Qu’est-ce que ProConnect ?" in page
    assert 'href="https://www.proconnect.gouv.fr/"' in page
    assert 'title="Qu’est-ce que ProConnect ? - nouvelle fenêtre"' in page
    assert page.index("fr-connect--pro") < page.index('id="formulaire-inscription"')
    sign_in_page = proconnect_app.test_client().get("/connexion").get_data(as_text=True)
    assert "fr-connect--pro" in sign_in_page and 'action="/connexion/proconnect"' in sign_in_page
    assert 'id="proconnect-deconnexion"' not in page  # no ProConnect session here


# --- Agents --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["etat", "territorial"])
def test_a_public_agent_finds_the_form_prefilled(proconnect_app, oidc, user):
    client = proconnect_app.test_client()
    back = through_provider(client, START, user)
    assert back.status_code == 302 and back.headers["Location"] == REGISTER
    page = client.get(REGISTER).get_data(as_text=True)
    person = USERS[user]
    for value in (person["given_name"], person["usual_name"], person["organization_label"]):
        assert f'value="{value}"' in page
    [email] = re.findall(r'<input[^>]*name="email"[^>]*>', page)
    assert f'value="{person["email"]}"' in email and " readonly" in email
    assert 'id="proconnect-identite"' in page and "fr-connect--pro" not in page
    # What the authorize request carried: ProConnect's parameters only, long state and nonce.
    [asked] = oidc.authorize_requests
    assert set(asked) == {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "login_hint",  # added by the test, standing for the person who signs in
    }
    assert asked["scope"] == proconnect.SCOPES
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
    assert asked["redirect_uri"] == "http://localhost/proconnect/retour"


def test_a_public_agent_is_confirmed_at_once_with_the_verified_address(proconnect_app, oidc):
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    # Whatever address the form posts, the session's verified one is registered.
    sent = client.post(REGISTER, data=form_data(email="quelquun@ailleurs.fr"))
    assert sent.status_code == 302
    assert "/mon-inscription/" in sent.headers["Location"]
    registration = registration_of(proconnect_app, USERS["etat"]["email"])
    assert registration.status == Status.CONFIRMED
    assert registration.via_proconnect and registration.email_confirmed_at is not None
    assert registration.expires_at is None
    assert [m.kind for m in outbox(proconnect_app)] == ["confirmed"]
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Votre inscription est confirmée" in page and "Confirmée" in page


def test_the_identity_is_forgotten_once_registered(proconnect_app, oidc):
    """On a shared computer, the next person cannot register the agent in a click; the
    ProConnect session can still be ended from the form."""
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    assert client.post(REGISTER, data=form_data()).status_code == 302
    with client.session_transaction() as session:
        assert proconnect.IDENTITY_KEY not in session
        assert session[proconnect.ID_TOKEN_KEY].count(".") == 2  # for the sign-out
    page = client.get(REGISTER).get_data(as_text=True)
    assert 'id="proconnect-identite"' not in page and "readonly" not in page
    assert "fr-connect--pro" in page and 'id="proconnect-deconnexion"' in page
    # The next person's registration takes the e-mail path.
    client.post(REGISTER, data=form_data(email="voisin@numerique.gouv.fr"))
    assert [m.kind for m in outbox(proconnect_app)] == ["confirmed", "confirm_address"]
    left = client.post(f"{START}/quitter")
    assert urlsplit(left.headers["Location"]).path == "/api/v2/session/end"
    with client.session_transaction() as session:
        assert proconnect.ID_TOKEN_KEY not in session


def test_an_agent_already_registered_is_told_so_and_nothing_is_sent(proconnect_app, event):
    email = USERS["etat"]["email"]
    existing = make_registration(proconnect_app, event, Status.CONFIRMED, email=email)
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    sent = client.post(REGISTER, data=form_data())
    assert sent.status_code == 302 and "/mon-inscription/" in sent.headers["Location"]
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert ALREADY_REGISTERED in page and "Un e-mail de confirmation" not in page
    assert registration_of(proconnect_app, email).public_id == existing.public_id
    assert outbox(proconnect_app) == []


def test_a_full_event_puts_the_agent_on_the_waiting_list(proconnect_app, event):
    make_record(proconnect_app, event, capacity=0)
    client = proconnect_app.test_client()
    through_provider(client, START, "territorial")
    sent = client.post(REGISTER, data=form_data())
    assert sent.status_code == 302
    registration = registration_of(proconnect_app, USERS["territorial"]["email"])
    assert registration.status == Status.WAITLISTED and registration.via_proconnect
    assert [m.kind for m in outbox(proconnect_app)] == ["waitlisted"]


def test_an_address_awaiting_its_link_is_proven_by_proconnect(proconnect_app, event):
    email = USERS["etat"]["email"]
    make_registration(proconnect_app, event, Status.PENDING, email=email)
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    assert client.post(REGISTER, data=form_data()).status_code == 302
    registration = registration_of(proconnect_app, email)
    assert registration.status == Status.CONFIRMED and registration.via_proconnect


def test_the_organiser_sees_a_proconnect_registration(proconnect_app, event):
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    client.post(REGISTER, data=form_data())
    make_registration(proconnect_app, event, email="par.mail@numerique.gouv.fr")
    make_user(proconnect_app, "orga@numerique.gouv.fr")
    staff = proconnect_app.test_client()
    sign_in(staff, "orga@numerique.gouv.fr")
    listing = staff.get(f"/organisation/{SLUG}/inscrits").get_data(as_text=True)
    identification = {
        email: cells[-1]
        for row in re.findall(r"<tr>(.*?)</tr>", listing, re.S)
        if (cells := re.findall(r"<td>(.*?)</td>", row, re.S))
        for email in cells[1:2]
    }
    assert identification["par.mail@numerique.gouv.fr"] == "E-mail"
    assert ">ProConnect</span>" in identification[USERS["etat"]["email"]]
    public_id = registration_of(proconnect_app, USERS["etat"]["email"]).public_id
    page = staff.get(f"/organisation/{SLUG}/inscrits/{public_id}").get_data(as_text=True)
    assert "ProConnect : adresse vérifiée" in page
    csv = staff.get(f"/organisation/{SLUG}/export.csv").get_data(as_text=True)
    header, *lines = csv.removeprefix("\ufeff").splitlines()
    column = header.split(";").index("ProConnect")
    assert sorted(line.split(";")[column] for line in lines) == ["", "oui"]


@pytest.mark.parametrize("user", ["entreprise", "sans-roles"])
def test_someone_without_a_public_role_is_sent_to_the_email_path(proconnect_app, user):
    client = proconnect_app.test_client()
    back = through_provider(client, START, user)
    assert back.status_code == 302 and back.headers["Location"] == REGISTER
    page = client.get(REGISTER).get_data(as_text=True)
    assert NOT_AN_AGENT.replace("’", "&#39;") in page or NOT_AN_AGENT in page
    assert "readonly" not in page and USERS[user]["email"] not in page
    with client.session_transaction() as session:
        assert proconnect.IDENTITY_KEY not in session
    # The e-mail path works as before: a link to confirm.
    client.post(REGISTER, data=form_data())
    assert [m.kind for m in outbox(proconnect_app)] == ["confirm_address"]
    # Signed in at ProConnect all the same: they can sign out of it from here.
    assert 'id="proconnect-deconnexion"' in page
    left = client.post(f"{START}/quitter")
    end = urlsplit(left.headers["Location"])
    assert end.path == "/api/v2/session/end" and "id_token_hint" in parse_qs(end.query)


def test_a_tampered_state_is_refused_without_an_error_page(proconnect_app, oidc):
    client = proconnect_app.test_client()
    location = to_provider(client, START, "etat").replace("state=", "state=x")
    back = back_to_app(client, location)
    assert back.status_code == 302 and back.headers["Location"] == REGISTER
    page = client.get(REGISTER).get_data(as_text=True)
    assert "La connexion avec ProConnect n’a pas abouti" in page
    assert 'id="proconnect-identite"' not in page
    assert oidc.token_requests == []  # the code was never spent


def test_a_state_that_is_not_ascii_is_refused_without_an_error_page(proconnect_app, oidc):
    client = proconnect_app.test_client()
    assert client.get(START).status_code == 302  # a flow in progress
    back = client.get("/proconnect/retour?code=x&state=%C3%A9")
    assert back.status_code == 302 and back.headers["Location"] == REGISTER
    assert "La connexion avec ProConnect n’a pas abouti" in client.get(REGISTER).get_data(
        as_text=True
    )
    assert oidc.token_requests == []


def test_a_callback_replayed_is_refused(proconnect_app, oidc):
    client = proconnect_app.test_client()
    callback = to_provider(client, START, "etat")
    assert back_to_app(client, callback).headers["Location"] == REGISTER
    with client.session_transaction() as session:
        session.pop(proconnect.IDENTITY_KEY)
    again = back_to_app(client, callback)
    assert again.status_code == 302
    assert "n’a pas abouti" in client.get(REGISTER).get_data(as_text=True)
    with client.session_transaction() as session:
        assert proconnect.IDENTITY_KEY not in session


def test_the_agent_can_leave_proconnect(proconnect_app, oidc):
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    left = client.post(f"{START}/quitter")
    assert left.status_code == 302
    end = urlsplit(left.headers["Location"])
    assert end.path == "/api/v2/session/end"
    params = {k: v[0] for k, v in parse_qs(end.query).items()}
    assert set(params) == {"id_token_hint", "state", "post_logout_redirect_uri"}
    import requests

    answer = requests.get(left.headers["Location"], allow_redirects=False, timeout=5)
    back = back_to_app(client, answer.headers["Location"])
    assert back.headers["Location"] == REGISTER
    page = client.get(REGISTER).get_data(as_text=True)
    assert "fr-connect--pro" in page and 'id="proconnect-identite"' not in page
    assert 'id="proconnect-deconnexion"' not in page  # the ProConnect session is over


@pytest.mark.parametrize("state", ["faux", "%C3%A9"])
def test_a_logout_return_with_another_state_goes_home(proconnect_app, oidc, state):
    """The state is checked on the way back: a return that is not ours does not lead where
    the sign-out was going, and spends the sign-out in progress."""
    client = proconnect_app.test_client()
    through_provider(client, START, "etat")
    left = client.post(f"{START}/quitter")
    assert urlsplit(left.headers["Location"]).path == "/api/v2/session/end"
    back = client.get(f"/proconnect/deconnexion/retour?state={state}")
    assert back.status_code == 302 and back.headers["Location"] == "/"
    # Even the genuine state, afterwards, finds no sign-out in progress.
    genuine = parse_qs(urlsplit(left.headers["Location"]).query)["state"][0]
    again = client.get(f"/proconnect/deconnexion/retour?state={genuine}")
    assert again.headers["Location"] == "/"


# --- Staff ---------------------------------------------------------------------------------


def test_staff_signs_in_with_proconnect_by_their_verified_address(proconnect_app):
    make_user(proconnect_app, "orga@numerique.gouv.fr")
    client = proconnect_app.test_client()
    back = through_provider(client, "/connexion/proconnect?next=/organisation/", "organisatrice")
    assert back.status_code == 302 and back.headers["Location"] == "/organisation/"
    assert client.get("/organisation/").status_code == 200
    with proconnect_app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.last_sign_in_at is not None


@pytest.mark.parametrize("account", ["unknown", "disabled"])
def test_staff_sign_in_refused_for_an_unknown_or_disabled_account(proconnect_app, account):
    if account == "disabled":
        user = make_user(proconnect_app, "orga@numerique.gouv.fr")
        with proconnect_app.app_context():
            from registration import accounts

            accounts.set_active(db.session.get(User, user.id), False)
    client = proconnect_app.test_client()
    back = through_provider(client, "/connexion/proconnect", "organisatrice")
    assert back.status_code == 302 and back.headers["Location"] == "/connexion"
    page = client.get("/connexion").get_data(as_text=True)
    assert "Aucun compte organisateur actif ne correspond" in page
    assert "orga@numerique.gouv.fr" in page
    assert client.get("/organisation/").status_code == 302  # still signed out


def test_staff_sign_out_ends_the_proconnect_session_too(proconnect_app, oidc):
    make_user(proconnect_app, "orga@numerique.gouv.fr")
    client = proconnect_app.test_client()
    through_provider(client, "/connexion/proconnect", "organisatrice")
    out = client.post("/deconnexion")
    assert out.status_code == 302
    end = urlsplit(out.headers["Location"])
    assert end.path == "/api/v2/session/end"
    params = {k: v[0] for k, v in parse_qs(end.query).items()}
    assert params["post_logout_redirect_uri"] == "http://localhost/proconnect/deconnexion/retour"
    assert len(params["state"]) >= 32 and params["id_token_hint"].count(".") == 2
    import requests

    answer = requests.get(out.headers["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = back_to_app(client, answer.headers["Location"])
    assert back.headers["Location"] == "/"
    assert client.get("/organisation/").status_code == 302  # signed out here too
    # A return with no sign-out in progress goes home, and nothing else.
    stray = back_to_app(client, "/proconnect/deconnexion/retour?state=faux")
    assert stray.status_code == 302 and stray.headers["Location"] == "/"


def test_password_sign_out_does_not_go_through_proconnect(proconnect_app):
    make_user(proconnect_app, "orga@numerique.gouv.fr")
    client = proconnect_app.test_client()
    sign_in(client, "orga@numerique.gouv.fr")
    assert client.post("/deconnexion").headers["Location"] == "/"


# --- The provider down ---------------------------------------------------------------------


def test_provider_down_at_the_start_brings_the_user_back_with_a_message(proconnect_app, oidc):
    oidc.stop()
    client = proconnect_app.test_client()
    page = client.get(REGISTER)
    assert page.status_code == 200 and "fr-connect--pro" in page.get_data(as_text=True)
    started = client.get(START)
    assert started.status_code == 302 and started.headers["Location"] == REGISTER
    assert "ProConnect ne répond pas" in client.get(REGISTER).get_data(as_text=True)
    staff = client.get("/connexion/proconnect")
    assert staff.status_code == 302 and staff.headers["Location"] == "/connexion"
    assert "ProConnect ne répond pas" in client.get("/connexion").get_data(as_text=True)


def test_provider_down_at_the_token_step(proconnect_app, oidc):
    client = proconnect_app.test_client()
    callback = to_provider(client, START, "etat")
    oidc.stop()
    back = back_to_app(client, callback)
    assert back.status_code == 302 and back.headers["Location"] == REGISTER
    assert "ProConnect ne répond pas" in client.get(REGISTER).get_data(as_text=True)


def test_the_forms_may_lead_to_proconnect_and_nowhere_else(client, proconnect_app, oidc):
    """Browsers hold a form's redirects to form-action: the button and the sign-out go to
    ProConnect's origin, added only when it is set."""
    assert "form-action 'self';" in client.get(REGISTER).headers["Content-Security-Policy"]
    policy = proconnect_app.test_client().get(REGISTER).headers["Content-Security-Policy"]
    assert f"form-action 'self' http://127.0.0.1:{oidc.port};" in policy


def test_staff_sign_out_with_the_provider_down_still_signs_out_here(proconnect_app, oidc):
    make_user(proconnect_app, "orga@numerique.gouv.fr")
    client = proconnect_app.test_client()
    through_provider(client, "/connexion/proconnect", "organisatrice")
    proconnect_app.extensions["proconnect"].server_metadata.clear()  # as after an hour
    oidc.stop()
    out = client.post("/deconnexion")
    assert out.status_code == 302 and out.headers["Location"] == "/"
    assert client.get("/organisation/").status_code == 302
