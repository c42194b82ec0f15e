"""An OpenID Connect provider on loopback, offline, that behaves as ProConnect does.

A small Flask app served by werkzeug in a thread, on 127.0.0.1 and a free port, signing with
joserfc (RS256 by default, ES256 on demand). It keeps ProConnect's rules: `state` and `nonce`
of 32 characters or more, any other authorize parameter refused with Y000400, codes used
once within 60 s, userinfo as a signed JWT or as JSON. The authorize endpoint shows a page
to pick a test user, or takes `login_hint` to skip it.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from markupsafe import escape
from werkzeug.serving import make_server

CLIENT_ID = "inscriptions-test"
CLIENT_SECRET = "secret-de-test-pour-proconnect"
ALLOWED = {
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "claims",
    "prompt",
    "idp_hint",
    "login_hint",
    "siret_hint",
}
CODE_LIFETIME = 60

USERS: dict[str, dict[str, Any]] = {
    "etat": {
        "sub": "sub-etat-0001",
        "email": "camille.durand@test.proconnect.gouv.fr",
        "given_name": "Camille",
        "usual_name": "Durand",
        "organization_label": "Direction interministérielle du numérique",
        "siret": "13002526500013",
        "uid": "1",
        "idp_id": "fia1v2",
        "roles": ["agent_public", "agent_public_etat"],
    },
    "territorial": {
        "sub": "sub-territorial-0002",
        "email": "dominique.martin@test.proconnect.gouv.fr",
        "given_name": "Dominique",
        "usual_name": "Martin",
        "organization_label": "Commune de Lyon",
        "siret": "21690123100011",
        "uid": "2",
        "idp_id": "fia1v2",
        "roles": ["agent_public", "agent_public_territorial"],
    },
    "entreprise": {
        "sub": "sub-entreprise-0003",
        "email": "alex.petit@test.proconnect.gouv.fr",
        "given_name": "Alex",
        "usual_name": "Petit",
        "organization_label": "Société anonyme de conseil",
        "siret": "55208131766522",
        "uid": "3",
        "idp_id": "fia1v2",
        "roles": [],
    },
    "sans-roles": {
        "sub": "sub-sans-roles-0004",
        "email": "sam.leroy@test.proconnect.gouv.fr",
        "given_name": "Sam",
        "usual_name": "Leroy",
        "organization_label": "",
        "siret": "",
        "uid": "4",
        "idp_id": "fia1v2",
    },
    "organisatrice": {
        "sub": "sub-orga-0005",
        "email": "Orga@Numerique.gouv.fr",  # the account is orga@numerique.gouv.fr
        "given_name": "Ornella",
        "usual_name": "Garnier",
        "organization_label": "Direction interministérielle du numérique",
        "siret": "13002526500013",
        "uid": "5",
        "idp_id": "fia1v2",
        "roles": ["agent_public", "agent_public_etat"],
    },
}

_KEYS: dict[str, Any] = {}


def keys() -> dict[str, Any]:
    """The provider's keys, and a stranger's: made once per test process (RSA is slow)."""
    if not _KEYS:
        _KEYS["RS256"] = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
        _KEYS["ES256"] = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
        # Same kid as the real one: only the signature gives it away.
        _KEYS["stranger"] = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    return _KEYS


@dataclass
class _Code:
    user: str
    client_id: str
    redirect_uri: str
    nonce: str
    issued: float
    used: bool = False


@dataclass
class Provider:
    """The provider and its switches, which the tests turn."""

    redirect_uris: tuple[str, ...] = ("http://localhost/proconnect/retour",)
    post_logout_uris: tuple[str, ...] = ("http://localhost/proconnect/deconnexion/retour",)
    alg: str = "RS256"  # or ES256
    userinfo_as_jwt: bool = True
    wrong_key: bool = False  # sign the id_token with a key the JWKS does not hold
    nonce_override: str | None = None  # put this nonce in the id_token instead
    clock_offset: float = 0.0  # seconds added to the provider's clock (code expiry)
    userinfo_status: int | None = None  # the userinfo endpoint answers this error instead
    discovery_omits: tuple[str, ...] = ()  # keys left out of the discovery document
    port: int = 0
    codes: dict[str, _Code] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> user
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    discovery_reads: int = 0

    def __post_init__(self) -> None:
        self.app = self._build()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- Running -------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    def start(self) -> Provider:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """The provider goes down: its port refuses connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def now(self) -> float:
        return time.time() + self.clock_offset

    def settings(self) -> dict[str, str]:
        """The app's settings for this provider."""
        return {
            "PROCONNECT_ISSUER": self.issuer,
            "PROCONNECT_CLIENT_ID": CLIENT_ID,
            "PROCONNECT_CLIENT_SECRET": CLIENT_SECRET,
        }

    # --- Signing -------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any], wrong_key: bool = False) -> str:
        key = keys()["stranger"] if wrong_key else keys()[self.alg]
        return jwt.encode(
            {"alg": self.alg if not wrong_key else "RS256", "kid": key.kid}, claims, key
        )

    def id_token(self, user: str, nonce: str, wrong_key: bool = False) -> str:
        now = int(self.now())
        claims = {
            "iss": self.issuer,
            "sub": USERS[user]["sub"],
            "aud": CLIENT_ID,
            "exp": now + 60,
            "iat": now,
            "nonce": nonce,
            "acr": "eidas1",
            "amr": ["pwd"],
            "idp_id": USERS[user]["idp_id"],
        }
        return self._sign(claims, wrong_key)

    # --- The app -------------------------------------------------------------------------

    def _build(self) -> Flask:
        app = Flask("oidc_provider")
        base = "/api/v2"

        @app.get(f"{base}/.well-known/openid-configuration")
        def discovery() -> Response:
            self.discovery_reads += 1
            document = {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "end_session_endpoint": f"{self.issuer}/session/end",
                "response_types_supported": ["code"],
                "scopes_supported": [
                    "openid",
                    "given_name",
                    "usual_name",
                    "email",
                    "uid",
                    "siret",
                    "organization_label",
                    "roles",
                    "idp_id",
                ],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "userinfo_signing_alg_values_supported": ["RS256", "ES256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "subject_types_supported": ["public"],
            }
            return jsonify({k: v for k, v in document.items() if k not in self.discovery_omits})

        @app.get(f"{base}/jwks")
        def jwks() -> Response:
            public = KeySet([keys()["RS256"], keys()["ES256"]])
            return jsonify(public.as_dict(private=False))

        def error(code: str, description: str, status: int = 400) -> Response:
            response = jsonify({"error": code, "error_description": description})
            response.status_code = status
            return response

        @app.get(f"{base}/authorize")
        def authorize() -> Response:
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            unknown = set(args) - ALLOWED
            if unknown:
                return error("Y000400", f"paramètres inconnus : {sorted(unknown)}")
            if args.get("response_type") != "code" or args.get("client_id") != CLIENT_ID:
                return error("Y000400", "response_type ou client_id")
            if args.get("redirect_uri") not in self.redirect_uris:
                return error("Y000400", "redirect_uri non déclarée")
            if "openid" not in args.get("scope", "").split():
                return error("Y000400", "scope openid manquant")
            if len(args.get("state", "")) < 32 or len(args.get("nonce", "")) < 32:
                return error("Y000400", "state et nonce : 32 caractères au moins")
            hint = args.get("login_hint", "")
            user = next((k for k, u in USERS.items() if u["email"].lower() == hint.lower()), None)
            if user is not None:
                return self._issue_code(user, args)
            options = "".join(
                f'<li><button type="submit" name="user" value="{escape(k)}">'
                f"{escape(u['given_name'])} {escape(u['usual_name'])} ({escape(u['email'])})"
                "</button></li>"
                for k, u in USERS.items()
            )
            hidden = "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                for k, v in args.items()
            )
            page = (
                '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
                "<title>Fournisseur de test</title></head><body><main>"
                "<h1>Choisissez un compte de test</h1>"
                f'<form method="post" action="{base}/authorize/choix">{hidden}<ul>{options}</ul>'
                "</form></main></body></html>"
            )
            return Response(page, mimetype="text/html")

        @app.post(f"{base}/authorize/choix")
        def choose() -> Response:
            args = request.form.to_dict()
            user = args.pop("user", "")
            if user not in USERS:
                abort(400)
            return self._issue_code(user, args)

        @app.post(f"{base}/token")
        def token() -> Response:
            form = request.form.to_dict()
            self.token_requests.append(form)
            client_id, secret = form.get("client_id"), form.get("client_secret")
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            if client_id != CLIENT_ID or secret != CLIENT_SECRET:
                return error("invalid_client", "client inconnu", 401)
            if form.get("grant_type") != "authorization_code":
                return error("unsupported_grant_type", "authorization_code seulement")
            code = self.codes.get(form.get("code", ""))
            if code is None or code.used or self.now() - code.issued > CODE_LIFETIME:
                if code is not None:
                    code.used = True
                return error("invalid_grant", "code inconnu, expiré ou déjà utilisé")
            code.used = True
            if form.get("redirect_uri") != code.redirect_uri:
                return error("invalid_grant", "redirect_uri différente")
            access = secrets.token_urlsafe(32)
            self.tokens[access] = code.user
            nonce = self.nonce_override if self.nonce_override is not None else code.nonce
            return jsonify(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": 60,
                    "id_token": self.id_token(code.user, nonce, wrong_key=self.wrong_key),
                    "scope": "openid",
                }
            )

        @app.get(f"{base}/userinfo")
        def userinfo() -> Response:
            auth = request.headers.get("Authorization", "")
            user = self.tokens.get(auth.removeprefix("Bearer "))
            if user is None:
                return error("invalid_token", "jeton inconnu", 401)
            if self.userinfo_status is not None:
                return error("server_error", "erreur voulue par le test", self.userinfo_status)
            claims = dict(USERS[user])
            if not self.userinfo_as_jwt:
                return jsonify(claims)
            now = int(self.now())
            signed = self._sign({**claims, "iss": self.issuer, "aud": CLIENT_ID, "iat": now})
            return Response(signed, mimetype="application/jwt")

        @app.get(f"{base}/session/end")
        def end_session() -> Response:
            args = request.args.to_dict()
            self.logouts.append(args)
            target = args.get("post_logout_redirect_uri", "")
            if target not in self.post_logout_uris or not args.get("id_token_hint"):
                return error("Y000400", "post_logout_redirect_uri ou id_token_hint")
            return redirect(f"{target}?{urlencode({'state': args.get('state', '')})}")

        return app

    def _issue_code(self, user: str, args: dict[str, str]) -> Response:
        code = secrets.token_urlsafe(32)
        self.codes[code] = _Code(
            user, args["client_id"], args["redirect_uri"], args["nonce"], self.now()
        )
        query = urlencode({"code": code, "state": args["state"]})
        return redirect(f"{args['redirect_uri']}?{query}")


def through_provider(client: Any, start: str, user: str, *, extra: str = "") -> Any:
    """The whole redirect dance with Flask's test client: `start` (our route) sends the
    browser to the provider, which, told the user by `login_hint`, sends it back to our
    redirect URI with a code; returns our answer to that. `extra` is added to the callback's
    query (a tampered state, say)."""
    return back_to_app(client, to_provider(client, start, user), extra)


def to_provider(client: Any, start: str, user: str) -> str:
    """The first half of the dance: where the provider sends the browser back (our redirect
    URI, with a code and the state), not followed yet."""
    import requests

    started = client.get(start)
    assert started.status_code == 302, started.status_code
    authorize = started.headers["Location"]
    hint = urlencode({"login_hint": USERS[user]["email"]})
    answer = requests.get(f"{authorize}&{hint}", allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def back_to_app(client: Any, location: str, extra: str = "") -> Any:
    """Follow a redirect from the provider to our app (http://localhost/…)."""
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    query = parts.query + (f"&{extra}" if extra else "")
    return client.get(f"{parts.path}?{query}")
