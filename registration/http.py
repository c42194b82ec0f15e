"""HTTP hardening: security headers, a guard against NUL bytes, French error pages.

`init_app` wires it all; create_app calls it once the blueprints are registered.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, flash, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from .extensions import login_manager

# No inline script or style anywhere: the DSFR's JavaScript changes styles through the CSSOM
# (element.style), which style-src does not govern; its CSS draws some icons with data: URIs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)
HSTS = "max-age=63072000; includeSubDomains"
# Pages that show personal data or a token: no browser or proxy keeps a copy.
PRIVATE_BLUEPRINTS = frozenset({"organiser", "admin", "auth"})
PRIVATE_ENDPOINTS = frozenset(
    {"public.registered", "public.confirm", "public.manage", "public.cancel"}
)
ERROR_PAGES = (400, 403, 404, 405, 413, 429, 500)
UNAVAILABLE = 503
# The largest id a URL may carry: PostgreSQL's BIGINT, SQLite's INTEGER (`<int(max=…):id>`).
ROW_ID_MAX = 2**63 - 1
RETRY_AFTER_SECONDS = 30

FORM_EXPIRED = (
    "Votre session a expiré avant l’envoi du formulaire. Vos réponses sont conservées "
    "ci-dessous : vérifiez-les, puis envoyez à nouveau le formulaire."
)
TOO_MANY = (
    "Trop de demandes en peu de temps. Patientez une minute, puis envoyez à nouveau "
    "le formulaire : vos réponses sont conservées ci-dessous."
)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    register_input_guard(app)
    register_security_headers(app)
    register_errorhandlers(app)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with no work for a visitor who sends no cookie and
    whose session nothing touched: most visitors of the public pages."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:  # nothing to write, nothing to delete
            if session.accessed:
                response.vary.add("Cookie")  # as Flask does
            return
        super().save_session(app, session, response)


# --- Bad input ------------------------------------------------------------------------------


FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})


def has_nul_byte() -> bool:
    """A NUL byte in the path, the query or a form: PostgreSQL refuses it in any text."""
    environ = request.environ
    query = environ.get("QUERY_STRING", "")
    if (
        environ.get("REQUEST_METHOD") not in FORM_METHODS
        and "\x00" not in environ.get("PATH_INFO", "")
        and "%00" not in query
        and "\x00" not in query
    ):
        return False  # nothing in this request can decode to a NUL byte
    if "\x00" in request.path:
        return True
    fields = [request.args]
    if request.method in FORM_METHODS:
        fields.append(request.form)
    return any("\x00" in key or "\x00" in value for f in fields for key, value in f.items(True))


def register_input_guard(app: Flask) -> None:
    def refuse_nul_bytes() -> None:
        if has_nul_byte():
            raise BadRequest("Caractère nul dans la requête.")

    # First of all the hooks: before CSRF, rate limits, and any view or database read.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_nul_bytes)


# --- Headers --------------------------------------------------------------------------------


def is_private() -> bool:
    return request.blueprint in PRIVATE_BLUEPRINTS or request.endpoint in PRIVATE_ENDPOINTS


def content_security_policy(app: Flask) -> str:
    """The policy; with ProConnect set, its forms (the button, sign-out) may lead there:
    browsers hold a form's redirects to form-action too."""
    issuer = urlsplit(app.config.get("PROCONNECT_ISSUER") or "")
    if not (issuer.scheme and issuer.netloc):
        return CONTENT_SECURITY_POLICY
    origin = f"{issuer.scheme}://{issuer.netloc}"
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


def register_security_headers(app: Flask) -> None:
    always = [
        ("Content-Security-Policy", content_security_policy(app)),
        ("Permissions-Policy", PERMISSIONS_POLICY),
        # Confirmation and management links carry their token in the URL: never send it away.
        ("Referrer-Policy", "same-origin"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ]
    if app.config["APP_ENV"] == "production":
        always.append(("Strict-Transport-Security", HSTS))
    defaults = tuple((name.lower(), name, value) for name, value in always)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name in headers.keys()}  # noqa: SIM118 (Headers)
        for lower, name, value in defaults:
            if lower not in present:  # a view may set its own
                headers.add(name, value)
        if is_private():
            headers["Cache-Control"] = "no-store"
        return response


# --- Error pages ----------------------------------------------------------------------------


def error_page(code: int, error: Exception | None = None) -> ResponseReturnValue:
    return render_template(f"errors/{code}.html", error=error), code


def database_unavailable(error: Exception) -> ResponseReturnValue:
    """The database is down or overloaded: a page that touches no database, and a retry hint."""
    current_app.logger.error("Base de données indisponible : %s", str(error).splitlines()[0])
    # The page's header asks who is signed in, which reads the database: nobody, here.
    login_manager._update_request_context_with_user()
    page = render_template(f"errors/{UNAVAILABLE}.html", error=error)
    return page, UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def form_again(error: HTTPException, message: str) -> ResponseReturnValue:
    """The registration or sign-in form, shown again with what was typed (never a password),
    a fresh CSRF token and `message` at the top; other pages get the error page."""
    from .backoffice.forms import SignInForm
    from .views import public

    if request.method != "POST" or request.endpoint not in {"public.register", "auth.sign_in"}:
        return error_page(error.code or 400, error)
    if request.endpoint == "public.register":
        try:
            page = public.registration_page(message)
        except NotFound as missing:
            return error_page(404, missing)
        return page, error.code or 400
    flash(message, "error")
    form = SignInForm()  # the e-mail from request.form; a PasswordField never shows its value
    return render_template("auth/sign_in.html", form=form, failed=False), error.code or 400


def register_errorhandlers(app: Flask) -> None:
    def page(code: int) -> Callable[[Exception], ResponseReturnValue]:
        def handler(error: Exception) -> ResponseReturnValue:
            return error_page(code, error)

        return handler

    for code in ERROR_PAGES:
        app.register_error_handler(code, page(code))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        return form_again(error, FORM_EXPIRED)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded) -> ResponseReturnValue:
        return form_again(error, TOO_MANY)

    @app.errorhandler(sa_exc.DataError)
    def refused_by_the_database(error: sa_exc.DataError) -> ResponseReturnValue:
        # A value from the request the database cannot hold (a number out of an INTEGER's
        # range, say): the request is at fault, not the service.
        current_app.logger.warning("Donnée refusée par la base : %s", str(error).splitlines()[0])
        return error_page(400, error)

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.TimeoutError)
    def unavailable(error: Exception) -> ResponseReturnValue:
        return database_unavailable(error)
