"""The command-line groups that are not about e-mail: registrations, users, attendees.

(`flask outbox …` and `flask reminders send` are in test_mail.py.)
"""

from __future__ import annotations

import sqlalchemy as sa

from registration.extensions import db
from registration.models import AuditEntry, Role, Status

from .factories import (
    PASSWORD,
    make_record,
    make_registration,
    make_user,
    record_of,
    registrations,
    set_now,
    sign_in,
)


def audit_log(app) -> list[AuditEntry]:
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        db.session.expunge_all()
        return list(rows)


# --- flask registrations expire ------------------------------------------------------------


def test_expire_command_frees_seats_from_cron(app, event, plain_event):
    make_record(app, event, capacity=1)
    make_registration(app, event, status=Status.PENDING)
    make_registration(app, event, status=Status.WAITLISTED, email="b@numerique.gouv.fr")
    set_now(app, "2023-05-21T10:00:01+02:00")  # past the 24 hours' hold of both
    result = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert result.exit_code == 0, result.output
    assert f"{event.slug} : 2 inscription(s) expirée(s)" in result.output
    assert f"{plain_event.slug} : 0 inscription(s) expirée(s)" in result.output
    first, second = registrations(app)
    assert first.status == Status.EXPIRED
    # b never confirmed either: expired too, so the freed seat stays free
    assert second.status == Status.EXPIRED
    assert record_of(app, event).seats_taken == 0
    # Run again: nothing left to expire.
    again = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert f"{event.slug} : 0 inscription(s) expirée(s)" in again.output


def test_expire_command_leaves_registrations_within_their_hold(app, event):
    make_registration(app, event, status=Status.PENDING)
    set_now(app, "2023-05-21T09:59:59+02:00")
    result = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert f"{event.slug} : 0 inscription(s) expirée(s)" in result.output
    assert registrations(app)[0].status == Status.PENDING
    assert record_of(app, event).seats_taken == 1


def test_expire_command_moves_the_waiting_list_up(app, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, status=Status.PENDING)
    make_registration(
        app, event, status=Status.WAITLISTED, confirmed=True, email="b@numerique.gouv.fr"
    )
    set_now(app, "2023-05-21T10:00:01+02:00")
    result = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert f"{event.slug} : 1 inscription(s) expirée(s)" in result.output
    assert [r.status for r in registrations(app)] == [Status.EXPIRED, Status.CONFIRMED]
    assert record_of(app, event).seats_taken == 1


# --- flask users ---------------------------------------------------------------------------


def test_users_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "new@numerique.gouv.fr", "--role", "admin", "--password-stdin"],
        input="un autre mot de passe\n",
    )
    assert result.exit_code == 0, result.output
    assert "Compte créé : new@numerique.gouv.fr (Administrateur)" in result.output
    assert "new@numerique.gouv.fr\tadmin\tactif" in runner.invoke(args=["users", "list"]).output
    short = runner.invoke(
        args=["users", "set-password", "new@numerique.gouv.fr", "--password-stdin"], input="court\n"
    )
    assert short.exit_code != 0 and "12 caractères" in short.output
    changed = runner.invoke(
        args=["users", "set-password", "new@numerique.gouv.fr", "--password-stdin"],
        input="encore un autre mot de passe\n",
    )
    assert changed.exit_code == 0 and "Mot de passe changé" in changed.output
    assert (
        sign_in(
            app.test_client(), "new@numerique.gouv.fr", "encore un autre mot de passe"
        ).status_code
        == 302
    )
    assert (
        sign_in(app.test_client(), "new@numerique.gouv.fr", "un autre mot de passe").status_code
        == 200
    )
    prompted = runner.invoke(
        args=["users", "create", "p@numerique.gouv.fr", "--role", "organiser"],
        input="mot de passe saisi\nmot de passe saisi\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "p@numerique.gouv.fr\torganiser\tactif" in runner.invoke(args=["users", "list"]).output


def test_users_create_refuses_a_duplicate_a_short_password_and_a_bad_role(app):
    make_user(app, "orga@numerique.gouv.fr")
    runner = app.test_cli_runner()
    duplicate = runner.invoke(
        args=["users", "create", "ORGA@numerique.gouv.fr", "--role", "admin", "--password-stdin"],
        input="un mot de passe solide\n",
    )
    assert duplicate.exit_code != 0 and "Un compte existe déjà" in duplicate.output
    short = runner.invoke(
        args=["users", "create", "n@numerique.gouv.fr", "--role", "admin", "--password-stdin"],
        input="court\n",
    )
    assert short.exit_code != 0 and "12 caractères" in short.output
    bad_role = runner.invoke(
        args=["users", "create", "n@numerique.gouv.fr", "--role", "chef", "--password-stdin"],
        input="un mot de passe solide\n",
    )
    assert bad_role.exit_code != 0
    listed = runner.invoke(args=["users", "list"]).output
    assert listed.splitlines() == ["orga@numerique.gouv.fr\torganiser\tactif"]


def test_a_disabled_account_cannot_sign_in(app):
    make_user(app, "orga@numerique.gouv.fr")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "disable", "orga@numerique.gouv.fr"])
    assert result.exit_code == 0 and "Compte désactivé" in result.output
    assert sign_in(app.test_client(), "orga@numerique.gouv.fr", PASSWORD).status_code == 200
    assert (
        "orga@numerique.gouv.fr\torganiser\tdésactivé"
        in runner.invoke(args=["users", "list"]).output
    )


