"""Organisers: dashboard, attendee list and detail, exports, sign-in sheet, failed e-mails."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from .. import clock, exports
from ..backoffice import api, queries
from ..backoffice.forms import ReviewForm
from ..content import Event
from ..dates import PARIS
from ..extensions import login_manager
from ..http import ROW_ID_MAX
from ..models import ACTIVE, STATUS_LABELS, Status
from ..registrations.exceptions import ActionRefused, NotAwaitingReview, RegistrationNotFound
from . import load_event_from_slug, site, staff_event

bp = Blueprint("organiser", __name__, url_prefix="/organisation")


@bp.before_request
def require_staff() -> ResponseReturnValue | None:
    # Every route of this blueprint, present and future, needs a signed-in account.
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    return None


load_event_from_slug(bp, staff_event)


def _filters() -> queries.Filters:
    return queries.Filters.from_args(request.args)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("organiser/index.html", events=site().events)


@bp.get("/<slug>/")
def dashboard() -> ResponseReturnValue:
    return render_template(
        "organiser/dashboard.html", event=g.event, dashboard=queries.dashboard(g.event)
    )


@bp.get("/<slug>/inscrits")
def attendees() -> ResponseReturnValue:
    filters = _filters()
    page = queries.paginate(
        queries.attendee_list(g.event, filters), request.args.get("page"), per_page=50
    )
    return render_template(
        "organiser/attendees.html",
        event=g.event,
        page=page,
        search=filters.search,
        status=filters.status,
        statuses=STATUS_LABELS,
    )


@bp.get("/<slug>/inscrits/<public_id>")
def attendee(public_id: str) -> ResponseReturnValue:
    found = queries.registration(g.event, public_id)
    if found is None:
        abort(404)
    return render_template("organiser/attendee.html", event=g.event, registration=found)


def _export_name(event: Event, extension: str) -> str:
    return f"inscrits-{event.slug}-{clock.now().astimezone(PARIS):%Y%m%d-%H%M}.{extension}"


@bp.get("/<slug>/export.csv")
def export_csv() -> ResponseReturnValue:
    event: Event = g.event
    excel = request.args.get("dialect") != "rfc4180"
    rows = api.export(event, current_user.email, "csv" if excel else "csv-rfc4180", _filters())
    return Response(
        stream_with_context(exports.csv_chunks(event, rows, excel=excel)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{_export_name(event, "csv")}"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )


@bp.get("/<slug>/export.xlsx")
def export_xlsx() -> ResponseReturnValue:
    event: Event = g.event
    rows = api.export(event, current_user.email, "xlsx", _filters())
    return Response(
        stream_with_context(exports.xlsx_chunks(event, rows)),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={_export_name(event, 'xlsx')}"},
    )


@bp.get("/<slug>/inscrits/<public_id>/annuler")
def confirm_cancel(public_id: str) -> ResponseReturnValue:
    """The confirmation step before cancelling a registration: a page of its own, without JS."""
    found = queries.registration(g.event, public_id)
    if found is None:
        abort(404)
    if found.status not in ACTIVE:
        flash(f"Cette inscription est déjà {found.status.label.lower()}.", "info")
        return redirect(url_for(".attendee", public_id=public_id))
    return render_template("organiser/confirm_cancel.html", event=g.event, registration=found)


# An organiser's actions on one registration: (service, success message). Each is audited
# in its transaction; the agent gets an e-mail from each.
_ACTIONS = {
    "annuler": (
        api.cancel_registration,
        "L’inscription de {name} est annulée ; un e-mail le lui annonce.",
    ),
    "renvoyer-lien": (
        api.resend_confirmation,
        "Un nouveau lien de confirmation est envoyé à {email}.",
    ),
    "confirmer-place": (
        api.promote_registration,
        "{name} sort de la liste d’attente et obtient une place ; un e-mail le lui annonce.",
    ),
}


@bp.post("/<slug>/inscrits/<public_id>/<any(" + ", ".join(f"'{a}'" for a in _ACTIONS) + "):action>")
def attendee_action(public_id: str, action: str) -> ResponseReturnValue:
    act, done = _ACTIONS[action]
    try:
        changed = act(g.event, public_id, current_user.email)
    except RegistrationNotFound:
        abort(404)
    except ActionRefused as error:
        flash(error.message, "error")
    else:
        flash(done.format(name=changed.full_name, email=changed.email), "success")
    return redirect(url_for(".attendee", public_id=public_id))


@bp.get("/<slug>/emargement")
def sign_in_sheet() -> ResponseReturnValue:
    # Showing the sheet is a read, like the attendee list: no audit entry.
    attendees = queries.sign_in_sheet(g.event)
    return render_template("organiser/sign_in_sheet.html", event=g.event, attendees=attendees)


@bp.get("/<slug>/demandes")
def review_requests() -> ResponseReturnValue:
    return render_template(
        "organiser/review_requests.html",
        event=g.event,
        requests=queries.review_requests(g.event),
        form=ReviewForm(),
    )


@bp.post("/<slug>/demandes/<public_id>")
def decide(public_id: str) -> ResponseReturnValue:
    form = ReviewForm()
    if not form.validate_on_submit():
        problem = next((f"{f.label.text} : {f.errors[0]}" for f in form if f.errors), "")
        flash(problem or "La décision n’a pas pu être enregistrée. Réessayez.", "error")
    elif form.accept.data or form.refuse.data:
        message = form.message.data or ""
        try:
            if form.accept.data:
                decided = api.accept_request(
                    g.event, public_id, current_user.email, message, bool(form.accept_domain.data)
                )
            else:
                decided = api.refuse_request(g.event, public_id, current_user.email, message)
        except NotAwaitingReview as error:
            flash(error.message, "error")
        else:
            verdict = "refusée" if decided.status == Status.REFUSED else "acceptée"
            flash(
                f"Demande de {decided.full_name} {verdict} ; un e-mail le lui annonce.", "success"
            )
    return redirect(url_for(".review_requests"))


@bp.get("/courriels")
def failed_messages() -> ResponseReturnValue:
    return render_template("organiser/failed_messages.html", messages=queries.failed_messages())


@bp.post(f"/courriels/<int(max={ROW_ID_MAX}):message_id>/renvoyer")
def retry_message(message_id: int) -> ResponseReturnValue:
    if api.retry_message(message_id, current_user.email):
        flash("Le message est remis dans la file d’envoi.", "success")
    return redirect(url_for(".failed_messages"))
