"""The rules of registration: pure functions of the event, the flags and the instant."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from registration.registrations import rules
from registration.registrations.exceptions import (
    DeadlinePassed,
    NotEligible,
    RegistrationClosed,
)

BEFORE = datetime.fromisoformat("2023-05-20T10:00:00+02:00")
DEADLINE = datetime.fromisoformat("2023-06-12T18:00:00+02:00")  # the fixture event's
OPEN_UNTIL = "Inscriptions ouvertes jusqu’au lundi 12 juin 2023 à 18h00"
CLOSED_SINCE = "Les inscriptions sont closes depuis le lundi 12 juin 2023 à 18h00."


def test_the_fixture_deadline_is_the_one_these_tests_expect(event):
    assert event.deadline == DEADLINE


# --- check_open -----------------------------------------------------------------------------


def test_open_before_the_deadline(event):
    rules.check_open(event, True, BEFORE)
    rules.check_open(event, True, DEADLINE - timedelta(seconds=1))


def test_at_the_deadline_registration_is_refused_with_the_date(event):
    with pytest.raises(DeadlinePassed) as refused:
        rules.check_open(event, True, DEADLINE)
    assert refused.value.message == CLOSED_SINCE
    assert refused.value.field is None  # shown above the form, not next to a field


def test_closed_by_an_admin_is_refused_before_the_deadline(event):
    with pytest.raises(RegistrationClosed) as refused:
        rules.check_open(event, False, BEFORE)
    assert refused.value.message == "Les inscriptions sont fermées."
    assert refused.value.field is None


def test_closed_by_an_admin_is_what_is_said_after_the_deadline_too(event):
    with pytest.raises(RegistrationClosed):
        rules.check_open(event, False, DEADLINE + timedelta(days=1))


# --- check_eligible -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["camille.durand@numerique.gouv.fr", "agent@interieur.gouv.fr", "x@sub.numerique.gouv.fr"],
)
def test_public_addresses_are_eligible(event, email):
    rules.check_eligible(email, event)


@pytest.mark.parametrize(
    "email",
    [
        "camille@exemple-entreprise.com",
        "x@gouv.fr.evil.com",
        "x@fakegouv.fr",
        "gouv.fr@evil.com",
        "gouv.fr",
    ],
)
def test_other_addresses_are_refused_next_to_the_email_field(event, email):
    with pytest.raises(NotEligible) as refused:
        rules.check_eligible(email, event)
    assert refused.value.field == "email"
    assert not refused.value.personal
    assert refused.value.message.startswith("Cette adresse n’est pas celle d’un service public")
    assert "adresse e-mail professionnelle" in refused.value.message


def test_a_personal_mailbox_is_refused_as_such(event):
    with pytest.raises(NotEligible) as refused:
        rules.check_eligible("camille@gmail.com", event)
    assert refused.value.personal
    assert refused.value.message.startswith("gmail.com est une messagerie personnelle.")


def test_an_event_may_accept_extra_domains(event):
    partner = dataclasses.replace(event, extra_domains=("partenaire.fr",))
    rules.check_eligible("agent@partenaire.fr", partner)
    rules.check_eligible("agent@equipe.partenaire.fr", partner)
    with pytest.raises(NotEligible):
        rules.check_eligible("agent@partenaire.fr", event)
    with pytest.raises(NotEligible):
        rules.check_eligible("agent@faux-partenaire.fr", partner)


# --- availability ---------------------------------------------------------------------------


def test_open_availability_says_until_when(event):
    state = rules.availability(event, True, "", 12, BEFORE)
    assert state == rules.Availability(True, OPEN_UNTIL, 12, "")
    assert not state.full


def test_no_seat_left_is_full_but_still_open(event):
    state = rules.availability(event, True, "", 0, BEFORE)
    assert state.is_open and state.full


def test_unlimited_places_are_never_full(plain_event):
    state = rules.availability(plain_event, True, "", None, BEFORE)
    assert state.is_open and state.seats_left is None and not state.full


def test_closed_availability_gives_the_reason_and_keeps_the_notice(event):
    state = rules.availability(event, False, "Salle comble, merci.", 3, BEFORE)
    assert state == rules.Availability(
        False, "Les inscriptions sont fermées.", 3, "Salle comble, merci."
    )


def test_after_the_deadline_availability_says_since_when(event):
    state = rules.availability(event, True, "", 40, DEADLINE)
    assert not state.is_open
    assert state.message == CLOSED_SINCE
    assert state.seats_left == 40


# --- mailbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "mailbox"),
    [
        ("prenom.nom@numerique.gouv.fr", "prenom.nom@numerique.gouv.fr"),
        ("prenom.nom+a@numerique.gouv.fr", "prenom.nom@numerique.gouv.fr"),
        ("prenom.nom+b@numerique.gouv.fr", "prenom.nom@numerique.gouv.fr"),
        ("prenom.nom+@numerique.gouv.fr", "prenom.nom@numerique.gouv.fr"),
        ("prenom.nom+a+b@numerique.gouv.fr", "prenom.nom@numerique.gouv.fr"),
        ("  Prenom.Nom+Tag@Numerique.Gouv.FR ", "prenom.nom@numerique.gouv.fr"),
        ("a@b@numerique.gouv.fr", "a@b@numerique.gouv.fr"),  # only the last @ splits
    ],
)
def test_mailbox_drops_the_plus_tag_and_the_case(email, mailbox):
    assert rules.mailbox(email) == mailbox


@pytest.mark.parametrize(
    ("email", "mailbox"),
    [
        ("+tag@numerique.gouv.fr", "+tag@numerique.gouv.fr"),  # nothing before the tag
        ("pas-une-adresse", "pas-une-adresse"),
        ("Prenom+Nom", "prenom+nom"),  # no @: no tag to drop
        ("", ""),
    ],
)
def test_mailbox_leaves_what_has_no_tag_to_drop(email, mailbox):
    assert rules.mailbox(email) == mailbox


def test_mailbox_is_idempotent():
    once = rules.mailbox("Prenom.Nom+a@numerique.gouv.fr")
    assert rules.mailbox(once) == once
