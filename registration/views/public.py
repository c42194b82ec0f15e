"""What the public sees: content pages, the registration form, confirmation and cancellation."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from .. import clock, content, services
from ..extensions import limiter
from ..forms import RegistrationForm

bp = Blueprint("public", __name__)


def site() -> content.Site:
    return content.load_site(current_app.config["CONTENT_DIR"])


def can_preview_drafts() -> bool:
    """Drafts show to signed-in organisers and admins, or to everyone with the dev setting."""
    return current_app.config["SHOW_UNPUBLISHED"] or current_user.is_authenticated


def visible(page: content.Page | None) -> content.Page:
    if page is None or not (page.published or can_preview_drafts()):
        abort(404)
    return page


def event_or_404(slug: str) -> content.Event:
    return visible(site().event(slug))  # type: ignore[return-value]


@bp.get("/")
def index():
    events = [e for e in site().events if e.published or can_preview_drafts()]
    upcoming = [e for e in events if (e.end or e.start) >= clock.now()]
    if len(events) == 1 or upcoming:
        return redirect(url_for(".event", slug=(upcoming or events)[0].slug))
    return render_template("public/index.html", events=events)


@bp.get("/agenda/")
def agenda():
    events = [e for e in site().events if e.published or can_preview_drafts()]
    return render_template("public/index.html", events=events)


@bp.get("/agenda/<slug>/")
def event(slug: str):
    event = event_or_404(slug)
    state = services.event_state(event)
    return render_template(
        "public/event.html",
        event=event,
        registration=services.registration_state(event, state, clock.now()),
    )


def _registration_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@bp.route("/agenda/<slug>/inscription", methods=["GET", "POST"])
@limiter.limit(_registration_limit, methods=["POST"])
def register(slug: str):
    event = event_or_404(slug)
    registration = services.registration_state(event, services.event_state(event), clock.now())
    form = RegistrationForm(departments=event.departments)
    refused = ""  # why the service refused a valid form: closed, deadline passed
    not_eligible = False
    if form.validate_on_submit():
        if form.website.data:
            # A bot filled the hidden field: answer as for a person, keep nothing.
            return redirect(url_for(".registered", slug=slug))
        try:
            outcome = services.register_attendee(
                event,
                services.Registrant(
                    email=form.email.data,
                    first_name=form.first_name.data,
                    last_name=form.last_name.data,
                    employer=form.employer.data,
                    job_title=form.job_title.data,
                    departments=tuple(form.departments.data or ()),
                    accessibility_needs=form.accessibility_needs.data or "",
                ),
            )
        except services.RegistrationError as error:
            if error.field:
                getattr(form, error.field).errors.append(error.message)
                not_eligible = isinstance(error, services.NotEligible)
            else:
                refused = error.message
                registration = services.registration_state(
                    event, services.event_state(event), clock.now()
                )
        else:
            session["registered_email"] = form.email.data
            return redirect(
                url_for(".registered", slug=slug, attente="1" if outcome.waitlisted else None)
            )
    return render_template(
        "public/register.html",
        event=event,
        form=form,
        registration=registration,
        refused=refused,
        not_eligible=not_eligible,
        submitted=request.method == "POST",
    )


@bp.get("/agenda/<slug>/inscription/envoyee")
def registered(slug: str):
    event = event_or_404(slug)
    return render_template(
        "public/registered.html",
        event=event,
        waitlisted=request.args.get("attente") == "1",
        email=session.get("registered_email"),
    )


@bp.route("/agenda/<slug>/inscription/confirmer/<token>", methods=["GET", "POST"])
def confirm(slug: str, token: str):
    # GET only shows a button: mail scanners follow links, a person presses the button.
    event = event_or_404(slug)
    if request.method == "GET":
        return render_template("public/confirm.html", event=event, token=token)
    try:
        attendee = services.confirm_attendee(event, token)
    except services.InvalidLink as error:
        return render_template("public/link_error.html", event=event, message=error.message), 400
    return redirect(url_for(".manage", slug=slug, token=services.manage_token(attendee)))


@bp.get("/agenda/<slug>/mon-inscription/<token>")
def manage(slug: str, token: str):
    event = event_or_404(slug)
    try:
        attendee = services.attendee_for_link(event, token)
    except services.InvalidLink as error:
        return render_template("public/link_error.html", event=event, message=error.message), 404
    return render_template("public/manage.html", event=event, attendee=attendee, token=token)


@bp.route("/agenda/<slug>/mon-inscription/<token>/annuler", methods=["GET", "POST"])
def cancel(slug: str, token: str):
    event = event_or_404(slug)
    try:
        if request.method == "POST":
            services.cancel_attendee(event, token)
            return redirect(url_for(".manage", slug=slug, token=token))
        attendee = services.attendee_for_link(event, token)
    except services.InvalidLink as error:
        return render_template("public/link_error.html", event=event, message=error.message), 404
    return render_template("public/cancel.html", event=event, attendee=attendee, token=token)


LEGAL_PAGES = {
    "accessibilite": "Déclaration d’accessibilité",
    "mentions-legales": "Mentions légales",
    "donnees-personnelles": "Données personnelles",
    "gestion-des-cookies": "Gestion des cookies",
}


@bp.get(
    '/<any(accessibilite, "mentions-legales", "donnees-personnelles", "gestion-des-cookies"):name>'
)
def legal(name: str):
    return render_template(f"public/legal/{name}.html", title=LEGAL_PAGES[name])


@bp.get("/<path:path>/")
def page(path: str):
    return render_template("public/page.html", page=visible(site().page(f"/{path}/")))
