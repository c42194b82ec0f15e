"""Organisers: dashboard, attendee list and detail, exports, sign-in sheet, failed e-mails."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, or_, select

from .. import clock, exports, services
from ..content import Event
from ..dates import PARIS
from ..extensions import db, login_manager
from ..models import (
    ACTIVE,
    STATUS_LABELS,
    Attendee,
    EventState,
    OutboxMessage,
    OutboxStatus,
    Status,
)
from .public import site

bp = Blueprint("organiser", __name__, url_prefix="/organisation")


@bp.before_request
def require_staff():
    # Every route of this blueprint, present and future, needs a signed-in account.
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def event_or_404(slug: str) -> Event:
    event = site().event(slug)
    if event is None:
        abort(404)
    return event


def attendee_query(state: EventState, search: str = "", status: str = ""):
    query = select(Attendee).where(Attendee.event_id == state.id)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(Attendee.first_name).like(pattern),
                func.lower(Attendee.last_name).like(pattern),
                func.lower(Attendee.email).like(pattern),
                func.lower(Attendee.employer).like(pattern),
                func.lower(Attendee.first_name + " " + Attendee.last_name).like(pattern),
            )
        )
    if status in {s.value for s in Status}:
        query = query.where(Attendee.status == status)
    return query


def _filters() -> tuple[str, str]:
    return request.args.get("q", "").strip()[:100], request.args.get("statut", "")


def _time_left(deadline: datetime, now: datetime) -> str:
    if now >= deadline:
        return "date limite passée"
    delta = deadline - now
    days, hours = delta.days, delta.seconds // 3600
    parts = []
    if days:
        parts.append(f"{days} jour{'s' if days > 1 else ''}")
    parts.append(f"{hours} heure{'s' if hours > 1 else ''}")
    return " et ".join(parts)


@bp.get("/")
def index():
    return render_template("organiser/index.html", events=site().events)


@bp.get("/<slug>/")
def dashboard(slug: str):
    event = event_or_404(slug)
    state = services.event_state(event)
    counts = dict(
        db.session.execute(
            select(Attendee.status, func.count())
            .where(Attendee.event_id == state.id)
            .group_by(Attendee.status)
        ).all()
    )
    per_day: Counter[str] = Counter()
    per_department: Counter[str] = Counter()
    for created_at, departments in db.session.execute(
        select(Attendee.created_at, Attendee.departments).where(Attendee.event_id == state.id)
    ):
        per_day[created_at.astimezone(PARIS).date().isoformat()] += 1
        per_department.update(departments or ())
    employers = db.session.execute(
        select(Attendee.employer, func.count().label("n"))
        .where(Attendee.event_id == state.id, Attendee.status.in_(ACTIVE))
        .group_by(Attendee.employer)
        .order_by(func.count().desc(), Attendee.employer)
        .limit(15)
    ).all()
    now = clock.now()
    return render_template(
        "organiser/dashboard.html",
        event=event,
        state=state,
        counts=[(s, counts.get(s, 0)) for s in Status],
        registration=services.registration_state(event, state, now),
        time_left=_time_left(event.deadline, now),
        per_day=sorted(per_day.items()),
        departments=[(d, per_department.get(d, 0)) for d in event.departments],
        employers=employers,
    )


@bp.get("/<slug>/inscrits")
def attendees(slug: str):
    event = event_or_404(slug)
    state = services.event_state(event)
    search, status = _filters()
    page = db.paginate(
        attendee_query(state, search, status).order_by(Attendee.last_name, Attendee.first_name),
        per_page=50,
        error_out=False,
    )
    return render_template(
        "organiser/attendees.html",
        event=event,
        page=page,
        search=search,
        status=status,
        statuses=STATUS_LABELS,
    )


@bp.get("/<slug>/inscrits/<public_id>")
def attendee(slug: str, public_id: str):
    event = event_or_404(slug)
    state = services.event_state(event)
    found = db.session.scalars(
        select(Attendee).where(Attendee.event_id == state.id, Attendee.public_id == public_id)
    ).first()
    if found is None:
        abort(404)
    return render_template("organiser/attendee.html", event=event, attendee=found)


def _export_name(event: Event, extension: str) -> str:
    return f"inscrits-{event.slug}-{clock.now().astimezone(PARIS):%Y%m%d-%H%M}.{extension}"


def _export_query(event: Event, kind: str):
    """The attendees for the current filter, streamed; the export is written to the audit log."""
    state = services.event_state(event)
    search, status = _filters()
    services.log_action(
        current_user.email, f"export-{kind}", event.slug, f"q={search!r} statut={status!r}"
    )
    # yield_per streams rows from the database: memory stays flat for any number.
    return (
        attendee_query(state, search, status)
        .order_by(Attendee.last_name, Attendee.first_name, Attendee.id)
        .execution_options(yield_per=1000)
    )


@bp.get("/<slug>/export.csv")
def export_csv(slug: str):
    event = event_or_404(slug)
    excel = request.args.get("dialect") != "rfc4180"
    query = _export_query(event, "csv" if excel else "csv-rfc4180")

    @stream_with_context
    def generate():
        yield from exports.csv_chunks(event, db.session.scalars(query), excel=excel)

    return Response(
        generate(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{_export_name(event, "csv")}"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )


@bp.get("/<slug>/export.xlsx")
def export_xlsx(slug: str):
    event = event_or_404(slug)
    return send_file(
        exports.xlsx_file(event, db.session.scalars(_export_query(event, "xlsx"))),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=_export_name(event, "xlsx"),
    )


@bp.get("/<slug>/emargement")
def sign_in_sheet(slug: str):
    event = event_or_404(slug)
    state = services.event_state(event)
    confirmed = db.session.scalars(
        attendee_query(state, status=Status.CONFIRMED.value).order_by(
            func.lower(Attendee.last_name), func.lower(Attendee.first_name)
        )
    ).all()
    services.log_action(current_user.email, "export-emargement", event.slug)
    return render_template("organiser/sign_in_sheet.html", event=event, attendees=confirmed)


@bp.get("/courriels")
def failed_messages():
    failed = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.id.desc())
        .limit(200)
    ).all()
    return render_template("organiser/failed_messages.html", messages=failed)


@bp.post("/courriels/<int:message_id>/renvoyer")
def retry_message(message_id: int):
    if services.retry_message(message_id, current_user.email):
        flash("Le message est remis dans la file d’envoi.", "success")
    return redirect(url_for(".failed_messages"))
