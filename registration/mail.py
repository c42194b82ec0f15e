"""The outbox: every message is written in the transaction that causes it, delivered after.

`queue()` renders a message from templates/email/ into the outbox table. After the response
is sent, the request delivers what it queued; `flask outbox deliver` sends whatever is left,
with exponential backoff. Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL (and
under BEGIN IMMEDIATE on SQLite), so two deliverers never send the same message.
"""

from __future__ import annotations

import smtplib
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, has_request_context, render_template
from flask_mail import Connection, Message
from icalendar import Calendar
from icalendar import Event as CalendarEvent
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from . import clock, links
from .content import Event
from .dates import PARIS
from .db import transaction
from .extensions import db
from .models import OutboxMessage, OutboxStatus, Registration, Status

SUBJECTS = {
    "confirm_address": "Confirmez votre inscription : {title}",
    "confirmed": "Inscription confirmée : {title}",
    "waitlisted": "Vous êtes sur liste d’attente : {title}",
    "promoted": "Une place s’est libérée pour vous : {title}",
    "cancelled": "Inscription annulée : {title}",
    "duplicate": "Rappel de votre inscription : {title}",
    "reminder": "Rappel : {title}, bientôt",
    "review_received": "Votre demande sera vérifiée : {title}",
    "review_accepted": "Votre demande d’inscription est acceptée : {title}",
    "review_refused": "Votre demande d’inscription n’est pas acceptée : {title}",
}
STALE_CLAIM = timedelta(minutes=10)


