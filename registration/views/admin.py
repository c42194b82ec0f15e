"""Admins: close and reopen registration, places, accounts, the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import accounts, clock, services
from ..extensions import db, login_manager
from ..forms import AccountForm, CapacityForm, NoticeForm
from ..models import AuditEntry, Role, User
from .organiser import event_or_404

bp = Blueprint("admin", __name__, url_prefix="/administration")


@bp.before_request
def require_admin():
    # Every route of this blueprint, present and future, is for admins only.
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


def _event_page(event, capacity_form: CapacityForm | None = None):
    state = services.event_state(event)
    return render_template(
        "admin/event.html",
        event=event,
        state=state,
        registration=services.registration_state(event, state, clock.now()),
        capacity_form=capacity_form or CapacityForm(capacity=state.capacity),
    )


@bp.get("/<slug>/")
def event(slug: str):
    return _event_page(event_or_404(slug))


@bp.route("/<slug>/<any(fermer, rouvrir):action>", methods=["GET", "POST"])
def open_or_close(slug: str, action: str):
    """GET shows the confirmation step; POST acts."""
    event = event_or_404(slug)
    form = NoticeForm()
    if form.validate_on_submit():
        services.set_registration_open(
            event, current_user.email, is_open=action == "rouvrir", notice=form.notice.data or ""
        )
        flash(
            "Les inscriptions sont rouvertes."
            if action == "rouvrir"
            else "Les inscriptions sont fermées.",
            "success",
        )
        return redirect(url_for(".event", slug=slug))
    return render_template("admin/confirm_open_close.html", event=event, form=form, action=action)


@bp.post("/<slug>/places")
def capacity(slug: str):
    event = event_or_404(slug)
    form = CapacityForm()
    if form.validate_on_submit():
        try:
            services.change_capacity(event, current_user.email, form.capacity.data)
        except services.CapacityTooLow as error:
            form.capacity.errors.append(error.message)
        else:
            flash("Le nombre de places est enregistré.", "success")
            return redirect(url_for(".event", slug=slug))
    return _event_page(event, form)


@bp.route("/comptes", methods=["GET", "POST"])
def users():
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data, form.password.data, Role(form.role.data))
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            services.log_action(
                current_user.email, "create-user", details=f"{user.email} ({user.role.value})"
            )
            flash(f"Compte créé pour {user.email}.", "success")
            return redirect(url_for(".users"))
    listed = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", form=form, users=listed)


@bp.post("/comptes/<int:user_id>/<any(desactiver, reactiver):action>")
def toggle_user(user_id: int, action: str):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash("Vous ne pouvez pas désactiver votre propre compte.", "error")
        return redirect(url_for(".users"))
    accounts.set_active(user, action == "reactiver")
    services.log_action(current_user.email, f"user-{action}", details=user.email)
    flash(f"Compte {'réactivé' if user.active else 'désactivé'} : {user.email}.", "success")
    return redirect(url_for(".users"))


@bp.get("/journal")
def audit_log():
    page = db.paginate(
        select(AuditEntry).order_by(AuditEntry.id.desc()), per_page=100, error_out=False
    )
    return render_template("admin/audit_log.html", page=page, args=request.args)
