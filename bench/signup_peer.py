"""The peer of bench/signups.py: the same five steps of a sign-up, written as the smallest
Flask app the required stack allows (Flask, Flask-WTF with its CSRF, SQLAlchemy Core on
psycopg, the same tables, the same statements, the same QR code), with none of the service's
features: no content files, no eligibility list, no rate limits, no e-mail templates, no
logs, no security headers, no waiting list.

It is what the stack itself costs on this machine. Run by bench/signups.py under the same
gunicorn settings, driven by the same client:

    GET  /agenda/<slug>/inscription                  the form (availability: one SELECT)
    POST /agenda/<slug>/inscription                  the registration, its history, its e-mail
    GET  /agenda/<slug>/inscription/confirmer/<tok>  the confirmation page
    POST /agenda/<slug>/inscription/confirmer/<tok>  the seat (guarded UPDATE), history, e-mail
    GET  /agenda/<slug>/mon-inscription/<tok>        the registration and its QR code
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta

from flask import Flask, abort, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from jinja2 import DictLoader
from sqlalchemy import Connection, create_engine, text
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Email, Length

from registration.checkin import codes

app = Flask(__name__)
app.config.update(SECRET_KEY=os.environ["SECRET_KEY"], WTF_CSRF_TIME_LIMIT=None)
CSRFProtect(app)
engine = create_engine(os.environ["DATABASE_URL"])
confirm_links = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="confirm-address")
manage_links = URLSafeSerializer(app.config["SECRET_KEY"], salt="manage-peer")


class RegistrationForm(FlaskForm):
    first_name = StringField("Prénom", [DataRequired(), Length(max=100)])
    last_name = StringField("Nom", [DataRequired(), Length(max=100)])
    email = EmailField("Adresse électronique", [DataRequired(), Email(), Length(max=254)])
    employer = StringField("Administration", [DataRequired(), Length(max=200)])
    job_title = StringField("Fonction", [DataRequired(), Length(max=200)])
    q_departements = StringField("Département", [Length(max=200)])
    website = StringField("Site web")


PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>{{ title }}</title></head><body><main><h1>{{ title }}</h1>{% block body %}{% endblock %}
</main></body></html>"""
FORM = PAGE.replace(
    "{% block body %}{% endblock %}",
    """{% if full %}<p>Complet – liste d’attente</p>{% endif %}
<form method="post">{{ form.hidden_tag() }}
{% for field in form if field.name != "csrf_token" %}
<p>{{ field.label }} {{ field(autocomplete="off") }}
{% for error in field.errors %}<span>{{ error }}</span>{% endfor %}</p>{% endfor %}
<button type="submit">S’inscrire</button></form>""",
)
CONFIRM = PAGE.replace(
    "{% block body %}{% endblock %}",
    """<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit">Confirmer mon inscription</button></form>""",
)
MANAGE = PAGE.replace(
    "{% block body %}{% endblock %}",
    """<p>{{ r.first_name }} {{ r.last_name }}, {{ r.email }} : {{ r.status }}</p>
{% if qr %}<img src="{{ qr }}" alt="Votre code d’accueil">{% endif %}""",
)

AVAILABILITY = text(
    "SELECT id, is_open, seats_taken, capacity_override FROM events WHERE slug = :slug"
)
INSERT_REGISTRATION = text(
    "INSERT INTO attendees (public_id, event_id, email, first_name, last_name, employer,"
    " job_title, answers, accessibility_needs, status, justification, review_message,"
    " reviewed_by, expires_at, created_at, updated_at) VALUES (:public_id, :event_id, :email,"
    " :first_name, :last_name, :employer, :job_title, :answers, '', 'pending', '', '', '',"
    " :expires_at, :now, :now) ON CONFLICT DO NOTHING RETURNING id"
)
HISTORY = text(
    "INSERT INTO attendee_status_changes (attendee_id, status, reason, at)"
    " VALUES (:id, :status, :reason, :now) RETURNING id"
)
OUTBOX = text(
    "INSERT INTO outbox (attendee_id, kind, recipient, subject, message_id, status, attempts,"
    " last_error, created_at, next_attempt_at, params) VALUES (:id, :kind, :email, :subject,"
    " :message_id, 'pending', 0, '', :now, :now, :params)"
)
FIND = text(
    "SELECT a.id, a.event_id, a.email, a.status, a.public_id FROM attendees a"
    " JOIN events e ON e.id = a.event_id WHERE a.public_id = :public_id AND e.slug = :slug"
    " FOR UPDATE OF a"
)
PROVE = text(
    "UPDATE attendees SET status = 'confirmed', email_confirmed_at = :now, expires_at = NULL,"
    " updated_at = :now WHERE id = :id"
)
TAKE_SEAT = text(
    "UPDATE events SET seats_taken = seats_taken + 1, updated_at = :now WHERE id = :event_id"
    " AND (capacity_override IS NULL OR seats_taken < capacity_override) RETURNING seats_taken"
)
app.jinja_loader = DictLoader({"form.html": FORM, "confirm.html": CONFIRM, "manage.html": MANAGE})

