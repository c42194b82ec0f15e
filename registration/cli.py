"""Flask command groups: outbox, registrations, reminders."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import accounts, content, mail
from .backoffice import api as backoffice
from .backoffice import queries
from .models import Role, User
from .registrations import api as registrations_api

outbox = AppGroup("outbox", help="Les e-mails en attente d’envoi.")
registrations = AppGroup("registrations", help="Les inscriptions.")
reminders = AppGroup("reminders", help="Les rappels avant l’événement.")


def _site() -> content.Site:
    return content.load_site(current_app.config["CONTENT_DIR"])


@outbox.command("deliver")
@click.option("--batch", default=100, show_default=True, help="Messages réservés à la fois.")
def outbox_deliver(batch: int) -> None:
    """Send every message due, batch by batch; safe from cron, and safe to run twice at once."""
    sent = retrying = failed = 0
    while True:
        report = mail.deliver(limit=batch)
        sent, retrying, failed = (
            sent + report.sent,
            retrying + report.retrying,
            failed + report.failed,
        )
        if report.sent + report.retrying + report.failed == 0:
            break
    click.echo(f"envoyés : {sent}, à réessayer : {retrying}, en échec : {failed}")


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
        expired = registrations_api.expire_overdue(event)
        click.echo(f"{event.slug} : {expired} inscription(s) expirée(s)")


@reminders.command("send")
@click.option("--days", default=2, show_default=True, help="Jours avant l’événement.")
def reminders_send(days: int) -> None:
    """Remind each confirmed attendee once, N days before the event."""
    for slug, count in backoffice.queue_reminders(_site().events, days).items():
        click.echo(f"{slug} : {count} rappel(s) en attente")
    report = mail.deliver()
    click.echo(f"envoyés : {report.sent}, à réessayer : {report.retrying}")


users = AppGroup("users", help="Les comptes des organisateurs et administrateurs.")
attendees = AppGroup("attendees", help="Les données des inscrits.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)


def _user_or_exit(email: str) -> User:
    user = accounts.find(email)
    if user is None:
        raise click.ClickException(f"Aucun compte pour {email}.")
    return user


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Lire le mot de passe sur l’entrée standard.")
def users_create(email: str, role: str, password_stdin: bool) -> None:
    """Create an account; the password is asked for on a prompt."""
    try:
        user = accounts.create_user(email, _read_password(password_stdin), Role(role))
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Compte créé : {user.email} ({user.role.label})")


@users.command("list")
def users_list() -> None:
    """List accounts."""
    for user in queries.users():
        state = "actif" if user.active else "désactivé"
        click.echo(f"{user.email}\t{user.role.value}\t{state}")


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable an account: it can no longer sign in."""
    accounts.set_active(_user_or_exit(email), False)
    click.echo(f"Compte désactivé : {email}")


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Lire le mot de passe sur l’entrée standard.")
def users_set_password(email: str, password_stdin: bool) -> None:
    """Set a new password."""
    try:
        accounts.set_password(_user_or_exit(email), _read_password(password_stdin))
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Mot de passe changé : {email}")


def _days(value: str) -> timedelta:
    if not value.endswith("d") or not value[:-1].isdigit():
        raise click.BadParameter("une durée en jours, par exemple 90d")
    return timedelta(days=int(value[:-1]))


@attendees.command("purge")
@click.option("--older-than", "older_than", required=True, help="Par exemple 90d.")
def attendees_purge(older_than: str) -> None:
    """Delete the attendees of events that ended more than N days ago (logged for admins)."""
    deleted = backoffice.purge_registrations(
        _site().events, _days(older_than), actor="flask attendees purge"
    )
    for slug, count in deleted.items():
        click.echo(f"{slug} : {count} inscription(s) supprimée(s)")
    if not deleted:
        click.echo("Aucun événement terminé depuis assez longtemps.")


def register(app: Flask) -> None:
    for group in (outbox, registrations, reminders, users, attendees):
        app.cli.add_command(group)
