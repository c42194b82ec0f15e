"""Signed links: a confirmation link expires on the application's clock, a management link
does not; a forged token, or one signed for the other purpose, is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from flask import Flask

from registration import links
from registration.models import Registration
from registration.registrations.exceptions import InvalidLink

from .factories import set_now

PUBLIC_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def app() -> Iterator[Flask]:
    """Links need only the secret, the hold time and the clock: no database."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret",
        PENDING_HOLD_HOURS=24,
        FROZEN_NOW=datetime.fromisoformat("2023-05-20T10:00:00+02:00"),
    )
    with app.app_context():
        yield app


@pytest.fixture
def registration() -> Registration:
    return Registration(public_id=PUBLIC_ID)


def test_a_confirmation_link_names_its_registration(app, registration):
    assert links.public_id_from_confirm_token(links.confirm_token(registration)) == PUBLIC_ID


def test_a_management_link_names_its_registration(app, registration):
    assert links.public_id_from_manage_token(links.manage_token(registration)) == PUBLIC_ID


@pytest.mark.parametrize("token", ["forged.token", "", "abc", "eyJhIjoxfQ.forged.sig"])
def test_forged_tokens_are_refused(app, token):
    with pytest.raises(InvalidLink) as refused:
        links.public_id_from_confirm_token(token)
    assert not isinstance(refused.value, links.ExpiredLink)
    assert refused.value.message == "Ce lien de confirmation n’est pas valide."
    with pytest.raises(InvalidLink) as refused:
        links.public_id_from_manage_token(token)
    assert refused.value.message == "Ce lien n’est pas valide."


def test_a_tampered_token_is_refused(app, registration):
    token = links.confirm_token(registration)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(InvalidLink) as refused:
        links.public_id_from_confirm_token(tampered)
    assert not isinstance(refused.value, links.ExpiredLink)


def test_a_confirmation_link_expires_after_the_hold_time_on_the_frozen_clock(app, registration):
    token = links.confirm_token(registration)
    set_now(app, "2023-05-21T10:00:00+02:00")  # 24 h later: still valid
    assert links.public_id_from_confirm_token(token) == PUBLIC_ID
    set_now(app, "2023-05-21T10:00:01+02:00")  # a second more
    with pytest.raises(links.ExpiredLink) as expired:
        links.public_id_from_confirm_token(token)
    assert expired.value.message == links.EXPIRED_CONFIRMATION
    assert isinstance(expired.value, InvalidLink)


def test_the_hold_time_comes_from_the_config(app, registration):
    app.config["PENDING_HOLD_HOURS"] = 1
    token = links.confirm_token(registration)
    set_now(app, "2023-05-20T11:00:01+02:00")
    with pytest.raises(links.ExpiredLink):
        links.public_id_from_confirm_token(token)


def test_a_management_link_does_not_expire(app, registration):
    token = links.manage_token(registration)
    set_now(app, "2024-05-20T10:00:00+02:00")
    assert links.public_id_from_manage_token(token) == PUBLIC_ID


def test_a_token_signed_for_the_other_purpose_is_refused(app, registration):
    with pytest.raises(InvalidLink):
        links.public_id_from_confirm_token(links.manage_token(registration))
    with pytest.raises(InvalidLink):
        links.public_id_from_manage_token(links.confirm_token(registration))


def test_a_token_signed_with_another_secret_is_refused(app, registration):
    confirm, manage = links.confirm_token(registration), links.manage_token(registration)
    app.config["SECRET_KEY"] = "another-secret"
    with pytest.raises(InvalidLink):
        links.public_id_from_confirm_token(confirm)
    with pytest.raises(InvalidLink):
        links.public_id_from_manage_token(manage)
