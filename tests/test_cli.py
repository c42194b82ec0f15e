"""The command-line groups that are not about e-mail: registrations, users, attendees,
domains, content.

(`flask outbox …` and `flask reminders send` are in test_mail.py.)
"""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy as sa

from registration.extensions import db
from registration.models import AuditEntry, Role, Status

from .conftest import CONTENT
from .factories import (
    PASSWORD,
    make_record,
    make_registration,
    make_user,
    outbox,
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


def test_expire_command_expires_unconfirmed_registrations_from_cron(app, event, plain_event):
    make_record(app, event, capacity=1)
    make_registration(app, event, status=Status.PENDING)
    # a waiting-list row from before seats waited for the address: never confirmed either
    make_registration(
        app, event, status=Status.WAITLISTED, confirmed=False, email="b@numerique.gouv.fr"
    )
    set_now(app, "2023-05-21T10:00:01+02:00")  # past the 24 hours' hold of both
    result = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert result.exit_code == 0, result.output
    assert f"{event.slug} : 2 inscription(s) expirée(s)" in result.output
    assert f"{plain_event.slug} : 0 inscription(s) expirée(s)" in result.output
    first, second = registrations(app)
    assert first.status == Status.EXPIRED
    assert second.status == Status.EXPIRED  # b never confirmed either
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
    assert record_of(app, event).seats_taken == 0  # a pending address holds no seat


def test_expire_command_moves_the_waiting_list_up_when_seats_are_free(app, event):
    """Expiring frees no seat (a pending address holds none); a place added since, not yet
    given, goes to the first on the waiting list."""
    make_record(app, event, capacity=1)
    make_registration(app, event, status=Status.CONFIRMED)
    make_registration(app, event, status=Status.PENDING)
    make_registration(app, event, status=Status.WAITLISTED, email="b@numerique.gouv.fr")
    make_registration(app, event, status=Status.WAITLISTED, email="c@numerique.gouv.fr")
    make_record(app, event, capacity=2)  # one more place, not yet given
    set_now(app, "2023-05-21T10:00:01+02:00")
    result = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert f"{event.slug} : 1 inscription(s) expirée(s)" in result.output
    assert [r.status for r in registrations(app)] == [
        Status.CONFIRMED,
        Status.EXPIRED,
        Status.CONFIRMED,
        Status.WAITLISTED,
    ]
    assert [m.recipient for m in outbox(app, "promoted")] == ["b@numerique.gouv.fr"]
    assert record_of(app, event).seats_taken == 2


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
    assert "Mot de passe: " in prompted.output and "Confirmez le mot de passe: " in prompted.output
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


# --- flask domains -------------------------------------------------------------------------


def test_domains_check_says_yes_or_no_and_why(runner):
    result = runner.invoke(
        args=[
            "domains",
            "check",
            "agent@numerique.gouv.fr",
            "agent@dsi.paris.fr",
            "agent@gmail.com",
            "agent@finances.gouv",
            "agent@notaires.fr",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "agent@numerique.gouv.fr\toui\tdomaine de l’État (gouv.fr)",
        "agent@dsi.paris.fr\toui\tliste de l’État : paris.fr",
        "agent@gmail.com\tnon\tmessagerie grand public : gmail.com",
        "agent@finances.gouv\tnon\tdomaine inconnu de la liste du secteur public : finances.gouv"
        " ; vouliez-vous dire agent@finances.gouv.fr ?",
        "agent@notaires.fr\tnon\tretiré de la liste du secteur public : notaires.fr (notaires :"
        " officiers publics exerçant en libéral ; chambres et conseils : professionnels)",
    ]


def test_domains_check_needs_an_address(runner):
    assert runner.invoke(args=["domains", "check"]).exit_code != 0


def test_domains_check_reads_the_deployment_file(make_app, tmp_path):
    extra = tmp_path / "domaines.txt"
    extra.write_text("partenaire.fr  # convention\n", "utf-8")
    app = make_app(EXTRA_DOMAINS_FILE=str(extra))
    result = app.test_cli_runner().invoke(args=["domains", "check", "agent@equipe.partenaire.fr"])
    assert (
        result.output == "agent@equipe.partenaire.fr\toui\tajout du déploiement : partenaire.fr\n"
    )


def domains_in(path) -> list[str]:
    return [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]


@pytest.fixture
def list_in_force(tmp_path, monkeypatch):
    """The package's list, replaced by a file of the test's own (empty until written)."""
    from registration import eligibility

    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setattr(eligibility, "DATA_DIR", folder)
    return folder / eligibility.LIST_FILE


def test_domains_import_cleans_writes_and_tells_what_changed(runner, tmp_path, list_in_force):
    export = tmp_path / "urls.txt"
    export.write_text(
        "# un export plus récent\n"
        "https://www.paris.fr/\n"
        "https://lyon.fr/agenda?mois=5  # redirection\n"
        "numerique.gouv.fr\n"
        "mairie.wordpress.com\n"
        "ac-[a-z]*.fr\n"
        "webmail.ville-exemple.fr\n",
        "utf-8",
    )
    output = tmp_path / "liste.txt"
    args = ["domains", "import", str(export), "--output", str(output)]
    result = runner.invoke(args=[*args, "--date", "01/02/2030", "--source", "Producteur X"])
    assert result.exit_code == 0, result.output
    text = output.read_text("utf-8")
    assert "# Source : Producteur X\n" in text and "# Données : 01/02/2030\n" in text
    assert "Licence Ouverte / Open Licence 2.0" in text
    assert domains_in(output) == ["lyon.fr", "paris.fr", "ville-exemple.fr"]
    assert result.output.splitlines() == [
        f"{output} : 3 domaine(s), 0 dans {list_in_force}",
        "ajoutés : 3",
        "  + lyon.fr",
        "  + paris.fr",
        "  + ville-exemple.fr",
        "retirés : 0",
        "écartés : motif 1, invalide 0, gouv.fr 1, bloqué 1, messagerie 0 ;"
        " serveurs de messagerie ramenés à leur domaine : 1",
    ]
    # A newer export again: one name gone, one new.
    export.write_text("paris.fr\nmarseille.fr\nville-exemple.fr\n", "utf-8")
    again = runner.invoke(args=[*args, "--date", "01/03/2030"])
    assert again.exit_code == 0, again.output
    assert "ajoutés : 1\n  + marseille.fr\nretirés : 1\n  - lyon.fr\n" in again.output
    assert "Etalab / DINUM" in output.read_text("utf-8")  # the default source


def test_a_new_output_is_compared_with_the_list_in_force(runner, tmp_path, list_in_force):
    list_in_force.write_text("nantes.fr\nparis.fr\n", "utf-8")
    export = tmp_path / "hosts.txt"
    export.write_text("paris.fr\nlyon.fr\n", "utf-8")
    output = tmp_path / "nouvelle-liste.txt"
    args = ["domains", "import", str(export), "--output", str(output), "--date", "2030"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert f"{output} : 2 domaine(s), 2 dans {list_in_force}\n" in result.output
    assert "ajoutés : 1\n  + lyon.fr\nretirés : 1\n  - nantes.fr\n" in result.output
    assert list_in_force.read_text("utf-8") == "nantes.fr\nparis.fr\n"  # left as it was


def test_domains_import_shows_twenty_examples_at_most(runner, tmp_path, list_in_force):
    export = tmp_path / "hosts.txt"
    export.write_text("".join(f"commune-{n:02}.fr\n" for n in range(25)), "utf-8")
    output = tmp_path / "liste.txt"
    result = runner.invoke(
        args=["domains", "import", str(export), "--output", str(output), "--date", "2030"]
    )
    lines = result.output.splitlines()
    assert len([line for line in lines if line.startswith("  + ")]) == 20
    assert "  … et 5 autre(s)" in lines
    assert len(domains_in(output)) == 25


def test_domains_import_asks_for_the_date(runner, tmp_path):
    export = tmp_path / "hosts.txt"
    export.write_text("paris.fr\n", "utf-8")
    output = tmp_path / "liste.txt"
    args = ["domains", "import", str(export), "--output", str(output)]
    asked = runner.invoke(args=args, input="03/04/2031\n")
    assert asked.exit_code == 0, asked.output
    assert "Date des données" in asked.output
    assert "# Données : 03/04/2031\n" in output.read_text("utf-8")


def test_domains_import_writes_the_shipped_list_by_default(runner, tmp_path, monkeypatch):
    from registration import eligibility

    monkeypatch.setattr(eligibility, "DATA_DIR", tmp_path)
    export = tmp_path / "hosts.txt"
    export.write_text("paris.fr\n", "utf-8")
    result = runner.invoke(args=["domains", "import", str(export), "--date", "2030"])
    assert result.exit_code == 0, result.output
    assert domains_in(tmp_path / eligibility.LIST_FILE) == ["paris.fr"]


def test_domains_import_never_overwrites_what_is_not_a_list(runner, tmp_path):
    export = tmp_path / "hosts.txt"
    export.write_text("paris.fr\n", "utf-8")
    output = tmp_path / "notes.txt"
    output.write_text("des notes, pas des domaines\n", "utf-8")
    result = runner.invoke(
        args=["domains", "import", str(export), "--output", str(output), "--date", "2030"]
    )
    assert result.exit_code != 0
    assert "n’est pas une liste de domaines" in result.output
    assert output.read_text("utf-8") == "des notes, pas des domaines\n"


# --- flask content check -------------------------------------------------------------------

CHECK_CONSEQUENCE = (
    "Tant qu’un fichier d’événement ou de page est invalide, sa page répond « momentanément "
    "indisponible » ; une clé invalide de _config.yml garde sa valeur par défaut."
)


def broken_copy(tmp_path):
    """The fixture content, one event file added broken and another broken by an edit."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "agenda" / "2023-10-05-forum.md").write_text(
        "---\nevent_start_date: 2023-10-05\ninscription:\n  places: 0\n---\n", "utf-8"
    )
    edited = content / "agenda" / "2023-09-20-rencontre-des-achats.md"
    text = edited.read_text("utf-8").replace("2023-09-20 14:00:00", "le 20 septembre")
    edited.write_text(text, "utf-8")
    stat = edited.stat()
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    return content


def test_content_check_lists_every_problem_with_its_file_and_key(runner, tmp_path, monkeypatch):
    broken_copy(tmp_path)
    monkeypatch.chdir(tmp_path)  # files under the current folder are named from it
    result = runner.invoke(args=["content", "check", "--content-dir", "content"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "content/agenda/2023-09-20-rencontre-des-achats.md : clé « event_start_date » : "
        "date illisible : 'le 20 septembre +02:00'",
        "content/agenda/2023-10-05-forum.md : clé « title » : obligatoire, absente ou vide",
        "content/agenda/2023-10-05-forum.md : clé « inscription.places » : "
        "nombre entier positif, pas 0",
        "Contenu invalide : 3 problèmes dans 2 fichiers (5 fichiers vérifiés dans content). "
        + CHECK_CONSEQUENCE,
    ]


def test_content_check_reads_content_dir_by_default(make_app, tmp_path):
    content = broken_copy(tmp_path)
    result = make_app(CONTENT_DIR=str(content)).test_cli_runner().invoke(args=["content", "check"])
    assert result.exit_code == 1
    # Outside the current folder, files are named in full.
    assert f"{content}/agenda/2023-10-05-forum.md : clé « title »" in result.output


def test_content_check_names_a_broken_config_and_what_it_does(runner, tmp_path):
    (tmp_path / "_config.yml").write_text("url: www.example.gouv.fr\n", "utf-8")
    result = runner.invoke(args=["content", "check", "--content-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{tmp_path}/_config.yml : clé « url » : adresse http(s) attendue, "
        "pas 'www.example.gouv.fr'",
        f"Contenu invalide : 1 problème dans 1 fichier (1 fichier vérifié dans {tmp_path}). "
        + CHECK_CONSEQUENCE,
    ]


def test_content_check_of_a_clean_folder_exits_0(runner):
    result = runner.invoke(args=["content", "check"])  # CONTENT_DIR: the fixture content
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Contenu valide : 4 fichiers vérifiés dans {CONTENT}, aucun problème.\n"
    )


def test_content_check_of_a_missing_folder_fails(runner, tmp_path):
    result = runner.invoke(args=["content", "check", "--content-dir", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.output.startswith(f"{tmp_path / 'x'} : dossier introuvable\n")