def external_url(endpoint: str, **values: object) -> str:
    """An absolute link on the public address the service answers at, with or without a
    request (the reminders run from the command line)."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def _sender_domain() -> str:
    return parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2] or "localhost"


def calendar_invite(event: Event, registration: Registration) -> str:
    """An .ics invite with a VTIMEZONE and a UID stable for the registration."""
    cal = Calendar()
    cal.add("prodid", "-//inscriptions//FR")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    entry = CalendarEvent()
    entry.add("uid", f"{registration.public_id}@{_sender_domain()}")
    entry.add("dtstamp", clock.now())
    entry.add("dtstart", event.start.astimezone(PARIS))
    entry.add("dtend", event.ends_at.astimezone(PARIS))
    entry.add("summary", event.title)
    entry.add("location", ", ".join(p for p in (event.place, event.address) if p))
    entry.add("description", event.chapeau)
    entry.add("url", external_url("public.event", slug=event.slug))
    cal.add_component(entry)
    cal.add_missing_timezones()
    return str(cal.to_ical().decode("utf-8"))


def queue(session: Session, kind: str, event: Event, registration: Registration) -> OutboxMessage:
    """Render a message about a registration into the outbox, in the caller's transaction."""
    context = {
        "event": event,
        "registration": registration,
        "event_url": external_url("public.event", slug=event.slug),
        "manage_url": external_url(
            "public.manage", slug=event.slug, token=links.manage_token(registration)
        ),
        "confirm_url": external_url(
            "public.confirm", slug=event.slug, token=links.confirm_token(registration)
        ),
    }
    # Only a held seat comes with an invitation for the agenda.
    with_invite = kind in {"confirmed", "reminder", "promoted"} or (
        kind == "review_accepted" and registration.status == Status.CONFIRMED
    )
    now = clock.now()
    message = OutboxMessage(
        attendee_id=registration.id,
        kind=kind,
        recipient=registration.email,
        subject=SUBJECTS[kind].format(title=event.title),
        body_text=render_template(f"email/{kind}.txt", **context),
        body_html=render_template(f"email/{kind}.html", **context),
        ics=calendar_invite(event, registration) if with_invite else None,
        message_id=make_msgid(domain=_sender_domain()),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    deliver_after_response(message.id)
    return message


def deliver_after_response(message_id: int) -> None:
    """Within a request, try this message once the response is sent (see init_app)."""
    if has_request_context():
        g.setdefault("outbox_ids", []).append(message_id)


# --- Delivery -------------------------------------------------------------------------------


class TimeoutConnection(Connection):
    """Flask-Mail's connection opens SMTP without a timeout; a down server must not hang us."""

    def configure_host(self) -> smtplib.SMTP:
        timeout = current_app.config["MAIL_TIMEOUT"]
        smtp_class = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp_class(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def _as_mail(row: OutboxMessage) -> Message:
    message = Message(
        subject=row.subject,
        recipients=[row.recipient],
        body=row.body_text,
        html=row.body_html or None,
    )
    message.msgId = row.message_id  # fixed when queued: a retry keeps the same Message-ID
    if row.ics:
        # Flask-Mail splits the type on "/": the parameters ride along with the subtype.
        message.attach(
            "invitation.ics", "text/calendar; charset=utf-8; method=PUBLISH", row.ics.encode()
        )
    return message


def _write_file(message: Message, row: OutboxMessage) -> None:
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{row.created_at:%Y%m%d-%H%M%S}-{row.id:06d}-{row.kind}.eml"
    (folder / name).write_bytes(message.as_bytes())


def _claim(ids: list[int] | None, limit: int) -> list[OutboxMessage]:
    now = clock.now()
    query = (
        select(OutboxMessage)
        .where(
            or_(
                (OutboxMessage.status == OutboxStatus.PENDING)
                & (OutboxMessage.next_attempt_at <= now),
                # a deliverer that died mid-send leaves a claim behind; take it over later
                (OutboxMessage.status == OutboxStatus.SENDING)
                & (OutboxMessage.claimed_at < now - STALE_CLAIM),
            )
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    with transaction() as session:
        rows = list(session.scalars(query))
        for row in rows:
            row.status = OutboxStatus.SENDING
            row.claimed_at = now
            row.attempts += 1
    return rows


def _settle(row: OutboxMessage, error: str | None) -> str:
    now = clock.now()
    if error is None:
        values = {"status": OutboxStatus.SENT, "sent_at": now, "last_error": ""}
    elif row.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        values = {"status": OutboxStatus.FAILED, "last_error": error}
    else:
        backoff = timedelta(minutes=2 ** (row.attempts - 1))
        values = {
            "status": OutboxStatus.PENDING,
            "last_error": error,
            "next_attempt_at": now + backoff,
        }
    with transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == OutboxStatus.SENDING)
            .values(**values)
        )
    return str(values["status"])


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver(ids: list[int] | None = None, limit: int = 200) -> DeliveryReport:
    """Send pending messages (all of them, or only `ids`). Never raises for SMTP trouble."""
    rows = _claim(ids, limit)
    if not rows:
        return DeliveryReport()
    outcomes: Counter[str] = Counter()
    if current_app.config["MAIL_BACKEND"] == "file":
        for row in rows:
            _write_file(_as_mail(row), row)
            outcomes[_settle(row, None)] += 1
        return DeliveryReport(sent=outcomes["sent"])
    try:
        # The app's own Flask-Mail state: the `mail` object answers for the last app set up.
        with TimeoutConnection(current_app.extensions["mail"]) as connection:
            for row in rows:
                try:
                    connection.send(_as_mail(row))
                except (smtplib.SMTPException, OSError) as exc:
                    outcomes[_settle(row, f"{type(exc).__name__}: {exc}")] += 1
                else:
                    outcomes[_settle(row, None)] += 1
    except (smtplib.SMTPException, OSError) as exc:
        # The server could not be reached: every message not yet settled goes back in line.
        for row in rows:
            current = db.session.get(OutboxMessage, row.id)
            if current is not None and current.status == OutboxStatus.SENDING:
                outcomes[_settle(row, f"{type(exc).__name__}: {exc}")] += 1
    return DeliveryReport(
        sent=outcomes["sent"], retrying=outcomes["pending"], failed=outcomes["failed"]
    )


def status_counts() -> tuple[dict[str, int], OutboxMessage | None]:
    """Counts by state, and the last message that met an error."""
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    last_error = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.last_error != "")
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).first()
    return {str(s): counts.get(s, 0) for s in OutboxStatus}, last_error


def init_app(app: Flask) -> None:
    """After a response is sent, deliver what that request queued."""

    @app.after_request
    def deliver_after_response(response: Response) -> Response:
        ids = g.pop("outbox_ids", None)
        if ids:

            def send() -> None:
                with app.app_context():
                    try:
                        deliver(ids)
                    except Exception:  # the outbox keeps them for `flask outbox deliver`
                        app.logger.exception("Immediate delivery failed; left in the outbox")

            response.call_on_close(send)
        return response
