"""Check-in: the Accueil page of the organiser area (a phone at the door) and its JSON
endpoints; the attendee's printable ticket; jsQR, served from node_modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from .. import clock
from ..checkin import api, codes, queries
from ..extensions import login_manager
from ..models import Status
from ..registrations import queries as registrations
from ..registrations.exceptions import InvalidLink
from . import load_event_from_slug, staff_event
from .public import visible_event

bp = Blueprint("checkin", __name__, url_prefix="/organisation")
tickets = Blueprint("tickets", __name__)

# The Accueil page uses the camera of its own origin; every other page keeps it off.
CAMERA_ALLOWED = (
    "accelerometer=(), camera=(self), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
CODE_MAX = 400
SIGNED_OUT = "Votre session a pris fin : reconnectez-vous. Les passages non envoyés sont gardés."
RELOAD = "La page a expiré : rechargez-la. Les passages non envoyés sont gardés."


def _json_error(message: str, status: int, **extra: Any) -> ResponseReturnValue:
    return jsonify(error=message, **extra), status


@bp.before_request
def require_staff() -> ResponseReturnValue | None:
    if current_user.is_authenticated:
        return None
    if request.endpoint == "checkin.accueil":
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    return _json_error(SIGNED_OUT, 401, signed_out=True)


load_event_from_slug(bp, staff_event)


@bp.after_request
def private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    if request.endpoint == "checkin.accueil":
        response.headers["Permissions-Policy"] = CAMERA_ALLOWED
    return response


@bp.errorhandler(CSRFError)
def csrf_error(error: CSRFError) -> ResponseReturnValue:
    return _json_error(RELOAD, 400, reload=True)


@bp.get("/<slug>/accueil")
def accueil() -> ResponseReturnValue:
    return render_template(
        "organiser/accueil.html", event=g.event, arrivals=queries.arrivals(g.event)
    )


def _scanned_at(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@bp.post("/<slug>/accueil/arrivees")
def check_in() -> ResponseReturnValue:
    """A scanned code (`code`) or a choice in the search (`id`); `scan` is the phone's own
    id for it, given back; `at`, when the phone scanned it (ISO 8601)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _json_error("Requête illisible.", 400)
    code, public_id, scan = data.get("code"), data.get("id"), data.get("scan")
    # The NUL guard (registration.http) reads no JSON; PostgreSQL refuses NUL in any text.
    if any(isinstance(value, str) and "\x00" in value for value in (public_id, data.get("at"))):
        return _json_error("Caractère nul dans la requête.", 400)
    at = _scanned_at(data.get("at"))
    if isinstance(code, str) and code:
        # Whatever the camera read (a vCard, a long address, bytes): red, like a forged code.
        if len(code) > CODE_MAX or "\x00" in code:
            answer = api.unknown_code()
        else:
            answer = api.check_in_code(g.event, code, current_user, at)
    elif isinstance(public_id, str) and 0 < len(public_id) <= 32:
        answer = api.check_in(g.event, public_id, current_user, at)
    else:
        return _json_error("Ni code ni inscription dans la requête.", 400)
    return jsonify(
        {
            **answer.as_json(),
            "scan": scan if isinstance(scan, str) else None,
            "arrivals": queries.arrivals(g.event).as_json(),
        }
    )


@bp.post("/<slug>/accueil/arrivees/<public_id>/annuler")
def undo(public_id: str) -> ResponseReturnValue:
    try:
        found = api.undo(g.event, public_id, current_user)
    except api.NothingToUndo as error:
        return _json_error(error.message, 409)
    return jsonify(
        message=f"Arrivée de {found.full_name} annulée.",
        public_id=found.public_id,
        arrivals=queries.arrivals(g.event).as_json(),
    )


@bp.get("/<slug>/accueil/recherche")
def search() -> ResponseReturnValue:
    now = clock.now()
    found = queries.search(g.event, request.args.get("q", ""))
    return jsonify(
        results=[
            {
                "public_id": r.public_id,
                "name": r.full_name,
                "employer": r.employer,
                "status": r.status_at(now).label,
                "confirmed": r.status_at(now) == Status.CONFIRMED,
                "arrived": (
                    f"Arrivée {api.when_fr(r.checked_in_at, now)}" if r.checked_in_at else ""
                ),
            }
            for r in found
        ]
    )


@bp.get("/<slug>/arrivees")
def arrivals() -> ResponseReturnValue:
    """The arrivals, for the dashboard's live figure."""
    return jsonify(queries.arrivals(g.event).as_json())


# --- The attendee's ticket ----------------------------------------------------------------

load_event_from_slug(tickets, visible_event)


@tickets.after_request
def no_copy(response: Response) -> Response:
    # The URL carries the management link's token: no browser or proxy keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@tickets.get("/agenda/<slug>/mon-inscription/<token>/billet")
def ticket(token: str) -> ResponseReturnValue:
    try:
        registration = registrations.registration_for_link(g.event, token)
    except InvalidLink:
        abort(404)
    status = registration.status_at(clock.now())
    code = codes.code_for(registration, g.event.slug) if status == Status.CONFIRMED else None
    return render_template(
        "public/ticket.html",
        event=g.event,
        registration=registration,
        status=status,
        token=token,
        qr=codes.qr_svg_data_uri(code) if code else None,
        code=code,
    )


def init_app(app: Flask) -> None:
    """The blueprints, and jsQR (the camera's decoder where the browser has no
    BarcodeDetector), served from node_modules as the DSFR is."""
    app.register_blueprint(bp)
    app.register_blueprint(tickets)
    jsqr = Blueprint(
        "jsqr", __name__, static_folder=app.config["JSQR_DIST"], static_url_path="/static/jsqr"
    )
    app.register_blueprint(jsqr)
    app.add_template_global(_qr_of, "checkin_qr")
    app.add_template_global(codes.code_for, "checkin_code_of")
    app.add_template_global(queries.arrivals, "checkin_arrivals")


def _qr_of(registration: codes.Coded, event_slug: str) -> str:
    """The QR code of a confirmed registration, for its pages ("" for any other)."""
    code = codes.code_for(registration, event_slug)
    return codes.qr_svg_data_uri(code) if code else ""
