"""Flask command groups: outbox, registrations, reminders, users, attendees, domains, content."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import accounts, content, domain_list, eligibility, mail
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
    """Send every message due, batch by batch, then stop: for cron, safe to run twice at once."""
    report = mail.deliver_all(batch)
    click.echo(
        f"envoyés : {report.sent}, à réessayer : {report.retrying}, en échec : {report.failed}"
    )


@outbox.command("worker")
@click.option(
    "--batch", default=mail.WORKER_BATCH, show_default=True, help="Messages réservés à la fois."
)
@click.option(
    "--poll",
    type=float,
    help=f"Secondes entre deux relevés (par défaut {mail.SQLITE_POLL} avec SQLite, "
    f"{mail.LISTEN_TIMEOUT} avec PostgreSQL, réveillé aussi par NOTIFY).",
)
def outbox_worker(batch: int, poll: float | None) -> None:
    """Send each message as soon as it is committed, until SIGTERM or Ctrl-C."""
    stop = mail.StopFlag()
    # The message in hand is finished, the others of its batch are given back, then we exit.
    signal.signal(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, stop.set)
    current_app.logger  # noqa: B018  (Flask gives the app's logger a handler if none has one)
    if mail.log.getEffectiveLevel() > logging.INFO:
        mail.log.setLevel(logging.INFO)  # the worker says what it does
    mail.work(stop, batch=batch, poll=poll)


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
    return click.prompt(
        "Mot de passe", hide_input=True, confirmation_prompt="Confirmez le mot de passe"
    )


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
    """Disable an account: it can no longer sign in, and its open sessions end."""
    accounts.set_active(_user_or_exit(email), False)
    click.echo(f"Compte désactivé : {email} (ses sessions ouvertes sont fermées)")


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Lire le mot de passe sur l’entrée standard.")
def users_set_password(email: str, password_stdin: bool) -> None:
    """Set a new password; every open session of the account ends."""
    try:
        accounts.set_password(
            _user_or_exit(email), _read_password(password_stdin), actor="flask users set-password"
        )
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Mot de passe changé : {email} (ses sessions ouvertes sont fermées)")


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


domains = AppGroup("domains", help="Les domaines de messagerie du secteur public.")
EXAMPLES = 20


@domains.command("check")
@click.argument("addresses", nargs=-1, required=True)
def domains_check(addresses: tuple[str, ...]) -> None:
    """For each address: accepted (oui) or not (non), and why."""
    for address in addresses:
        decision = eligibility.check(address)
        line = f"{address}\t{'oui' if decision.accepted else 'non'}\t{decision.reason}"
        if decision.suggestion:
            line += f" ; vouliez-vous dire {decision.suggestion} ?"
        click.echo(line)


def _examples(sign: str, names: list[str]) -> None:
    for name in names[:EXAMPLES]:
        click.echo(f"  {sign} {name}")
    if len(names) > EXAMPLES:
        click.echo(f"  … et {len(names) - EXAMPLES} autre(s)")


@domains.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fichier écrit (par défaut : la liste livrée avec l’application).",
)
@click.option(
    "--date",
    prompt="Date des données (par exemple « urls.txt au 11/12/2024 (commit fe23ea9) »)",
    help="La date de mise à jour des données, citée dans l’en-tête (Licence Ouverte 2.0).",
)
@click.option(
    "--source",
    default=domain_list.DEFAULT_SOURCE,
    help="Le producteur et l’adresse des données, cités dans l’en-tête.",
)
def domains_import(file: Path, output: Path | None, date: str, source: str) -> None:
    """Clean a newer export of the State's list (hosts or URLs) and write the package's list."""
    in_force = eligibility.DATA_DIR / eligibility.LIST_FILE
    target = output or in_force
    # What changed: against the file replaced, or, for a new file, the list in force.
    reference = target if target.exists() else in_force
    try:
        before = (
            set(eligibility.read_domains(reference.read_text("utf-8")))
            if reference.exists()
            else set()
        )
    except ValueError as error:
        raise click.ClickException(
            f"{reference} n’est pas une liste de domaines : {error}"
        ) from None
    cleaning = domain_list.clean_hosts(file.read_text("utf-8-sig").splitlines())
    target.write_text(domain_list.render(cleaning, source, date), "utf-8")
    eligibility.reload()
    after = set(cleaning.domains)
    added, removed = sorted(after - before), sorted(before - after)
    click.echo(f"{target} : {len(after)} domaine(s), {len(before)} dans {reference}")
    click.echo(f"ajoutés : {len(added)}")
    _examples("+", added)
    click.echo(f"retirés : {len(removed)}")
    _examples("-", removed)
    dropped = ", ".join(f"{rule} {cleaning.count(rule)}" for rule in domain_list.RULES)
    click.echo(
        f"écartés : {dropped} ; serveurs de messagerie ramenés à leur domaine : "
        f"{len(cleaning.reduced)}"
    )


content_group = AppGroup(
    "content", help="Les fichiers de contenu : événements, pages, _config.yml."
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def _shown(problem: content.Problem) -> str:
    """The problem, its file named from the current folder when it is under it."""
    path = os.path.relpath(problem.path)
    path = problem.path if path.startswith("..") else path
    return str(content.Problem(path, problem.key, problem.message))


@content_group.command("check")
@click.option(
    "--content-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Le dossier à vérifier (par défaut : CONTENT_DIR).",
)
@click.pass_context
def content_check(ctx: click.Context, content_dir: Path | None) -> None:
    """List every problem of every content file, naming the file and the key; exit 1 if any."""
    folder = content_dir or Path(current_app.config["CONTENT_DIR"])
    site = content.load_site(folder, log=False)
    config, events, pages = content.content_files(folder)
    total = len(events) + len(pages) + config.is_file()
    checked = f"{_plural(total, 'fichier')} vérifié{'s' if total > 1 else ''}"
    for problem in site.problems:
        click.echo(_shown(problem))
    if not site.problems:
        click.echo(f"Contenu valide : {checked} dans {folder}, aucun problème.")
        return
    count, files = _plural(len(site.problems), "problème"), _plural(len(site.broken), "fichier")
    click.echo(
        f"Contenu invalide : {count} dans {files} ({checked} dans {folder}). "
        "Tant qu’un fichier d’événement ou de page est invalide, sa page répond « momentanément "
        "indisponible » ; une clé invalide de _config.yml garde sa valeur par défaut."
    )
    ctx.exit(1)


def register(app: Flask) -> None:
    for group in (outbox, registrations, reminders, users, attendees, domains, content_group):
        app.cli.add_command(group)
