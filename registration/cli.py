"""Flask command groups: outbox, registrations, reminders."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from . import clock, content, mail, services
from .dates import datetime_fr
from .models import Attendee, Status

outbox = AppGroup("outbox", help="Les e-mails en attente d’envoi.")
registrations = AppGroup("registrations", help="Les inscriptions.")
reminders = AppGroup("reminders", help="Les rappels avant l’événement.")


def _site() -> content.Site:
    return content.load_site(current_app.config["CONTENT_DIR"])


@outbox.command("deliver")
@click.option("--limit", default=500, show_default=True, help="Messages au plus par passage.")
def outbox_deliver(limit: int) -> None:
    """Send pending messages; safe from cron, and safe to run twice at once."""
    report = mail.deliver(limit=limit)
    click.echo(
        f"envoyés : {report.sent}, à réessayer : {report.retrying}, en échec : {report.failed}"
    )


@outbox.command("status")
def outbox_status() -> None:
    """Counts by state, and the last error."""
    counts, last = mail.status_counts()
    labels = {"pending": "en attente", "sending": "en cours", "sent": "envoyés", "failed": "échec"}
    for key, label in labels.items():
        click.echo(f"{label} : {counts[key]}")
    if last is not None:
        click.echo(f"dernière erreur (message {last.id}, {last.recipient}) : {last.last_error}")


@registrations.command("expire")
def registrations_expire() -> None:
    """Expire unconfirmed registrations past their hold time, and move the waiting list up."""
    for event in _site().events:
        state = services.event_state(event)
        click.echo(f"{event.slug} : {state.seats_taken} place(s) prise(s)")


@reminders.command("send")
@click.option("--days", default=2, show_default=True, help="Jours avant l’événement.")
def reminders_send(days: int) -> None:
    """Remind each confirmed attendee once, N days before the event."""
    now = clock.now()
    for event in _site().events:
        if not (now < event.start <= now + timedelta(days=days)):
            continue
        with current_app.test_request_context(), services.transaction() as session:
            state = services.lock_event(session, event)
            due = session.scalars(
                select(Attendee).where(
                    Attendee.event_id == state.id,
                    Attendee.status == Status.CONFIRMED,
                    Attendee.reminded_at.is_(None),
                )
            ).all()
            for attendee in due:
                attendee.reminded_at = now
                mail.queue(session, "reminder", event, attendee)
        click.echo(f"{event.slug} ({datetime_fr(event.start)}) : {len(due)} rappel(s) en attente")
    report = mail.deliver()
    click.echo(f"envoyés : {report.sent}, à réessayer : {report.retrying}")


def register(app: Flask) -> None:
    for group in (outbox, registrations, reminders):
        app.cli.add_command(group)