def test_commands_on_an_unknown_account_fail_with_a_message(app):
    runner = app.test_cli_runner()
    for args in (
        ["users", "disable", "inconnu@numerique.gouv.fr"],
        ["users", "set-password", "inconnu@numerique.gouv.fr", "--password-stdin"],
    ):
        result = runner.invoke(args=args, input="un mot de passe solide\n")
        assert result.exit_code != 0 and "Aucun compte pour inconnu@numerique.gouv.fr" in (
            result.output
        )


def test_users_are_listed_with_their_role(app):
    make_user(app, "admin@numerique.gouv.fr", Role.ADMIN.value)
    make_user(app, "orga@numerique.gouv.fr")
    listed = app.test_cli_runner().invoke(args=["users", "list"]).output
    assert "admin@numerique.gouv.fr\tadmin\tactif" in listed
    assert "orga@numerique.gouv.fr\torganiser\tactif" in listed


# --- flask attendees purge -----------------------------------------------------------------


def test_purge_deletes_attendees_of_long_past_events_and_tells_admins(
    app, admin_client, event, plain_event
):
    make_registration(app, event)
    make_registration(app, event, status=Status.CANCELLED, email="b@numerique.gouv.fr")
    make_registration(app, plain_event, email="c@numerique.gouv.fr")
    runner = app.test_cli_runner()
    set_now(app, "2023-08-01T12:00:00+02:00")  # the event ended 47 days ago
    assert (
        "Aucun événement"
        in runner.invoke(args=["attendees", "purge", "--older-than", "90d"]).output
    )
    assert len(registrations(app)) == 3
    set_now(app, "2023-09-14T12:00:00+02:00")  # 91 days after the end; the other is ahead
    result = runner.invoke(args=["attendees", "purge", "--older-than", "90d"])
    assert result.exit_code == 0, result.output
    assert f"{event.slug} : 2 inscription(s) supprimée(s)" in result.output
    assert plain_event.slug not in result.output
    assert [r.email for r in registrations(app)] == ["c@numerique.gouv.fr"]
    assert record_of(app, event).seats_taken == 0
    [entry] = [e for e in audit_log(app) if e.action == "purge"]
    assert (entry.actor, entry.event_slug) == ("flask attendees purge", event.slug)
    journal = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "purge" in journal and "2 inscription(s) supprimée(s)" in journal


def test_purge_waits_until_the_full_period_has_passed(app, event):
    make_registration(app, event)
    set_now(app, "2023-09-13T12:29:59+02:00")  # one second short of 90 days after 12h30
    output = app.test_cli_runner().invoke(args=["attendees", "purge", "--older-than", "90d"]).output
    assert "Aucun événement" in output
    assert len(registrations(app)) == 1


def test_purge_needs_a_number_of_days(app):
    runner = app.test_cli_runner()
    for value in ("trois mois", "90", "d", "-5d"):
        bad = runner.invoke(args=["attendees", "purge", "--older-than", value])
        assert bad.exit_code != 0, value
    assert runner.invoke(args=["attendees", "purge"]).exit_code != 0
