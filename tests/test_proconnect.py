"""The ProConnect client (registration/proconnect.py) against the provider on loopback: what
it verifies (state, code, id_token signature and nonce, userinfo as JWT or JSON), what it
reads of `roles`, and the provider down."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from registration import proconnect

from .oidc_provider import USERS, back_to_app

START = "/agenda/atelier-des-communs/inscription/proconnect"


def authorized(client: Any, user: str = "etat") -> str:
    """Start the flow and sign in at the provider: the redirect back, not followed yet."""
    started = client.get(START)
    hint = USERS[user]["email"]
    answer = requests.get(
        f"{started.headers['Location']}&login_hint={hint}", allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def identity_after(client: Any, location: str) -> proconnect.Identity | None:
    back_to_app(client, location)
    with client.session_transaction() as session:
        return proconnect.Identity.from_session(session.get(proconnect.IDENTITY_KEY))


def flashed(client: Any) -> list[str]:
    with client.session_transaction() as session:
        return [m for _, m in session.get("_flashes", [])]


def refused(client: Any) -> bool:
    return proconnect.REFUSED in flashed(client)


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "agent"),
    [
        (("agent_public",), True),
        (("agent_public", "agent_public_etat"), True),
        (("agent_public", "agent_public_territorial"), True),
        (("agent_public_hospitalier",), True),  # another kind, not known yet
        ((), False),  # empty: not public, or the organisation lookup failed
        (("agent_publicite",), False),
        (("prestataire",), False),
    ],
)
def test_public_agent_by_roles(roles, agent):
    identity = proconnect.Identity("sub", "a@b.fr", "A", "B", roles=roles)
    assert identity.is_public_agent is agent


def test_missing_roles_is_no_public_agent():
    info = {key: value for key, value in USERS["sans-roles"].items()}
    assert "roles" not in info
    assert proconnect._identity(info).is_public_agent is False


def test_the_identity_survives_the_session_and_a_bad_one_is_none():
    identity = proconnect._identity(USERS["etat"])
    assert proconnect.Identity.from_session(identity.to_session()) == identity
    assert proconnect.Identity.from_session({"unexpected": 1}) is None
    assert proconnect.Identity.from_session("text") is None


def test_the_address_is_normalised_as_accounts_are():
    identity = proconnect._identity(USERS["organisatrice"])
    assert identity.email == "orga@numerique.gouv.fr"


def test_enabled_needs_issuer_id_and_secret(app, make_app, oidc):
    assert not proconnect.enabled(app)
    partial = make_app(**{**oidc.settings(), "PROCONNECT_CLIENT_SECRET": ""})
    assert not proconnect.enabled(partial)
    assert proconnect.enabled(make_app(**oidc.settings()))


# --- The flow ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
@pytest.mark.parametrize("userinfo_as_jwt", [True, False], ids=["userinfo-jwt", "userinfo-json"])
def test_identity_verified_with_either_algorithm_and_userinfo_form(
    proconnect_app, oidc, alg, userinfo_as_jwt
):
    oidc.alg, oidc.userinfo_as_jwt = alg, userinfo_as_jwt
    client = proconnect_app.test_client()
    identity = identity_after(client, authorized(client, "territorial"))
    assert identity == proconnect.Identity(
        sub="sub-territorial-0002",
        email="dominique.martin@test.proconnect.gouv.fr",
        given_name="Dominique",
        usual_name="Martin",
        organization_label="Commune de Lyon",
        siret="21690123100011",
        uid="2",
        idp_id="fia1v2",
        roles=("agent_public", "agent_public_territorial"),
    )
    # The code went to the token endpoint with the client's secret in the body.
    [exchange] = oidc.token_requests
    assert exchange["client_secret"] == "secret-de-test-pour-proconnect"
    assert "code_verifier" not in exchange


def test_an_id_token_signed_with_another_key_is_refused(proconnect_app, oidc):
    oidc.wrong_key = True
    client = proconnect_app.test_client()
    assert identity_after(client, authorized(client)) is None
    assert refused(client)


def test_a_nonce_mismatch_is_refused(proconnect_app, oidc):
    oidc.nonce_override = "n" * 43
    client = proconnect_app.test_client()
    assert identity_after(client, authorized(client)) is None
    assert refused(client)


def test_a_tampered_state_is_refused_before_the_code_is_spent(proconnect_app, oidc):
    client = proconnect_app.test_client()
    location = authorized(client).replace("state=", "state=0")
    assert identity_after(client, location) is None
    assert refused(client) and oidc.token_requests == []


def test_a_replayed_code_is_refused_by_the_provider(proconnect_app, oidc):
    """A code already exchanged, brought back with a fresh, genuine state: the provider
    refuses it (single use), and so does the client."""
    client = proconnect_app.test_client()
    first = authorized(client)
    assert identity_after(client, first) is not None
    code = first.split("code=")[1].split("&")[0]
    second = authorized(client)
    state = second.split("state=")[1].split("&")[0]
    replayed = f"http://localhost/proconnect/retour?code={code}&state={state}"
    with client.session_transaction() as session:
        session.pop(proconnect.IDENTITY_KEY)
    assert identity_after(client, replayed) is None
    assert refused(client)
    assert [r["code"] for r in oidc.token_requests] == [code, code]


def test_a_code_past_its_60_seconds_is_refused(proconnect_app, oidc):
    client = proconnect_app.test_client()
    location = authorized(client)
    oidc.clock_offset = 61  # the provider's clock, not a wait
    assert identity_after(client, location) is None
    assert refused(client)


def test_an_error_from_the_provider_is_refused(proconnect_app):
    client = proconnect_app.test_client()
    location = authorized(client)
    state = location.split("state=")[1].split("&")[0]
    denied = f"http://localhost/proconnect/retour?error=access_denied&state={state}"
    assert identity_after(client, denied) is None
    assert refused(client)


def test_the_discovery_document_is_read_once(proconnect_app, oidc):
    client = proconnect_app.test_client()
    for _ in range(3):
        identity_after(client, authorized(client))
    assert oidc.discovery_reads == 1


def test_provider_down_is_unavailable_not_refused(proconnect_app, oidc):
    client = proconnect_app.test_client()
    location = authorized(client)
    oidc.stop()
    assert identity_after(client, location) is None
    assert flashed(client) == [proconnect.UNAVAILABLE]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, proconnect.REFUSED),  # the access token refused: ProConnect answered
        (403, proconnect.REFUSED),
        (500, proconnect.UNAVAILABLE),
        (503, proconnect.UNAVAILABLE),
    ],
)
def test_a_userinfo_4xx_is_refused_and_a_5xx_unavailable(proconnect_app, oidc, status, message):
    oidc.userinfo_status = status
    client = proconnect_app.test_client()
    assert identity_after(client, authorized(client)) is None
    assert flashed(client) == [message]


@pytest.mark.parametrize("missing", ["authorization_endpoint", "jwks_uri"])
def test_a_discovery_document_lacking_an_endpoint_is_unavailable(proconnect_app, oidc, missing):
    oidc.discovery_omits = (missing,)
    client = proconnect_app.test_client()
    started = client.get(START)
    assert started.status_code == 302
    assert started.headers["Location"] == "/agenda/atelier-des-communs/inscription"
    assert flashed(client) == [proconnect.UNAVAILABLE]
    # The document found wanting is not kept: once whole again, the sign-in goes through.
    oidc.discovery_omits = ()
    assert identity_after(client, authorized(client)) is not None
    assert oidc.discovery_reads == 2


def test_a_discovery_document_losing_its_keys_before_the_token_step(proconnect_app, oidc):
    client = proconnect_app.test_client()
    location = authorized(client)
    oidc.discovery_omits = ("jwks_uri",)
    proconnect_app.extensions["proconnect"].server_metadata.clear()  # as after an hour
    assert identity_after(client, location) is None
    assert flashed(client) == [proconnect.UNAVAILABLE]
    assert oidc.token_requests == []
