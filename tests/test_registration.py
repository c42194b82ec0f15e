"""Registration through the views and services, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa

from registration import services
from registration.extensions import db
from registration.models import Attendee, Status

from .conftest import (
    SLUG,
    attendees,
    event_row,
    form_data,
    link_from,
    outbox,
    register_url,
    set_capacity,
    set_now,
    unavailable,
)


def test_form_shows_fields_with_autocomplete_and_required_marks(client):
    text = client.get(register_url()).get_data(as_text=True)
    for attr in ('autocomplete="given-name"', 'autocomplete="family-name"', 'autocomplete="email"'):
        assert attr in text
    assert 'autocomplete="organization"' in text and 'autocomplete="organization-title"' in text
    for department in ("Appui, conseil et expertise", "RH de la filière numérique de l’État"):
        assert department in text
    assert "Je certifie être agent public" in text
    assert 'href="/donnees-personnelles"' in text
    assert "Les champs marqués d’un astérisque (*) sont obligatoires" in text


def test_a_registration_is_pending_until_the_address_is_confirmed(app, client):
    response = client.post(register_url(), data=form_data(departments=["Etalab"]))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/agenda/{SLUG}/inscription/envoyee")
    [attendee] = attendees(app)
    assert attendee.status == Status.PENDING
    assert attendee.email == "camille.durand@numerique.gouv.fr"
    assert attendee.departments == ["Etalab"]
    assert event_row(app).seats_taken == 1

    [message] = outbox(app, "confirm_address")
    assert message.recipient == attendee.email
    confirm = link_from(message, "/confirmer/")
    assert client.get(confirm).status_code == 200  # a page with a button, nothing changed yet
    assert attendees(app)[0].status == Status.PENDING
    manage = client.post(confirm)
    assert manage.status_code == 302 and "/mon-inscription/" in manage.headers["Location"]
    [attendee] = attendees(app)
    assert attendee.status == Status.CONFIRMED and attendee.email_confirmed_at is not None
    assert len(outbox(app, "confirmed")) == 1
    assert "Confirmée" in client.get(manage.headers["Location"]).get_data(as_text=True)


def test_input_is_normalised(app, client):
    client.post(
        register_url(),
        data=form_data(
            first_name="  Camille ",
            last_name=" Durand",
            email="  Camille.Durand@NUMERIQUE.Gouv.FR ",
        ),
    )
    [attendee] = attendees(app)
    assert (attendee.first_name, attendee.last_name) == ("Camille", "Durand")
    assert attendee.email == "camille.durand@numerique.gouv.fr"


def test_idna_domains_are_normalised(app, client):
    client.post(register_url(), data=form_data(email="agent@ÉCOLE.ac-paris.fr"))
    [attendee] = attendees(app)
    assert attendee.email == "agent@xn--cole-9oa.ac-paris.fr"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "Renseignez votre prénom."),
        ("first_name", "Ca\nmille", "caractères non autorisés"),
        ("last_name", "Du\rrand", "caractères non autorisés"),
        ("last_name", "Du\u2028rand", "caractères non autorisés"),
        ("employer", "DI\x00NUM", "caractères non autorisés"),
        ("last_name", "x" * 101, "100 caractères au maximum"),
        ("email", "pas-une-adresse", "Saisissez une adresse e-mail valide"),
        ("email", "", "Renseignez votre adresse e-mail professionnelle."),
        ("employer", "", "Renseignez votre administration."),
        ("certify_agent", None, "Cochez cette case pour certifier être agent public."),
        ("accept_privacy", None, "Cochez cette case après avoir lu la notice"),
    ],
)
def test_field_errors_show_next_to_the_field_and_keep_the_input(app, client, field, value, message):
    response = client.post(register_url(), data=form_data(**{field: value}, job_title="Tapé"))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "<title>Erreur : " in text
    assert 'id="resume-erreurs"' in text
    assert message in text
    assert f'aria-describedby="{field}-erreur"' in text and 'aria-invalid="true"' in text
    assert f'<p class="fr-error-text" id="{field}-erreur">' in text
    assert 'value="Tapé"' in text  # nothing typed is lost
    assert attendees(app) == []


def test_a_private_address_gets_an_explanation_and_a_contact(app, client):
    response = client.post(register_url(), data=form_data(email="camille@gmail.com"))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Cet événement est réservé aux agents publics" in text
    assert "evenements@numerique.gouv.fr" in text
    assert 'value="camille@gmail.com"' in text
    assert attendees(app) == []


@pytest.mark.parametrize("email", ["x@gouv.fr.evil.com", "x@fakegouv.fr", "gouv.fr@evil.com"])
def test_lookalike_domains_are_refused_by_the_form(app, client, email):
    client.post(register_url(), data=form_data(email=email))
    assert attendees(app) == []


def test_one_second_before_the_deadline_passes(app, client):
    set_now(app, "2023-05-26T17:59:59+02:00")
    assert client.post(register_url(), data=form_data()).status_code == 302
    assert len(attendees(app)) == 1


def test_at_the_deadline_the_submission_is_refused_and_keeps_the_input(app, client):
    set_now(app, "2023-05-26T18:00:00+02:00")
    response = client.post(register_url(), data=form_data(job_title="Développeuse"))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Les inscriptions sont closes depuis le vendredi 26 mai 2023 à 18h00" in text
    assert 'value="Développeuse"' in text
    assert attendees(app) == []


def test_a_form_opened_before_the_deadline_and_sent_after_is_refused(app, client):
    assert "S’inscrire" in client.get(register_url()).get_data(as_text=True)
    set_now(app, "2023-05-27T09:00:00+02:00")
    response = client.post(register_url(), data=form_data())
    assert "Les inscriptions sont closes depuis" in response.get_data(as_text=True)
    assert 'value="Camille"' in response.get_data(as_text=True)
    assert attendees(app) == []


def test_after_the_deadline_the_form_page_says_closed(app, client):
    set_now(app, "2023-06-01T09:00:00+02:00")
    text = client.get(register_url()).get_data(as_text=True)
    assert "Inscriptions closes" in text and "<form" not in text


def test_closing_in_the_database_refuses_in_the_same_transaction(app, client, event):
    with app.app_context(), services.transaction() as session:
        services.lock_event(session, event).is_open = False
    response = client.post(register_url(), data=form_data())
    assert "Les inscriptions sont fermées." in response.get_data(as_text=True)
    assert attendees(app) == []


def test_registering_twice_creates_nothing_and_answers_the_same(app, client):
    first = client.post(register_url(), data=form_data())
    second = client.post(register_url(), data=form_data(first_name="Autre"))
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert [a.first_name for a in attendees(app)] == ["Camille"]
    assert event_row(app).seats_taken == 1
    [reminder] = outbox(app, "duplicate")
    assert reminder.recipient == "camille.durand@numerique.gouv.fr"
    assert "déjà inscrit" in reminder.body_text


def test_a_full_event_puts_newcomers_on_the_waiting_list(app, client):
    set_capacity(app, 1)
    client.post(register_url(), data=form_data())
    assert "Événement complet" in client.get(register_url()).get_data(as_text=True)
    response = client.post(register_url(), data=form_data(email="b@numerique.gouv.fr"))
    assert "attente=1" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Vous êtes sur la liste d’attente" in page
    assert [a.status for a in attendees(app)] == [Status.PENDING, Status.WAITLISTED]
    assert event_row(app).seats_taken == 1


def test_a_duplicate_on_a_full_event_answers_like_a_newcomer(app, client):
    set_capacity(app, 1)
    client.post(register_url(), data=form_data())
    duplicate = client.post(register_url(), data=form_data())
    newcomer = client.post(register_url(), data=form_data(email="c@numerique.gouv.fr"))
    assert duplicate.headers["Location"] == newcomer.headers["Location"]


def test_expired_pending_registrations_free_their_seat_for_the_list(app, client):
    set_capacity(app, 1)
    client.post(register_url(), data=form_data())
    client.post(register_url(), data=form_data(email="b@numerique.gouv.fr"))
    [waiting_confirm] = [m for m in outbox(app, "confirm_address") if m.recipient.startswith("b@")]
    client.post(link_from(waiting_confirm, "/confirmer/"))  # b confirms their address
    set_now(app, "2023-05-21T10:00:01+02:00")  # 24 h and a second later
    assert client.get(f"/agenda/{SLUG}/").status_code == 200
    first, second = attendees(app)
    assert first.status == Status.EXPIRED
    assert second.status == Status.CONFIRMED
    assert event_row(app).seats_taken == 1
    assert [m.recipient for m in outbox(app, "promoted")] == ["b@numerique.gouv.fr"]


def test_an_expired_confirmation_link_is_refused(app, client):
    client.post(register_url(), data=form_data())
    [message] = outbox(app, "confirm_address")
    set_now(app, "2023-05-21T10:00:01+02:00")
    response = client.post(link_from(message, "/confirmer/"))
    assert response.status_code == 400
    assert "expiré" in response.get_data(as_text=True)
    assert attendees(app)[0].status == Status.EXPIRED


def test_a_forged_confirmation_link_is_refused(app, client):
    client.post(register_url(), data=form_data())
    response = client.post(f"/agenda/{SLUG}/inscription/confirmer/forged.token")
    assert response.status_code == 400
    assert attendees(app)[0].status == Status.PENDING


def test_a_cancelled_or_expired_registration_can_register_again(app, client):
    client.post(register_url(), data=form_data())
    set_now(app, "2023-05-22T10:00:00+02:00")
    client.post(register_url(), data=form_data(first_name="Camille-Anne"))
    [attendee] = attendees(app)
    assert attendee.status == Status.PENDING and attendee.first_name == "Camille-Anne"
    assert event_row(app).seats_taken == 1


def test_honeypot_answers_like_success_and_stores_nothing(app, client):
    response = client.post(register_url(), data=form_data(website="http://spam.example"))
    assert response.status_code == 302
    assert attendees(app) == [] and outbox(app) == []


def test_rate_limit_gives_a_clear_429_page(make_app):
    app = make_app(RATELIMIT_ENABLED=True, REGISTRATION_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [
        client.post(register_url(), data=form_data(email=f"a{i}@numerique.gouv.fr")).status_code
        for i in range(4)
    ]
    assert codes == [302, 302, 302, 429]
    response = client.post(register_url(), data=form_data(email="z@numerique.gouv.fr"))
    assert response.status_code == 429
    assert "Trop de demandes" in response.get_data(as_text=True)
    assert client.get(register_url()).status_code == 200  # reading the form is not limited


def test_csrf_is_enforced(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post(register_url(), data=form_data())
    assert response.status_code == 400 and attendees(app) == []
    assert "Requête invalide" in response.get_data(as_text=True)


def test_datetimes_are_stored_in_utc(app, client):
    client.post(register_url(), data=form_data())
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT created_at FROM attendees")).scalar_one()
        attendee = db.session.scalars(sa.select(Attendee)).one()
    assert attendee.created_at.utcoffset() == timedelta(0)
    assert attendee.created_at.hour == 8  # 10:00 Paris is 08:00 UTC
    assert "08:00:00" in str(raw)


def test_the_unique_constraint_stands_behind_the_service(app, client):
    client.post(register_url(), data=form_data())
    existing = attendees(app)[0]
    with app.app_context(), pytest.raises(sa.exc.IntegrityError):
        db.session.add(
            Attendee(
                event_id=existing.event_id,
                email=existing.email,
                first_name="x",
                last_name="y",
                employer="z",
                job_title="t",
                status=Status.PENDING,
                created_at=existing.created_at,
                updated_at=existing.created_at,
            )
        )
        db.session.commit()


def test_rate_limit_is_shared_between_instances_through_redis(make_app):
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).flushdb()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis unreachable at {redis_url}: {exc}")
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": redis_url,
        "REGISTRATION_RATE_LIMIT": "3 per minute",
    }
    # Two app instances stand for two gunicorn workers: they count together.
    first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
    codes = [
        client.post(register_url(), data=form_data(email=f"r{i}@numerique.gouv.fr")).status_code
        for i, client in enumerate([first, second, first, second])
    ]
    assert codes == [302, 302, 302, 429]


def test_expire_command_frees_seats_from_cron(app, client):
    set_capacity(app, 1)
    client.post(register_url(), data=form_data())
    client.post(register_url(), data=form_data(email="b@numerique.gouv.fr"))
    set_now(app, "2023-05-21T10:00:01+02:00")
    result = app.test_cli_runner().invoke(args=["registrations", "expire"])
    assert f"{SLUG} : 0 place(s) prise(s)" in result.output
    first, second = attendees(app)
    assert first.status == Status.EXPIRED
    # b never confirmed either: expired too, so the freed seat stays free
    assert second.status == Status.EXPIRED
