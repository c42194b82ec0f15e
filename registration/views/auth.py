"""Sign-in and sign-out for organisers and admins, and changing one's own password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts
from ..backoffice.forms import ChangePasswordForm, SignInForm
from ..extensions import limiter, login_manager
from ..forms import add_error
from ..models import User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return accounts.session_user(session_id)


# Failed sign-ins are limited twice, and a successful one is never counted:
# - per account AND IP: an attacker who fails on an account from their own address is
#   stopped there, while the owner, from any other address, still signs in (a limit per
#   account alone let any stranger lock an organiser out);
# - per IP across accounts: one address cannot try a common password on every account.
# Online guessing stays out of reach without a per-account lockout: each address gets
# SIGNIN_RATE_LIMIT tries (5 a minute, 7,200 a day) and every password scores at least 3
# with zxcvbn (10^8 guesses or more, accounts.py), so a thousand addresses would still
# need about two weeks on average for one account, in plain sight in the logs.
def _signin_limit() -> str:
    return str(current_app.config["SIGNIN_RATE_LIMIT"])


def _account_and_ip_key() -> str:
    return f"account:{accounts.normalise(request.form.get('email', ''))}|{get_remote_address()}"


def _own_account_key() -> str:
    return f"password-change:{current_user.get_id()}"


def _failed(response: Response) -> bool:
    # Only failed attempts count; a success redirects.
    return bool(response.status_code != 302)


def _is_local_path(target: str) -> bool:
    """A path of this site, and nothing a browser could read as another host: no scheme,
    no "//" or "/\\" (browsers read a backslash as a slash), no control character or
    whitespace (browsers drop tabs and newlines: "/\\t/evil" is "//evil")."""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(char == "\\" or char.isspace() or not char.isprintable() for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def _safe_next(target: str | None) -> str:
    if target and _is_local_path(target):
        return target
    return url_for("organiser.index")


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_signin_limit, methods=["POST"], key_func=_account_and_ip_key, deduct_when=_failed)
def sign_in() -> ResponseReturnValue:
    form = SignInForm()
    failed = False
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        failed = True
    return render_template("auth/sign_in.html", form=form, failed=failed)


@bp.post("/deconnexion")
def sign_out() -> ResponseReturnValue:
    if current_user.is_authenticated:
        # Every session of the account ends, a copied cookie included.
        accounts.end_sessions(current_user._get_current_object())
    logout_user()
    flash("Vous êtes déconnecté.", "info")
    # Signed in with ProConnect: its session ends too, through its end_session endpoint.
    from .proconnect import end_session

    return end_session(url_for("public.index"))


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
@login_required
@limiter.limit(_signin_limit, methods=["POST"], key_func=_own_account_key, deduct_when=_failed)
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(
                user, form.current_password.data or "", form.new_password.data or ""
            )
        except accounts.AccountError as error:
            add_error(form[error.field or "new_password"], error.message)
        else:
            login_user(user)  # a fresh session, on the new version: the others have ended
            flash(
                "Votre mot de passe est changé. Vos sessions ouvertes ailleurs sont fermées.",
                "success",
            )
            return redirect(url_for("organiser.index"))
    return render_template("auth/change_password.html", form=form)
