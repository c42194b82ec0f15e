"""What the public sees: content pages, the registration form, confirmation and cancellation."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .. import clock, content, links
from ..extensions import limiter
from ..forms import RegistrationForm, add_error, registration_form
from ..models import Status
from ..registrations import api, queries
from ..registrations.exceptions import InvalidLink, NotEligible, RegistrationError
from ..registrations.rules import mailbox
from . import event_page, fail_if_broken, form_page, load_event_from_slug, proconnect, site

bp = Blueprint("public", __name__)


def can_preview_drafts() -> bool:
    """Drafts show to signed-in organisers and admins, or to everyone with the dev setting."""
    return bool(current_app.config["SHOW_UNPUBLISHED"] or current_user.is_authenticated)


def visible(page: content.Page | None) -> content.Page:
    if page is None or not (page.published or can_preview_drafts()):
        abort(404)
    return page


def visible_event(slug: str) -> content.Event:
    current = site()
    event = current.event(slug)
    if event is None:
        fail_if_broken(current.broken_event(slug), can_preview_drafts())
    visible(event)
    assert event is not None
    return event


load_event_from_slug(bp, visible_event)


@bp.get("/")
def index() -> ResponseReturnValue:
    """One upcoming event: its page. Several: the list. None: the past ones."""
    events = [e for e in site().events if e.published or can_preview_drafts()]
    upcoming = [e for e in events if not e.has_ended(clock.now())]
    if len(upcoming) == 1:
        return redirect(upcoming[0].url)
    return render_template("public/index.html", events=upcoming or events, past=not upcoming)


@bp.get("/agenda/")
def agenda() -> ResponseReturnValue:
    events = [e for e in site().events if e.published or can_preview_drafts()]
    return render_template("public/index.html", events=events, past=False)


@bp.get(event_page.ROUTE)
@limiter.exempt  # the same bytes for everyone, served at static speed: nothing to ration
def event() -> ResponseReturnValue:
    state = queries.availability(g.event, max_age=event_page.STATE_MAX_AGE)
    if event_page.is_plain_visit():
        return event_page.response(g.event, state, site())
    return event_page.render(g.event, state)


# Registrations are limited twice:
# - per e-mail address (its mailbox) and IP address together: one address cannot be sent
#   confirmation links over and over from one place, and someone who knows an agent's address
#   cannot lock the agent out by posting it from elsewhere; behind a ministry's one proxy,
#   each mailbox still has a bucket of its own;
# - per IP address, loosely: a whole ministry may reach the service through one proxy, and
#   three hundred of its agents may register in the minute the event is announced.
def _registration_limit() -> str:
    return str(current_app.config["REGISTRATION_RATE_LIMIT"])


def _address_limit() -> str:
    return str(current_app.config["REGISTRATION_RATE_LIMIT_PER_ADDRESS"])


def _posted_address() -> str:
    # « Vouliez-vous dire … ? » posts the corrected address in `corriger` (registration_form)
    return request.form.get("corriger") or request.form.get("email") or ""


def _address_key() -> str:
    # bounded: a Redis key
    return f"registration-address:{mailbox(_posted_address())[:320]}|{get_remote_address()}"


def _no_address() -> bool:
    return not _posted_address().strip()  # the form asks for one; the IP limit still holds


@bp.route("/agenda/<slug>/inscription", methods=["GET", "POST"])
@limiter.limit(_registration_limit, methods=["POST"])
@limiter.limit(_address_limit, methods=["POST"], key_func=_address_key, exempt_when=_no_address)
def register() -> ResponseReturnValue:
    if form_page.is_plain_request():
        return form_page.page(g.event, queries.availability(g.event), site().config)
    form = registration_form(g.event)
    identity = proconnect.agent_identity()
    if identity is not None:
        proconnect.prefill(form, identity)
    refused = ""  # why the service refused a valid form: closed, deadline passed
    not_eligible: NotEligible | None = None
    # « Demander une vérification » only brings up the justification field.
    asking = g.event.manual_verification and "demander_verification" in request.form
    if form.validate_on_submit() and not asking:
        if form.website.data:
            # A bot filled the hidden field: answer as for a person, keep nothing.
            return redirect(url_for(".registered"))
        try:
            if identity is not None:
                return proconnect.registered(
                    api.register_with_proconnect(g.event, form.registrant())
                )
            outcome = api.register(g.event, form.registrant())
        except NotEligible as error:
            if form.ask_review.data and not form.justification.data:
                add_error(form.justification, "Expliquez en quelques mots qui vous emploie.")
            else:
                add_error(form.email, error.message)
                not_eligible = error
        except RegistrationError as error:
            refused = error.message
        else:
            session["registered_email"] = form.email.data
            return redirect(
                url_for(
                    ".registered",
                    complet="1" if outcome.full and not outcome.review else None,
                    verification="1" if outcome.review else None,
                )
            )
    return _form_page(form, refused=refused, not_eligible=not_eligible)


def _form_page(
    form: RegistrationForm, refused: str = "", not_eligible: NotEligible | None = None
) -> str:
    state = queries.availability(g.event)
    return form_page.render(g.event, state, form, refused, not_eligible)


def registration_page(message: str) -> str:
    """The form again, filled from what was posted, with `message` at the top: for a post
    that the CSRF check or the rate limit stopped before the view ran."""
    if "event" not in g:
        g.event = visible_event(g.slug)
    flash(message, "error")
    form = registration_form(g.event)
    identity = proconnect.agent_identity()
    if identity is not None:
        proconnect.prefill(form, identity)
    return _form_page(form)


@bp.get("/agenda/<slug>/inscription/envoyee")
def registered() -> ResponseReturnValue:
    return render_template(
        "public/registered.html",
        event=g.event,
        full=request.args.get("complet") == "1",
        review=request.args.get("verification") == "1",
        email=session.get("registered_email"),
    )


def _link_error(error: InvalidLink, status: int) -> ResponseReturnValue:
    return render_template("public/link_error.html", event=g.event, message=error.message), status


@bp.route("/agenda/<slug>/inscription/confirmer/<token>", methods=["GET", "POST"])
def confirm(token: str) -> ResponseReturnValue:
    # GET only shows a button: mail scanners follow links, a person presses the button.
    if request.method == "GET":
        return render_template("public/confirm.html", event=g.event, token=token)
    try:
        registration = api.confirm(g.event, token)
    except InvalidLink as error:
        return _link_error(error, 400)
    flash(CONFIRMED.get(registration.status, CONFIRMED[Status.CONFIRMED]), "success")
    return redirect(url_for(".manage", token=links.manage_token(registration)))


# What « Mon inscription » says first after the confirmation link, by where it left things.
CONFIRMED = {
    Status.CONFIRMED: "Votre inscription est confirmée : votre place est réservée.",
    Status.WAITLISTED: "Votre adresse est confirmée : vous êtes sur la liste d’attente.",
    Status.REVIEW: "Votre adresse est confirmée : l’équipe organisatrice vérifie votre demande.",
}
CANCELLED = "Votre inscription est annulée."


@bp.get("/agenda/<slug>/mon-inscription/<token>")
def manage(token: str) -> ResponseReturnValue:
    try:
        registration = queries.registration_for_link(g.event, token)
    except InvalidLink as error:
        return _link_error(error, 404)
    status = registration.status_at(clock.now())
    # Just cancelled (a message waits to be shown): the way back to the form, while open.
    just_cancelled = status is Status.CANCELLED and "_flashes" in session
    return render_template(
        "public/manage.html",
        event=g.event,
        registration=registration,
        status=status,
        token=token,
        reopen=just_cancelled and queries.availability(g.event).is_open,
    )


@bp.route("/agenda/<slug>/mon-inscription/<token>/annuler", methods=["GET", "POST"])
def cancel(token: str) -> ResponseReturnValue:
    try:
        if request.method == "POST":
            api.cancel(g.event, token)
            flash(CANCELLED, "success")
            return redirect(url_for(".manage", token=token))
        registration = queries.registration_for_link(g.event, token)
    except InvalidLink as error:
        return _link_error(error, 404)
    return render_template(
        "public/cancel.html", event=g.event, registration=registration, token=token
    )


LEGAL_PAGES = {
    "accessibilite": "Déclaration d’accessibilité",
    "mentions-legales": "Mentions légales",
    "donnees-personnelles": "Données personnelles",
    "gestion-des-cookies": "Gestion des cookies",
}


@bp.get(
    '/<any(accessibilite, "mentions-legales", "donnees-personnelles", "gestion-des-cookies"):name>'
)
def legal(name: str) -> ResponseReturnValue:
    return render_template(f"public/legal/{name}.html", title=LEGAL_PAGES[name])


@bp.get("/<path:path>/")
def page(path: str) -> ResponseReturnValue:
    current, url = site(), f"/{path}/"
    found = current.page(url)
    if found is None:
        fail_if_broken(current.broken_page(url), can_preview_drafts())
    return render_template("public/page.html", page=visible(found))
