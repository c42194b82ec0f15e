"""Sign-in and sign-out for organisers and admins."""

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
from flask_login import login_user, logout_user

from .. import accounts
from ..backoffice.forms import SignInForm
from ..extensions import db, limiter, login_manager
from ..models import User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def _signin_limit() -> str:
    return str(current_app.config["SIGNIN_RATE_LIMIT"])


def _account_key() -> str:
    return "account:" + accounts.normalise(request.form.get("email", ""))


def _failed(response: Response) -> bool:
    # Only failed attempts count; a successful sign-in redirects.
    return bool(response.status_code != 302)


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("organiser.index")


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_signin_limit, methods=["POST"], key_func=_account_key, deduct_when=_failed)
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
    logout_user()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("public.index"))
