"""Admins: close and reopen registration, places, accounts, the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from .. import accounts
from ..backoffice import api, journal, queries
from ..backoffice.forms import AccountForm, CapacityForm, NoticeForm
from ..extensions import login_manager
from ..forms import add_error
from ..http import ROW_ID_MAX
from ..models import Role
from ..registrations.exceptions import CapacityTooLow
from . import load_event_from_slug, site, staff_event

bp = Blueprint("admin", __name__, url_prefix="/administration")


@bp.before_request
def require_admin() -> ResponseReturnValue | None:
    # Every route of this blueprint, present and future, is for admins only.
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    if not current_user.is_admin:
        abort(403)
    return None


load_event_from_slug(bp, staff_event)


def _event_page(capacity_form: CapacityForm | None = None) -> ResponseReturnValue:
    overview = queries.overview(g.event)
    return render_template(
        "admin/event.html",
        event=g.event,
        overview=overview,
        capacity_form=capacity_form or CapacityForm(capacity=overview.capacity.places),
    )


@bp.get("/<slug>/")
def event() -> ResponseReturnValue:
    return _event_page()


@bp.route("/<slug>/<any(fermer, rouvrir):action>", methods=["GET", "POST"])
def open_or_close(action: str) -> ResponseReturnValue:
    """GET shows the confirmation step; POST acts."""
    form = NoticeForm()
    if form.validate_on_submit():
        api.set_registration_open(
            g.event, current_user.email, is_open=action == "rouvrir", notice=form.notice.data or ""
        )
        flash(
            "Les inscriptions sont rouvertes."
            if action == "rouvrir"
            else "Les inscriptions sont fermées.",
            "success",
        )
        return redirect(url_for(".event"))
    return render_template("admin/confirm_open_close.html", event=g.event, form=form, action=action)


@bp.post("/<slug>/places")
def capacity() -> ResponseReturnValue:
    form = CapacityForm()
    if form.validate_on_submit():
        try:
            if form.use_file.data:
                api.use_file_capacity(g.event, current_user.email)
            else:
                api.change_capacity(g.event, current_user.email, form.capacity.data)
        except CapacityTooLow as error:
            add_error(form.capacity, error.message)
        else:
            flash("Le nombre de places est enregistré.", "success")
            return redirect(url_for(".event"))
    return _event_page(form)


@bp.route("/comptes", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = api.create_account(
                form.email.data or "",
                form.password.data or "",
                Role(form.role.data),
                current_user.email,
            )
        except accounts.AccountError as error:
            add_error(form.email, str(error))
        else:
            flash(f"Compte créé pour {user.email}.", "success")
            return redirect(url_for(".users"))
    return render_template("admin/users.html", form=form, users=queries.users())


@bp.route(
    f"/comptes/<int(max={ROW_ID_MAX}):user_id>/<any(desactiver, reactiver):action>",
    methods=["GET", "POST"],
)
def toggle_user(user_id: int, action: str) -> ResponseReturnValue:
    """GET shows the confirmation step before disabling (a page, without JS); POST acts."""
    if user_id == current_user.id:
        flash("Vous ne pouvez pas désactiver votre propre compte.", "error")
        return redirect(url_for(".users"))
    if request.method == "GET":
        user = queries.user(user_id)
        if user is None:
            abort(404)
        if action == "reactiver" or not user.active:
            return redirect(url_for(".users"))
        return render_template("admin/confirm_disable_user.html", user=user)
    user = api.set_account_active(user_id, action == "reactiver", current_user.email)
    if user is None:
        abort(404)
    flash(f"Compte {'réactivé' if user.active else 'désactivé'} : {user.email}.", "success")
    return redirect(url_for(".users"))


@bp.get("/journal")
def audit_log() -> ResponseReturnValue:
    page = queries.paginate(queries.audit_log(), request.args.get("page"), per_page=100)
    return render_template(
        "admin/audit_log.html", page=page, entries=journal.lines(page.items, site())
    )
