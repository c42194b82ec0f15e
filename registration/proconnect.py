"""ProConnect, the State's OpenID Connect federation for professionals: the client.

ProConnect is open to every professional: signing in proves who someone is, and only the
`roles` claim says whether their organisation is public. The flow is the authorization code
flow with Authlib's Flask client, within ProConnect's rules: `state` and `nonce` of 32
characters or more, and no authorize parameter beyond the ones it knows (no PKCE).

Authlib is imported only when ProConnect is configured and used: serving pages never pays
for it. Every call to the provider has a timeout, and its discovery document is cached.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, current_app, session
from werkzeug.wrappers import Response

SCOPES = "openid given_name usual_name email uid siret organization_label roles idp_id"
# The one public-agent value, and the prefix of its kinds (agent_public_etat, …_territorial).
PUBLIC_AGENT = "agent_public"
CALLBACK_PATH = "/proconnect/retour"
LOGOUT_RETURN_PATH = "/proconnect/deconnexion/retour"
# Where the flow in progress is kept, beside Authlib's own state data.
LOGIN_KEY = "proconnect_login"
LOGOUT_KEY = "proconnect_logout"
# What a ProConnect sign-in leaves for the sign-out: the id_token, sent back as a hint.
ID_TOKEN_KEY = "proconnect_id_token"
# The verified identity of an agent, for the registration form.
IDENTITY_KEY = "proconnect"
# How long the discovery document is trusted before it is read again.
METADATA_MAX_AGE = 3600
# What the sign-in reads from the discovery document: without one, ProConnect is unusable.
REQUIRED_METADATA = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
ALGORITHMS = ["RS256", "ES256"]

UNAVAILABLE = (
    "ProConnect ne répond pas pour le moment. Réessayez dans quelques minutes, "
    "ou utilisez le formulaire ci-dessous."
)
REFUSED = (
    "La connexion avec ProConnect n’a pas abouti. Vous pouvez réessayer, "
    "ou utiliser le formulaire ci-dessous."
)


class ProConnectError(Exception):
    """The sign-in did not go through; `message` is French, for the user."""

    def __init__(self, message: str = REFUSED) -> None:
        super().__init__(message)
        self.message = message


class ProviderUnavailable(ProConnectError):
    """ProConnect could not be reached, or answered with a server error."""

    def __init__(self, message: str = UNAVAILABLE) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Identity:
    """Who ProConnect says the user is, once the id_token and userinfo are verified."""

    sub: str
    email: str
    given_name: str
    usual_name: str
    organization_label: str = ""
    siret: str = ""
    uid: str = ""
    idp_id: str = ""
    roles: tuple[str, ...] = ()

    @property
    def is_public_agent(self) -> bool:
        """`agent_public`, or any `agent_public_*` kind: the organisation is public."""
        return any(r == PUBLIC_AGENT or r.startswith(PUBLIC_AGENT + "_") for r in self.roles)

    def to_session(self) -> dict[str, Any]:
        return {**asdict(self), "roles": list(self.roles)}

    @classmethod
    def from_session(cls, data: Any) -> Identity | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{**data, "roles": tuple(data.get("roles") or ())})
        except TypeError:
            return None


@dataclass(frozen=True)
class Login:
    """What a finished sign-in started for: `agent` (with the event's slug) or `staff`."""

    purpose: str
    slug: str
    then: str  # staff: the page they were going to
    identity: Identity
    id_token: str


def enabled(app: Flask | None = None) -> bool:
    """The issuer, client id and secret are all set."""
    config = (app or current_app).config
    return bool(
        config.get("PROCONNECT_ISSUER")
        and config.get("PROCONNECT_CLIENT_ID")
        and config.get("PROCONNECT_CLIENT_SECRET")
    )


def _client() -> Any:
    """Authlib's client for this app, built on first use."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get("proconnect")
    if client is None:
        from authlib.integrations.flask_client import OAuth

        issuer = app.config["PROCONNECT_ISSUER"].rstrip("/")
        client = OAuth(app).register(
            "proconnect",
            client_id=app.config["PROCONNECT_CLIENT_ID"],
            client_secret=app.config["PROCONNECT_CLIENT_SECRET"],
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": SCOPES,
                "token_endpoint_auth_method": "client_secret_post",
                "default_timeout": app.config["PROCONNECT_TIMEOUT"],
            },
        )
        app.extensions["proconnect"] = client
    loaded_at = client.server_metadata.get("_loaded_at")
    if loaded_at is not None and time.time() - loaded_at > METADATA_MAX_AGE:
        client.server_metadata.clear()  # read the discovery document (and the keys) again
    return client


def _metadata(client: Any, step: str, required: tuple[str, ...] = REQUIRED_METADATA) -> Any:
    """The discovery document, with the endpoints `required`. ProviderUnavailable if it
    cannot be read or lacks one; a document found wanting is read again next time."""
    try:
        metadata = client.load_server_metadata()
    except _network_errors() as error:
        current_app.logger.warning("ProConnect unreachable at %s: %s", step, error)
        raise ProviderUnavailable() from None
    except (ValueError, TypeError) as error:  # JSON, but not an object
        current_app.logger.warning("ProConnect's discovery document unreadable: %r", error)
        client.server_metadata.clear()
        raise ProviderUnavailable() from None
    missing = [key for key in required if not metadata.get(key)]
    if missing:
        current_app.logger.warning("ProConnect's discovery document lacks %s", ", ".join(missing))
        client.server_metadata.clear()
        raise ProviderUnavailable()
    return metadata


def _network_errors() -> tuple[type[Exception], ...]:
    import requests

    return (requests.RequestException,)


def _refusals() -> tuple[type[Exception], ...]:
    from authlib.integrations.base_client import OAuthError
    from joserfc.errors import JoseError

    return (OAuthError, JoseError, ValueError, KeyError, TypeError)


def redirect_uri() -> str:
    config = current_app.config
    return str(config.get("PROCONNECT_REDIRECT_URI") or _public_url(CALLBACK_PATH))


def post_logout_redirect_uri() -> str:
    config = current_app.config
    return str(config.get("PROCONNECT_POST_LOGOUT_REDIRECT_URI") or _public_url(LOGOUT_RETURN_PATH))


def _public_url(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


def start(purpose: str, slug: str = "", then: str = "") -> Response:
    """The redirect to ProConnect's authorize endpoint. ProviderUnavailable if it cannot
    be reached (the discovery document is read first)."""
    client = _client()
    _metadata(client, "authorize")
    state = secrets.token_urlsafe(32)  # 43 characters: ProConnect wants 32 at least
    nonce = secrets.token_urlsafe(32)
    try:
        response = client.authorize_redirect(redirect_uri(), state=state, nonce=nonce)
    except _network_errors() as error:
        current_app.logger.warning("ProConnect unreachable at authorize: %s", error)
        raise ProviderUnavailable() from None
    session[LOGIN_KEY] = {"state": state, "purpose": purpose, "slug": slug, "then": then}
    return response  # type: ignore[no-any-return]


def finish(args: dict[str, str]) -> Login:
    """Back from ProConnect (the redirect URI's query `args`): the code exchanged, the
    id_token verified against the JWKS with the nonce, the userinfo read (JWT or JSON).
    ProConnectError if anything is off, ProviderUnavailable if the provider is."""
    login = session.pop(LOGIN_KEY, None)
    if not isinstance(login, dict) or not _same_state(login, args):
        raise ProConnectError()
    if args.get("error"):
        current_app.logger.info("ProConnect refused: %s", args.get("error"))
        raise ProConnectError()
    client = _client()
    _metadata(client, "token")
    try:
        token = client.authorize_access_token(leeway=60)
        claims = token.get("userinfo")
        if not claims or not claims.get("sub"):
            raise ValueError("no verified id_token")
        info = _userinfo(client, token, claims["sub"])
    except _network_errors() as error:
        current_app.logger.warning("ProConnect unreachable at token: %s", error)
        raise ProviderUnavailable() from None
    except _refusals() as error:
        current_app.logger.warning("ProConnect sign-in refused: %r", error)
        raise ProConnectError() from None
    identity = _identity(info)
    return Login(
        purpose=str(login.get("purpose", "")),
        slug=str(login.get("slug", "")),
        then=str(login.get("then", "")),
        identity=identity,
        id_token=str(token["id_token"]),
    )


def _userinfo(client: Any, token: dict[str, Any], sub: str) -> dict[str, Any]:
    """The userinfo endpoint's answer: a signed JWT (application/jwt), verified against the
    JWKS, or plain JSON. Its `sub` must be the id_token's."""
    import requests

    metadata = client.load_server_metadata()
    # Asked directly: Authlib's session would count a 60 s access token (ProConnect's) as
    # expired already, within its leeway.
    response = requests.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=current_app.config["PROCONNECT_TIMEOUT"],
    )
    if response.status_code >= 500:
        raise _network_errors()[0](f"userinfo answered {response.status_code}")
    if response.status_code >= 400:  # the access token refused: a refusal, not an outage
        raise ValueError(f"userinfo answered {response.status_code}")
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind == "application/jwt":
        # A compact JWS is ASCII: decoded as such (`.text` would guess the charset, which
        # application/jwt does not give, at a cost of tens of milliseconds).
        info = _verified_jwt(client, response.content.decode("ascii").strip(), metadata)
    else:
        info = response.json()
    if not isinstance(info, dict) or info.get("sub") != sub:
        raise ValueError("userinfo's sub is not the id_token's")
    return info


def _verified_jwt(client: Any, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError
    from joserfc.jwk import KeySet
    from joserfc.jws import JWSRegistry

    algorithms = metadata.get("userinfo_signing_alg_values_supported") or ALGORITHMS
    registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
    try:
        decoded = jwt.decode(text, KeySet.import_key_set(client.fetch_jwk_set()), registry=registry)
    except InvalidKeyIdError:  # the provider rolled its keys: read them again, once
        keys = KeySet.import_key_set(client.fetch_jwk_set(force=True))
        decoded = jwt.decode(text, keys, registry=registry)
    claims = dict(decoded.claims)
    expected = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": str(metadata.get("issuer", ""))},
        aud={"essential": True, "value": current_app.config["PROCONNECT_CLIENT_ID"]},
    )
    expected.validate(claims)
    return claims


def _text(info: dict[str, Any], key: str) -> str:
    value = info.get(key)
    return value.strip() if isinstance(value, str) else ""


def _identity(info: dict[str, Any]) -> Identity:
    from .accounts import normalise

    email = normalise(_text(info, "email"))
    if "@" not in email:
        raise ProConnectError()
    roles = info.get("roles")
    return Identity(
        sub=_text(info, "sub"),
        email=email,
        given_name=_text(info, "given_name"),
        usual_name=_text(info, "usual_name"),
        organization_label=_text(info, "organization_label"),
        siret=_text(info, "siret"),
        uid=_text(info, "uid"),
        idp_id=_text(info, "idp_id"),
        roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
    )


def logout_url(id_token: str, then: str) -> str | None:
    """The end_session URL that signs the user out of ProConnect and comes back to the
    logout return route, which then sends them to `then`. None if ProConnect cannot be
    reached: the local session is over anyway."""
    client = _client()
    try:
        metadata = _metadata(client, "logout", required=())
    except ProviderUnavailable:
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    from authlib.common.urls import add_params_to_uri

    state = secrets.token_urlsafe(32)
    session[LOGOUT_KEY] = {"state": state, "then": then}
    params = {
        "id_token_hint": id_token,
        "state": state,
        "post_logout_redirect_uri": post_logout_redirect_uri(),
    }
    return str(add_params_to_uri(endpoint, params))


def logout_return(args: dict[str, str]) -> str | None:
    """Back from ProConnect's sign-out: where to go next, if the state is ours."""
    pending = session.pop(LOGOUT_KEY, None)
    if not isinstance(pending, dict) or not _same_state(pending, args):
        return None
    return str(pending.get("then") or "")


def _same_state(pending: dict[str, Any], args: dict[str, str]) -> bool:
    """The query's `state` is the one this session sent. Compared as bytes: compare_digest
    refuses text that is not ASCII, and the query is anyone's to write."""
    expected = str(pending.get("state", "")).encode()
    return bool(expected) and secrets.compare_digest(expected, str(args.get("state", "")).encode())
