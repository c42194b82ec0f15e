"""/healthz, for the load balancer and the monitoring: is the database answering?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    """200 {"status": "ok", "database": "ok"}, or 503 when the database does not answer.
    Nothing else is touched (no session, no content), so a probe costs one round trip."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        # The class only: a connection error's text names the server and the user.
        current_app.logger.warning("healthz: database unreachable (%s)", type(error).__name__)
        body, status = {"status": "error", "database": "unreachable"}, 503
    else:
        body, status = {"status": "ok", "database": "ok"}, 200
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
