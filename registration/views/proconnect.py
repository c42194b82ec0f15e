"""Sign in with ProConnect: agents on the registration page, and staff. Thin: the client is
registration/proconnect.py; this only says where each outcome leads."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import login_user

from .. import accounts, links, proconnect
from ..forms import RegistrationForm
from ..models import Status
from ..registrations.api import Confirmation
from .auth import _is_local_path, _safe_next

bp = Blueprint("proconnect", __name__)

NOT_AN_AGENT = (
    "ProConnect ne nous indique pas que votre organisation est publique. Vous pouvez vous "
    "inscrire avec votre adresse e-mail professionnelle ci-dessous."
)
ALREADY_REGISTERED = "Votre inscription à cet événement est déjà enregistrée."
SIGNED_IN = "Connexion ProConnect réussie : vérifiez le formulaire prérempli, puis envoyez-le."
NO_ACCOUNT = (
    "Aucun compte organisateur actif ne correspond à l’adresse que ProConnect nous a "
    "transmise ({email}). Demandez à un administrateur du service de vous créer un compte "
    "à cette adresse, ou de le réactiver."
)


@bp.before_request
def only_when_configured() -> None:
    if not proconnect.enabled():
        abort(404)


@bp.app_template_global()
def proconnect_enabled() -> bool:
    return proconnect.enabled()


@bp.app_template_global()
def proconnect_identity() -> proconnect.Identity | None:
    """The agent ProConnect identified in this browser, for the registration form."""
    return agent_identity()


@bp.app_template_global()
def proconnect_signed_in() -> bool:
    """This browser signed in with ProConnect and has not signed out of it: whoever it
    was (an agent who registered, someone without a public role), they can end it here."""
    return proconnect.enabled() and bool(session.get(proconnect.ID_TOKEN_KEY))


def agent_identity() -> proconnect.Identity | None:
    """The verified identity of a public agent, from this session (never from the form)."""
    if not proconnect.enabled() or proconnect.IDENTITY_KEY not in session:
        return None  # without ProConnect, the session is not even looked at
    return proconnect.Identity.from_session(session[proconnect.IDENTITY_KEY])


def prefill(form: RegistrationForm, identity: proconnect.Identity) -> None:
    """The form with what ProConnect says: names, address (read-only: the session's is the
    one registered), administration."""
    if request.method == "GET":
        form.first_name.data = form.first_name.data or identity.given_name
        form.last_name.data = form.last_name.data or identity.usual_name
        form.employer.data = form.employer.data or identity.organization_label
    form.email.data = identity.email
    form.email.render_kw = {**(form.email.render_kw or {}), "readonly": True}
    form.email.description = "Adresse vérifiée par ProConnect"


def registered(confirmation: Confirmation) -> ResponseReturnValue:
    """Straight to the registration's page: nothing is left to confirm. The identity is
    forgotten (on a shared computer, the next person must not register this one in a
    click); the id_token stays, for the ProConnect sign-out."""
    session.pop(proconnect.IDENTITY_KEY, None)
    if confirmation.already:
        flash(ALREADY_REGISTERED, "info")
    elif confirmation.status == Status.CONFIRMED:
        flash(
            "Votre inscription est confirmée. Un e-mail de confirmation vous a été envoyé.",
            "success",
        )
    elif confirmation.status == Status.WAITLISTED:
        flash(
            "L’événement est complet : vous êtes sur la liste d’attente. Vous recevrez un "
            "e-mail dès qu’une place se libère pour vous.",
            "info",
        )
    return redirect(url_for("public.manage", token=links.manage_token(confirmation)))


# --- Routes ----------------------------------------------------------------------------------


def _registration_page(slug: str) -> str:
    return url_for("public.register", slug=slug)


@bp.get("/agenda/<slug>/inscription/proconnect")
def start_agent(slug: str) -> ResponseReturnValue:
    from .public import visible_event

    event = visible_event(slug)
    try:
        return proconnect.start("agent", slug=event.slug)
    except proconnect.ProConnectError as error:
        flash(error.message, "error")
        return redirect(_registration_page(event.slug))


@bp.get("/connexion/proconnect")
def start_staff() -> ResponseReturnValue:
    then = request.args.get("next", "")
    try:
        return proconnect.start("staff", then=then if _is_local_path(then) else "")
    except proconnect.ProConnectError as error:
        flash(error.message, "error")
        return redirect(url_for("auth.sign_in"))


@bp.get(proconnect.CALLBACK_PATH)
def callback() -> ResponseReturnValue:
    """The one redirect URI, for agents and staff: the flow in progress says which."""
    pending = session.get(proconnect.LOGIN_KEY)
    pending = pending if isinstance(pending, dict) else {}
    slug = str(pending.get("slug") or "")
    try:
        login = proconnect.finish(request.args.to_dict())
    except proconnect.ProConnectError as error:
        flash(error.message, "error")
        return redirect(_registration_page(slug) if slug else url_for("auth.sign_in"))
    session[proconnect.ID_TOKEN_KEY] = login.id_token
    if login.purpose == "staff":
        return _staff(login)
    if not login.slug:
        abort(400)
    if login.identity.is_public_agent:
        session[proconnect.IDENTITY_KEY] = login.identity.to_session()
        flash(SIGNED_IN, "success")
    else:
        session.pop(proconnect.IDENTITY_KEY, None)
        flash(NOT_AN_AGENT, "info")
    return redirect(_registration_page(login.slug))


def _staff(login: proconnect.Login) -> ResponseReturnValue:
    user = accounts.authenticate_verified(login.identity.email)
    if user is None:
        current_app.logger.info("ProConnect sign-in refused: no active account")
        flash(NO_ACCOUNT.format(email=login.identity.email), "error")
        return redirect(url_for("auth.sign_in"))
    login_user(user)
    return redirect(_safe_next(login.then))


@bp.post("/agenda/<slug>/inscription/proconnect/quitter")
def leave_agent(slug: str) -> ResponseReturnValue:
    """« Se déconnecter de ProConnect »: forget the identity here and end the ProConnect
    session."""
    session.pop(proconnect.IDENTITY_KEY, None)
    return end_session(_registration_page(slug))


def end_session(then: str) -> ResponseReturnValue:
    """Through ProConnect's end_session endpoint when this browser signed in with it, then
    to `then`; straight to `then` otherwise, or if ProConnect cannot be reached."""
    id_token = session.pop(proconnect.ID_TOKEN_KEY, None)
    if id_token and proconnect.enabled():
        url = proconnect.logout_url(str(id_token), then)
        if url:
            return redirect(url)
    return redirect(then)


@bp.get(proconnect.LOGOUT_RETURN_PATH)
def logout_return() -> ResponseReturnValue:
    then = proconnect.logout_return(request.args.to_dict())
    return redirect(then if then and _is_local_path(then) else url_for("public.index"))