SHOW = text(
    "SELECT a.first_name, a.last_name, a.email, a.status, a.public_id FROM attendees a"
    " JOIN events e ON e.id = a.event_id WHERE a.public_id = :public_id AND e.slug = :slug"
)


def queue(
    connection: Connection, kind: str, registration_id: int, email: str, now: datetime
) -> None:
    params = f'{{"kind": "{kind}", "registration": {registration_id}}}'
    message_id = f"<{secrets.token_hex(16)}@peer>"
    connection.execute(
        OUTBOX,
        {
            "id": registration_id,
            "kind": kind,
            "email": email,
            "subject": kind,
            "message_id": message_id,
            "now": now,
            "params": params,
        },
    )


@app.route("/agenda/<slug>/inscription", methods=["GET", "POST"])
def register(slug: str) -> ResponseReturnValue:
    form = RegistrationForm()
    if not form.validate_on_submit():
        with engine.connect() as connection:
            event = connection.execute(AVAILABILITY, {"slug": slug}).first()
        if event is None or not event.is_open:
            abort(404)
        full = event.capacity_override is not None and event.seats_taken >= event.capacity_override
        return render_template("form.html", title="Inscription", form=form, full=full)
    now = datetime.now(UTC)
    email = (form.email.data or "").lower()
    with engine.begin() as connection:
        event = connection.execute(AVAILABILITY, {"slug": slug}).first()
        if event is None or not event.is_open:
            abort(404)
        registration_id = connection.execute(
            INSERT_REGISTRATION,
            {
                "public_id": secrets.token_urlsafe(16),
                "event_id": event.id,
                "email": email,
                "first_name": form.first_name.data,
                "last_name": form.last_name.data,
                "employer": form.employer.data,
                "job_title": form.job_title.data,
                "answers": f'{{"departements": "{form.q_departements.data}"}}',
                "expires_at": now + timedelta(hours=24),
                "now": now,
            },
        ).scalar()
        if registration_id is not None:
            history = {"id": registration_id, "status": "pending", "reason": "inscription reçue"}
            connection.execute(HISTORY, {**history, "now": now})
            queue(connection, "confirm_address", registration_id, email, now)
    return redirect(f"/agenda/{slug}/inscription/envoyee")


@app.route("/agenda/<slug>/inscription/confirmer/<token>", methods=["GET", "POST"])
def confirm(slug: str, token: str) -> ResponseReturnValue:
    public_id = confirm_links.loads(token)  # the client's links carry a timestamp: unchecked
    if request.method == "GET":
        return render_template("confirm.html", title="Confirmer votre inscription")
    now = datetime.now(UTC)
    with engine.begin() as connection:
        found = connection.execute(FIND, {"public_id": public_id, "slug": slug}).first()
        if found is None:
            abort(404)
        if found.status == "pending":
            connection.execute(PROVE, {"id": found.id, "now": now})
            history = {"id": found.id, "status": "confirmed", "reason": "adresse confirmée"}
            connection.execute(HISTORY, {**history, "now": now})
            queue(connection, "confirmed", found.id, found.email, now)
            connection.execute(TAKE_SEAT, {"event_id": found.event_id, "now": now})
    return redirect(f"/agenda/{slug}/mon-inscription/{manage_links.dumps(public_id)}")


@app.get("/agenda/<slug>/mon-inscription/<token>")
def manage(slug: str, token: str) -> ResponseReturnValue:
    public_id = manage_links.loads(token)
    with engine.connect() as connection:
        registration = connection.execute(SHOW, {"public_id": public_id, "slug": slug}).first()
    if registration is None:
        abort(404)
    qr = ""
    if registration.status == "confirmed":
        qr = codes.qr_svg_data_uri(codes.checkin_code(registration.public_id, slug))
    return render_template("manage.html", title="Mon inscription", r=registration, qr=qr)


@app.get("/healthz")
def healthz() -> str:
    return "ok"
