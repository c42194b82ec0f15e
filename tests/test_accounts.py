"""Accounts (registration.accounts): the password policy on every way in, and the session
version that ends every session of an account."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registration import accounts
from registration.extensions import db
from registration.models import AuditEntry, Role

from .factories import PASSWORD, make_user, sign_in

EMAIL = "camille.durand@numerique.gouv.fr"
COMMON = [
    "xxxxxxxxxxxx",  # repeats
    "aaaaaaaaaaaaaaaa",
    "azertyazerty",
    "abcdefghijklmnop",  # sequences
    "123456789012",
    "azertyuiop123",  # keyboard walk (French layout) and digits
    "qwertyuiop12",
    "password1234",  # common passwords
    "motdepasse123",
    "iloveyou1234",
    "Marseille2024!",
    "soleil123456",
    "camille.durand@numerique.gouv.fr",  # the e-mail itself, or its words
    "camilledurand2024",
    "Camille.Durand1",
]


@pytest.mark.parametrize("password", COMMON)
def test_common_and_guessable_passwords_are_refused(app, password):
    with app.app_context(), pytest.raises(accounts.AccountError) as refused:
        accounts.check_password(password, EMAIL)
    assert refused.value.message == accounts.TOO_EASY
    assert refused.value.field == "password"


@pytest.mark.parametrize(
    "password",
    [
        PASSWORD,  # the README's example: "un mot de passe solide"
        "correct horse battery staple",
        "provisoire-123456",
        "Les-Sanglots-Longs-Des-Violons",
    ],
)
def test_strong_passwords_are_accepted(app, password):
    with app.app_context():
        accounts.check_password(password, EMAIL)


def test_a_long_repeat_is_refused_whatever_its_length(app):
    with app.app_context(), pytest.raises(accounts.AccountError):
        accounts.check_password("x" * 200, EMAIL)


def test_a_short_password_is_refused_first(app):
    with app.app_context(), pytest.raises(accounts.AccountError) as refused:
        accounts.check_password("Zq8!vT2#", EMAIL)
    assert "12 caractères" in refused.value.message


# --- Every way in refuses them ---------------------------------------------------------------


def test_users_create_refuses_a_common_password(app):
    result = app.test_cli_runner().invoke(
        args=["users", "create", EMAIL, "--role", "organiser", "--password-stdin"],
        input="xxxxxxxxxxxx\n",
    )
    assert result.exit_code != 0
    assert "trop facile à deviner" in result.output
    with app.app_context():
        assert accounts.find(EMAIL) is None


def test_users_set_password_refuses_a_common_password(app):
    make_user(app, EMAIL)
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", EMAIL, "--password-stdin"], input="motdepasse123\n"
    )
    assert result.exit_code != 0
    assert "trop facile à deviner" in result.output
    assert sign_in(app.test_client(), EMAIL).status_code == 302  # unchanged


def test_the_admins_account_page_refuses_a_common_password_next_to_the_field(app, admin_client):
    response = admin_client.post(
        "/administration/comptes",
        data={"email": EMAIL, "role": "organiser", "password": "password1234"},
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    error = text.split('<p class="fr-error-text" id="password-erreur">', 1)[1].split("</p>")[0]
    assert "trop facile à deviner" in error
    with app.app_context():
        assert accounts.find(EMAIL) is None


def test_the_admins_account_page_refuses_the_new_accounts_own_address(app, admin_client):
    response = admin_client.post(
        "/administration/comptes",
        data={"email": EMAIL, "role": "organiser", "password": "Camille.Durand1"},
    )
    assert "trop facile à deviner" in response.get_data(as_text=True)


# --- The command line ends sessions and says so ----------------------------------------------


def _version(app, email=EMAIL):
    with app.app_context():
        return accounts.find(email).session_version


def test_set_password_moves_the_session_version_on_and_is_audited(app):
    make_user(app, EMAIL)
    before = _version(app)
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", EMAIL, "--password-stdin"],
        input="une toute nouvelle phrase secrète\n",
    )
    assert result.exit_code == 0, result.output
    assert "ses sessions ouvertes sont fermées" in result.output
    assert _version(app) == before + 1
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.details) == (
            "flask users set-password",
            "user-mot-de-passe",
            EMAIL,
        )


def test_disabling_moves_the_version_on_once_and_enabling_does_not(app):
    make_user(app, EMAIL)
    before = _version(app)
    result = app.test_cli_runner().invoke(args=["users", "disable", EMAIL])
    assert "ses sessions ouvertes sont fermées" in result.output
    assert _version(app) == before + 1
    with app.app_context():
        accounts.set_active(accounts.find(EMAIL), False)  # already disabled: nothing ends
    assert _version(app) == before + 1
    with app.app_context():
        accounts.set_active(accounts.find(EMAIL), True)
    assert _version(app) == before + 1


def test_creating_an_account_starts_at_version_zero(app):
    make_user(app, EMAIL)
    assert _version(app) == 0


def test_signing_in_does_not_end_other_sessions(app):
    make_user(app, EMAIL)
    sign_in(app.test_client(), EMAIL)
    sign_in(app.test_client(), EMAIL)
    assert _version(app) == 0


# --- session ids -------------------------------------------------------------------------------


def test_session_ids_name_the_account_and_its_version(app):
    user = make_user(app, EMAIL)
    with app.app_context():
        assert accounts.session_user(f"{user.id}:0").email == EMAIL
        accounts.end_sessions(accounts.find(EMAIL))
        assert accounts.session_user(f"{user.id}:0") is None
        assert accounts.session_user(f"{user.id}:1").email == EMAIL
        for malformed in (str(user.id), f"{user.id}:", f":{user.id}", "x:0", f"{user.id}:-1", ""):
            assert accounts.session_user(malformed) is None, malformed
        assert accounts.session_user("999999:0") is None


def test_a_disabled_account_has_no_session(app):
    user = make_user(app, EMAIL, role=Role.ADMIN.value)
    with app.app_context():
        found = accounts.find(EMAIL)
        found.active = False  # not committed: the version has not moved on yet
        assert accounts.session_user(f"{user.id}:0") is None
        db.session.rollback()


def test_an_address_verified_by_proconnect_signs_in_only_an_active_existing_account(app):
    make_user(app, "orga@numerique.gouv.fr")
    with app.app_context():
        user = accounts.authenticate_verified(" Orga@Numerique.GOUV.fr ")
        assert user is not None and user.email == "orga@numerique.gouv.fr"
        assert user.last_sign_in_at is not None
        assert accounts.authenticate_verified("inconnu@numerique.gouv.fr") is None
        accounts.set_active(user, False)
        assert accounts.authenticate_verified("orga@numerique.gouv.fr") is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("users"))) == 1
