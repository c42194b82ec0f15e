"""Manual verification (registration.backoffice.api): an organiser accepts or refuses the
request of an agent whose address the public-sector list does not know."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registration import links
from registration.backoffice import api, queries
from registration.content import load_site
from registration.extensions import db
from registration.models import AuditEntry, EventDomain, Registration, Status
from registration.registrations import api as registrations_api
from registration.registrations.api import Registrant
from registration.registrations.exceptions import InvalidLink, NotAwaitingReview, NotEligible
from registration.registrations.queries import accepted_domains

from ..conftest import CONTENT
from ..factories import make_record, make_registration, outbox, record_of, registrations

ORGA = "orga@numerique.gouv.fr"
CCAS = "lea.martin@ccas-exemple.fr"
JUSTIFICATION = "Je travaille au CCAS de ma commune, qui a son propre nom de domaine."
ALREADY_DECIDED = "Cette demande n’est plus à vérifier : elle a déjà été traitée."


def registrant(email: str = CCAS, justification: str = JUSTIFICATION) -> Registrant:
    return Registrant(
        email=email,
        first_name="Léa",
        last_name="Martin",
        employer="CCAS d’Exemple-sur-Mer",
        job_title="Travailleuse sociale",
        answers={"atelier": "Logiciels libres"},
        justification=justification,
    )


def ask(app, event, email: str = CCAS, confirm: bool = True) -> Registration:
    """A verification request, as the agent makes it: the form, then (maybe) the e-mailed
    link. Returns the request as stored."""
    with app.app_context():
        outcome = registrations_api.register(event, registrant(email))
        assert outcome.review is True
        found = db.session.scalars(sa.select(Registration).where(Registration.email == email))
        request = found.one()
        if confirm:
            registrations_api.confirm(event, links.confirm_token(request))
    [stored] = [r for r in registrations(app) if r.email == email]
    assert stored.status == Status.REVIEW
    return stored


def audit_log(app) -> list[tuple[str, str, str, str]]:
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.actor, e.action, e.event_slug, e.details) for e in entries]


def domains(app) -> list[tuple[int, str, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(EventDomain).order_by(EventDomain.id)).all()
        return [(r.event_id, r.domain, r.added_by) for r in rows]


def stored(app, public_id: str) -> Registration:
    [found] = [r for r in registrations(app) if r.public_id == public_id]
    return found


# --- The request itself --------------------------------------------------------------------


def test_a_request_holds_no_seat_and_its_confirmation_says_it_will_be_checked(app, event):
    request = ask(app, event)
    assert request.justification == JUSTIFICATION
    assert request.email_confirmed_at is not None and request.expires_at is None
    assert record_of(app, event).seats_taken == 0
    assert [m.kind for m in outbox(app)] == ["confirm_address", "review_received"]


def test_a_public_agent_with_a_justification_registers_as_usual(app, event):
    with app.app_context():
        outcome = registrations_api.register(
            event, registrant("lea.martin@numerique.gouv.fr", JUSTIFICATION)
        )
    assert outcome.review is False
    [registration] = registrations(app)
    assert registration.status == Status.PENDING
    assert registration.justification == ""


# --- accept_request -------------------------------------------------------------------------


def test_accepting_gives_a_seat_and_mails_the_message_with_the_invitation(app, event):
    request = ask(app, event)
    with app.app_context():
        api.accept_request(event, request.public_id, ORGA, "  Bienvenue parmi nous !  ")
    accepted = stored(app, request.public_id)
    assert accepted.status == Status.CONFIRMED
    assert accepted.review_message == "Bienvenue parmi nous !"
    assert accepted.reviewed_by == ORGA and accepted.reviewed_at == app.config["FROZEN_NOW"]
    assert record_of(app, event).seats_taken == 1
    [mail] = outbox(app, "review_accepted")
    assert mail.recipient == CCAS
    assert "Son message : Bienvenue parmi nous !" in mail.body_text
    assert "Votre place est réservée." in mail.body_text
    assert mail.ics is not None and "BEGIN:VEVENT" in mail.ics
    assert audit_log(app) == [(ORGA, "accept-request", event.slug, CCAS)]


def test_accepting_when_full_puts_the_agent_on_the_waiting_list_without_an_invitation(app, event):
    make_record(app, event, capacity=0)
    request = ask(app, event)
    with app.app_context():
        api.accept_request(event, request.public_id, ORGA, "Vous êtes le bienvenu.")
    assert stored(app, request.public_id).status == Status.WAITLISTED
    assert record_of(app, event).seats_taken == 0
    [mail] = outbox(app, "review_accepted")
    assert mail.ics is None
    assert "Son message : Vous êtes le bienvenu." in mail.body_text
    assert "vous êtes sur la liste d’attente" in mail.body_text
    assert audit_log(app) == [(ORGA, "accept-request", event.slug, CCAS)]


def test_accepting_without_a_message_mails_none(app, event):
    request = ask(app, event)
    with app.app_context():
        api.accept_request(event, request.public_id, ORGA)
    assert stored(app, request.public_id).review_message == ""
    [mail] = outbox(app, "review_accepted")
    assert "Son message" not in mail.body_text


def test_accepting_the_domain_accepts_its_later_addresses_for_this_event_only(
    app, event, plain_event
):
    first = ask(app, event)
    second = ask(app, event, "paul.petit@ccas-exemple.fr")
    with app.app_context():
        api.accept_request(event, first.public_id, ORGA, accept_domain=True)
        api.accept_request(event, second.public_id, ORGA, accept_domain=True)
    record = record_of(app, event)
    assert domains(app) == [(record.id, "ccas-exemple.fr", ORGA)]  # one row, however often
    assert audit_log(app) == [
        (
            ORGA,
            "accept-request",
            event.slug,
            f"{CCAS} ; domaine ccas-exemple.fr accepté pour l’événement",
        ),
        (
            ORGA,
            "accept-request",
            event.slug,
            "paul.petit@ccas-exemple.fr ; domaine ccas-exemple.fr accepté pour l’événement",
        ),
    ]
    with app.app_context():
        assert accepted_domains(event) == ["ccas-exemple.fr"]
        assert accepted_domains(plain_event) == []
        # A colleague now registers as any public agent: no justification needed.
        outcome = registrations_api.register(
            event, registrant("zoe.roux@ccas-exemple.fr", justification="")
        )
        assert outcome.review is False
        # Not for the other event.
        with pytest.raises(NotEligible):
            registrations_api.register(
                plain_event, registrant("zoe.roux@ccas-exemple.fr", justification="")
            )
    [colleague] = [r for r in registrations(app) if r.email == "zoe.roux@ccas-exemple.fr"]
    assert colleague.status == Status.PENDING and colleague.justification == ""


def test_accepting_one_request_accepts_no_domain_unless_asked(app, event):
    request = ask(app, event)
    with app.app_context():
        api.accept_request(event, request.public_id, ORGA)
        with pytest.raises(NotEligible):
            registrations_api.register(
                event, registrant("zoe.roux@ccas-exemple.fr", justification="")
            )
    assert domains(app) == []


# --- refuse_request -------------------------------------------------------------------------


def test_refusing_mails_the_message_and_is_audited(app, event):
    request = ask(app, event)
    with app.app_context():
        api.refuse_request(event, request.public_id, ORGA, "Réservé aux agents de l’État.")
    refused = stored(app, request.public_id)
    assert refused.status == Status.REFUSED
    assert refused.review_message == "Réservé aux agents de l’État."
    assert refused.reviewed_by == ORGA
    assert record_of(app, event).seats_taken == 0
    [mail] = outbox(app, "review_refused")
    assert mail.recipient == CCAS and mail.ics is None
    assert "Son message : Réservé aux agents de l’État." in mail.body_text
    assert outbox(app, "review_accepted") == []
    assert audit_log(app) == [(ORGA, "refuse-request", event.slug, CCAS)]


def test_a_refused_agents_confirm_link_says_the_request_was_not_accepted(app, client, event):
    request = ask(app, event)
    with app.app_context():
        token = links.confirm_token(request)
        api.refuse_request(event, request.public_id, ORGA, "")
        with pytest.raises(InvalidLink) as refused:
            registrations_api.confirm(event, token)
        assert refused.value.message == "Cette demande d’inscription n’a pas été acceptée."
    response = client.post(f"/agenda/{event.slug}/inscription/confirmer/{token}")
    assert response.status_code == 400
    assert "Cette demande d’inscription n’a pas été acceptée." in response.get_data(as_text=True)
    assert stored(app, request.public_id).status == Status.REFUSED


# --- Requests that are not awaiting a decision ---------------------------------------------


def decide(event, public_id: str, how: str) -> None:
    if how == "accept":
        api.accept_request(event, public_id, ORGA, "encore")
    else:
        api.refuse_request(event, public_id, ORGA, "encore")


@pytest.mark.parametrize("first", ["accept", "refuse"])
@pytest.mark.parametrize("then", ["accept", "refuse"])
def test_a_request_already_decided_cannot_be_decided_again(app, event, first, then):
    request = ask(app, event)
    with app.app_context():
        decide(event, request.public_id, first)
    before = (stored(app, request.public_id), outbox(app), audit_log(app))
    with app.app_context(), pytest.raises(NotAwaitingReview) as refused:
        decide(event, request.public_id, then)
    assert refused.value.message == ALREADY_DECIDED
    after = stored(app, request.public_id)
    assert (after.status, after.review_message) == (before[0].status, before[0].review_message)
    assert len(outbox(app)) == len(before[1]) and audit_log(app) == before[2]


@pytest.mark.parametrize("how", ["accept", "refuse"])
def test_a_request_whose_mailbox_is_not_proven_cannot_be_decided(app, event, how):
    request = ask(app, event, confirm=False)
    with app.app_context(), pytest.raises(NotAwaitingReview):
        decide(event, request.public_id, how)
    assert stored(app, request.public_id).status == Status.REVIEW
    assert [m.kind for m in outbox(app)] == ["confirm_address"]
    assert audit_log(app) == []


@pytest.mark.parametrize("how", ["accept", "refuse"])
def test_an_ordinary_registration_or_another_events_request_is_not_a_request(
    app, event, plain_event, how
):
    ordinary = make_registration(app, event, Status.CONFIRMED)
    elsewhere = ask(app, plain_event)
    with app.app_context():
        for public_id in (ordinary.public_id, elsewhere.public_id, "0" * 32):
            with pytest.raises(NotAwaitingReview):
                decide(event, public_id, how)
    assert stored(app, ordinary.public_id).status == Status.CONFIRMED
    assert stored(app, elsewhere.public_id).status == Status.REVIEW
    assert audit_log(app) == []


# --- review_requests -----------------------------------------------------------------------


def test_review_requests_lists_the_proven_requests_oldest_first(app, event, plain_event):
    now = app.config["FROZEN_NOW"]
    newer = make_registration(
        app, event, Status.REVIEW, confirmed=True, email="b@ccas-exemple.fr", created_at=now
    )
    older = make_registration(
        app,
        event,
        Status.REVIEW,
        confirmed=True,
        email="a@ccas-exemple.fr",
        created_at=now - timedelta(hours=3),
    )
    make_registration(app, event, Status.REVIEW, confirmed=False, email="c@ccas-exemple.fr")
    for status in (Status.PENDING, Status.CONFIRMED, Status.WAITLISTED, Status.REFUSED):
        make_registration(app, event, status, confirmed=True)
    make_registration(app, plain_event, Status.REVIEW, confirmed=True, email="d@ccas-exemple.fr")
    with app.app_context():
        listed = queries.review_requests(event)
        assert [r.public_id for r in listed] == [older.public_id, newer.public_id]


def test_review_requests_is_empty_once_decided(app, event):
    first, second = ask(app, event), ask(app, event, "paul.petit@ccas-exemple.fr")
    with app.app_context():
        api.accept_request(event, first.public_id, ORGA)
        assert [r.public_id for r in queries.review_requests(event)] == [second.public_id]
        api.refuse_request(event, second.public_id, ORGA, "")
        assert queries.review_requests(event) == []


# --- The front-matter switch ---------------------------------------------------------------


def test_without_manual_verification_a_justification_does_not_help(app, event):
    strict = dataclasses.replace(event, manual_verification=False)
    with app.app_context(), pytest.raises(NotEligible) as refused:
        registrations_api.register(strict, registrant())
    assert "n’est pas celle d’un service public" in refused.value.message
    assert registrations(app) == [] and outbox(app) == []


def test_the_switch_reads_the_front_matter(event, tmp_path):
    assert event.manual_verification is True
    copy = tmp_path / "content"
    shutil.copytree(CONTENT, copy)
    path = copy / "agenda" / "2023-06-15-atelier-des-communs.md"
    path.write_text(
        path.read_text("utf-8").replace(
            "  places: 100\n", "  places: 100\n  verification_manuelle: false\n"
        ),
        "utf-8",
    )
    strict = load_site(copy).event(event.slug)
    assert strict is not None and strict.manual_verification is False
