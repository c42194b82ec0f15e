"""The public pages as the test client sees them: agenda, event, form, links, rate limits."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest
import redis
import sqlalchemy as sa

from registration import links
from registration.extensions import db, limiter
from registration.models import EventRecord, Status

from ..conftest import CONTENT, REDIS_URL, unavailable
from ..factories import (
    form_data,
    link_from,
    make_record,
    make_registration,
    outbox,
    record_of,
    register_url,
    registrations,
    set_now,
    signed_in_client,
    statements,
)

CLOSED_SINCE = "Les inscriptions sont closes depuis le lundi 12 juin 2023 à 18h00."


def text_of(response) -> str:
    return response.get_data(as_text=True)


def manage_url(app, event, registration) -> str:
    with app.app_context():
        return f"/agenda/{event.slug}/mon-inscription/{links.manage_token(registration)}"


def checked(text: str, name: str, value: str) -> bool:
    """Whether the radio button or checkbox `name`=`value` is ticked in the page."""
    for tag in re.findall(r"<input [^>]*>", text):
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return " checked" in tag
    raise AssertionError(f"no input {name}={value}")


# --- The agenda -----------------------------------------------------------------------------


def test_home_lists_both_events_when_both_are_upcoming(client, event, plain_event):
    response = client.get("/")
    assert response.status_code == 200
    text = text_of(response)
    for shown in (event, plain_event):
        assert f'<a href="{shown.url}">{shown.title}</a>' in text
    assert "Aucun événement à venir" not in text


def test_home_redirects_to_the_only_upcoming_event(app, client, plain_event):
    set_now(app, "2023-06-15T12:30:00+02:00")  # the atelier has just ended
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(plain_event.url)


def test_home_lists_the_past_events_when_none_is_upcoming(app, client, event, plain_event):
    set_now(app, "2023-09-20T16:00:00+02:00")  # the rencontre ended (two hours by default)
    response = client.get("/")
    assert response.status_code == 200
    text = text_of(response)
    assert "Aucun événement à venir. Les événements passés :" in text
    assert event.title in text and plain_event.title in text


def test_the_agenda_lists_every_event(app, client, event, plain_event):
    set_now(app, "2023-09-20T16:00:00+02:00")
    text = text_of(client.get("/agenda/"))
    assert event.title in text and plain_event.title in text
    assert "Aucun événement à venir" not in text


# --- The event page -------------------------------------------------------------------------


def test_event_page_shows_front_matter_and_open_registration(client, event):
    text = text_of(client.get(event.url))
    assert "<title>Atelier des communs numériques – Inscriptions" in text
    assert "jeudi 15 juin 2023 à 09h30, jusqu’à 12h30" in text
    assert "Hôtel de Cassini" in text and "32 rue de Babylone, 75007 Paris" in text
    for label in ("Date", "Lieu", "Accès", "Inscription"):
        assert f'<dt class="fr-text--bold">{label}</dt>' in text
    assert "Métro 10, station Vaneau" in text
    assert f'<a class="fr-link" href="{event.registration_url}">S’inscrire en ligne</a>' in text
    assert "Inscriptions ouvertes jusqu’au lundi 12 juin 2023 à 18h00" in text
    assert "100 places restantes." in text
    assert "Réservé aux agents publics" in text
    assert "lien à ajouter" not in text
    assert "Une matinée pour <strong>partager</strong> les pratiques des communs." in text


def test_an_event_without_a_limit_shows_no_places_count(client, plain_event):
    text = text_of(client.get(plain_event.url))
    assert "Inscriptions ouvertes jusqu’au vendredi 15 septembre 2023 à 12h00" in text
    assert "restante" not in text and "Complet" not in text


def test_event_page_says_closed_after_the_deadline(app, client, event):
    set_now(app, "2023-06-12T18:00:00+02:00")
    text = text_of(client.get(event.url))
    assert "Inscriptions closes" in text
    assert CLOSED_SINCE in text
    assert "Inscriptions ouvertes" not in text


def test_event_page_shows_the_organisers_notice_when_closed(app, client, event):
    make_record(app, event, is_open=False, notice="Salle comble, merci de votre intérêt.")
    text = text_of(client.get(event.url))
    assert "Inscriptions closes" in text and "Les inscriptions sont fermées." in text
    assert "Salle comble, merci de votre intérêt." in text


def callout(text: str) -> str:
    return text[text.index('id="etat-inscriptions"') :].split("</div>", 1)[0]


@pytest.mark.parametrize("plain", [True, False], ids=["plain-visit", "rendered-in-full"])
def test_when_closed_no_link_leads_to_the_form_and_each_says_why(app, event, plain):
    make_record(app, event, is_open=False, notice="Salle comble, merci de votre intérêt.")
    response = app.test_client().get(event.url) if plain else rendered_in_full(app, event.url)
    text = text_of(response)
    assert f'href="{event.registration_url}"' not in text
    assert "S’inscrire" not in text
    reason = (
        '<span class="app-registration-closed"><span class="fr-badge fr-badge--error '
        'fr-badge--sm">Inscriptions closes</span> Les inscriptions sont fermées. '
        "Salle comble, merci de votre intérêt.</span>"
    )
    assert text.count(reason) == 2  # the body's button, the practical information's link
    # The organisers' message stands inside the callout, after its badge and the reason.
    box = callout(text)
    assert box.index("Inscriptions closes") < box.index("Les inscriptions sont fermées.")
    assert box.index("Les inscriptions sont fermées.") < box.index("Salle comble")


def test_after_the_deadline_the_body_says_since_when(app, client, event):
    set_now(app, "2023-06-12T18:00:00+02:00")
    text = text_of(client.get(event.url))
    assert f'href="{event.registration_url}"' not in text
    assert text.count(f"Inscriptions closes</span> {CLOSED_SINCE}") == 2
    assert f"{CLOSED_SINCE}." not in text  # one full stop, never two


def test_after_the_deadline_the_callout_and_the_form_end_their_sentence(app, client, event):
    set_now(app, "2023-06-13T09:00:00+02:00")
    page = text_of(client.get(event.url))
    assert re.search(rf'id="etat-inscriptions">.*?<p>{re.escape(CLOSED_SINCE)}</p>', page, re.S)
    form = text_of(client.get(register_url(event)))
    assert re.search(rf'id="inscriptions-closes">.*?<p>{re.escape(CLOSED_SINCE)}</p>', form, re.S)
    assert f"{CLOSED_SINCE}." not in page + form


def test_reopened_the_links_come_back(app, client, event):
    make_record(app, event, is_open=False)
    assert f'href="{event.registration_url}"' not in text_of(client.get(event.url))
    make_record(app, event, is_open=True)
    text = text_of(client.get(event.url))
    assert text.count(f'href="{event.registration_url}"') == 3  # callout, body, information
    assert "app-registration-closed" not in text


def test_a_full_event_says_waiting_list_not_open(app, client, event):
    make_record(app, event, capacity=1)
    make_registration(app, event, Status.CONFIRMED)
    box = callout(text_of(client.get(event.url)))
    assert '<p class="fr-badge fr-badge--warning fr-mb-1w">Complet – liste d’attente</p>' in box
    assert "fr-badge--success" not in box and ">Inscriptions ouvertes<" not in box
    assert f'href="{event.registration_url}"' in box  # the waiting list is open


def test_the_registration_box_comes_before_the_programme(client, event):
    text = text_of(client.get(event.url))
    assert text.index('id="etat-inscriptions"') < text.index("<h2>Présentation</h2>")
    assert text.index('id="date-evenement"') < text.index("<h2>Présentation</h2>")


def test_event_page_counts_no_seat_for_unconfirmed_addresses_without_writing(app, client, event):
    make_record(app, event, capacity=2)
    make_registration(app, event, Status.CONFIRMED)
    make_registration(app, event, Status.PENDING)
    assert "1 place restante." in text_of(client.get(event.url))
    set_now(app, "2023-05-21T10:00:01+02:00")  # overdue now: still no seat, nothing written
    assert "1 place restante." in text_of(client.get(event.url))
    assert registrations(app)[1].status == Status.PENDING
    make_registration(app, event, Status.CONFIRMED)
    assert "Complet" in text_of(client.get(event.url))


def test_a_page_view_creates_no_event_row(app, client, event):
    assert client.get(event.url).status_code == 200
    assert client.get(event.registration_url).status_code == 200
    with app.app_context():
        assert db.session.scalars(sa.select(EventRecord)).all() == []


def test_a_page_view_reads_the_event_row_once_without_locking_it(app, client, event):
    make_record(app, event)
    with statements(app) as sent:
        assert client.get(event.url).status_code == 200
    assert not any("FOR UPDATE" in s for s in sent)
    assert sum(s.lstrip().startswith("SELECT events.") for s in sent) == 1, sent


def test_an_unpublished_or_unknown_event_is_a_404(client):
    response = client.get("/agenda/nulle-part/")
    assert response.status_code == 404
    assert client.get("/agenda/nulle-part/inscription").status_code == 404


# --- Other pages ----------------------------------------------------------------------------


def test_a_content_page_is_served_at_its_permalink(client):
    response = client.get("/a-propos/")
    assert response.status_code == 200
    text = text_of(response)
    assert "<title>À propos – Inscriptions" in text
    assert "Qui organise ces événements." in text


@pytest.mark.parametrize(
    "path", ["/accessibilite", "/mentions-legales", "/donnees-personnelles", "/gestion-des-cookies"]
)
def test_footer_pages_exist_and_are_linked(client, event, path):
    assert client.get(path).status_code == 200
    assert f'href="{path}"' in text_of(client.get(event.url))


def test_personal_data_page_states_controller_purpose_retention_rights(client):
    text = text_of(client.get("/donnees-personnelles"))
    for words in ("Responsable du traitement", "Finalité", "90 jours", "Vos droits"):
        assert words in text


def test_base_template_has_dsfr_landmarks(client, event):
    text = text_of(client.get(event.url))
    assert '<html lang="fr"' in text
    assert '<p class="fr-logo">République<br>Française</p>' in text
    assert "fr-skiplinks" in text and 'href="#contenu"' in text
    assert "/static/dsfr/dsfr.min.css" in text


def test_unknown_page_is_a_french_404(client):
    response = client.get("/nulle-part/")
    assert response.status_code == 404
    assert "Page non trouvée" in text_of(response)


def test_dsfr_assets_are_served(client):
    response = client.get("/static/dsfr/dsfr.min.css")
    assert response.status_code == 200
    response.close()


# --- The registration form ------------------------------------------------------------------


def test_form_shows_fields_with_autocomplete_and_required_marks(client, event):
    text = text_of(client.get(register_url(event)))
    for attr in ('autocomplete="given-name"', 'autocomplete="family-name"', 'autocomplete="email"'):
        assert attr in text
    assert 'autocomplete="organization"' in text and 'autocomplete="organization-title"' in text
    assert 'href="/donnees-personnelles"' in text
    assert "Les champs marqués d’un astérisque (*) sont obligatoires" in text


def test_form_has_one_title_and_no_box_to_tick(client, event):
    text = text_of(client.get(register_url(event)))
    assert re.findall(r"<h1>(.*?)</h1>", text) == [f"Inscription à {event.title}"]
    assert 'type="checkbox"' not in text.split('id="q_sujets"')[0]  # only the question's
    assert "Je certifie" not in text and "J’ai pris connaissance" not in text
    # The notice follows the button: read, never ticked.
    after_button = text.split('<button class="fr-btn" type="submit">S’inscrire</button>')[1]
    assert "mission d’intérêt public" in after_button
    assert 'href="/donnees-personnelles"' in after_button


def test_form_shows_the_events_questions(client, event):
    text = text_of(client.get(register_url(event)))
    # A required single choice: radio buttons in a fieldset, its legend marked required.
    assert re.search(
        r'<fieldset class="fr-fieldset" id="q_atelier"[^>]*>\s*'
        r'<legend class="fr-fieldset__legend[^"]*" id="q_atelier-legende">'
        r"Atelier du matin<span aria-hidden=\"true\"> \*</span>",
        text,
    )
    for option in ("Données ouvertes", "Logiciels libres", "Accessibilité"):
        assert re.search(rf'<input [^>]*name="q_atelier" [^>]*type="radio" value="{option}">', text)
    # An optional multiple choice: checkboxes, its hint in the legend.
    assert re.search(
        r'<legend class="fr-fieldset__legend[^"]*" id="q_sujets-legende">'
        r"Sujets qui vous intéressent \(facultatif\)\s*"
        r'<span class="fr-hint-text">Plusieurs réponses possibles.</span>',
        text,
    )
    for option in ("Gouvernance", "Financement", "Communauté"):
        assert re.search(
            rf'<input [^>]*name="q_sujets" [^>]*type="checkbox" value="{option}">', text
        )
    # A short text: a labelled input with its hint.
    assert re.search(r'<label class="fr-label" for="q_regime">Régime alimentaire\s*<span', text)
    assert "Exemple : végétarien, sans gluten" in text
    assert re.search(r'<input [^>]*name="q_regime" [^>]*type="text"', text)


def test_an_event_without_questions_shows_none(client, plain_event):
    text = text_of(client.get(register_url(plain_event)))
    assert 'name="q_' not in text and "Atelier du matin" not in text
    assert 'name="first_name"' in text  # the common fields are there


def test_a_registration_is_pending_until_the_address_is_confirmed(app, client, event):
    response = client.post(
        register_url(event),
        data=form_data(q_sujets=["Gouvernance", "Communauté"], q_regime="Sans gluten"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/agenda/{event.slug}/inscription/envoyee"
    page = text_of(client.get(response.headers["Location"]))
    assert "Demande d’inscription reçue" in page
    assert "camille.durand@numerique.gouv.fr" in page
    [registration] = registrations(app)
    assert registration.status == Status.PENDING
    assert registration.email == "camille.durand@numerique.gouv.fr"
    assert registration.answers == {
        "atelier": "Logiciels libres",
        "sujets": ["Gouvernance", "Communauté"],
        "regime": "Sans gluten",
    }
    assert record_of(app, event).seats_taken == 0  # no seat until the address is confirmed

    [message] = outbox(app, "confirm_address")
    assert message.recipient == registration.email
    confirm = link_from(message, "/confirmer/")
    assert client.get(confirm).status_code == 200  # a page with a button, nothing changed yet
    assert registrations(app)[0].status == Status.PENDING
    manage = client.post(confirm)
    assert manage.status_code == 302 and "/mon-inscription/" in manage.headers["Location"]
    [registration] = registrations(app)
    assert registration.status == Status.CONFIRMED and registration.email_confirmed_at is not None
    assert record_of(app, event).seats_taken == 1
    assert len(outbox(app, "confirmed")) == 1
    assert "Confirmée" in text_of(client.get(manage.headers["Location"]))


def test_an_event_without_questions_stores_no_answers(app, client, plain_event):
    response = client.post(register_url(plain_event), data=form_data(q_atelier=None))
    assert response.status_code == 302
    [registration] = registrations(app)
    assert registration.answers == {}


def test_input_is_normalised_before_it_is_stored(app, client, event):
    client.post(
        register_url(event),
        data=form_data(
            first_name="  Camille ",
            last_name=" Durand",
            email="  Camille.Durand@NUMERIQUE.Gouv.FR ",
        ),
    )
    [registration] = registrations(app)
    assert (registration.first_name, registration.last_name) == ("Camille", "Durand")
    assert registration.email == "camille.durand@numerique.gouv.fr"


def test_idna_domains_are_normalised_before_they_are_stored(app, client, event):
    client.post(register_url(event), data=form_data(email="agent@ÉCOLE.ac-paris.fr"))
    [registration] = registrations(app)
    assert registration.email == "agent@xn--cole-9oa.ac-paris.fr"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "Renseignez votre prénom."),
        ("first_name", "Ca\nmille", "caractères non autorisés"),
        ("last_name", "Du\rrand", "caractères non autorisés"),
        ("last_name", "Du\u2028rand", "caractères non autorisés"),
        ("employer", "DI\x07NUM", "caractères non autorisés"),
        ("last_name", "x" * 61, "60 caractères au maximum"),
        ("email", "pas-une-adresse", "Saisissez une adresse e-mail valide"),
        ("email", "", "Renseignez votre adresse e-mail professionnelle."),
        ("employer", "", "Renseignez votre administration."),
        ("q_regime", "x" * 201, "200 caractères au maximum"),
    ],
)
def test_field_errors_show_next_to_the_field_and_keep_the_input(
    app, client, event, field, value, message
):
    response = client.post(
        register_url(event),
        data=form_data(**{field: value}, job_title="Tapé", q_sujets=["Financement"]),
    )
    assert response.status_code == 200
    text = text_of(response)
    assert "<title>Erreur : " in text
    assert 'id="resume-erreurs"' in text
    assert message in text
    assert f'aria-describedby="{field}-erreur"' in text and 'aria-invalid="true"' in text
    assert f'<p class="fr-error-text" id="{field}-erreur">' in text
    assert 'value="Tapé"' in text  # nothing typed is lost
    assert checked(text, "q_atelier", "Logiciels libres")  # nor ticked
    assert checked(text, "q_sujets", "Financement")
    assert not checked(text, "q_sujets", "Gouvernance")
    assert registrations(app) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("q_atelier", None, "Choisissez une réponse."),
        ("q_atelier", "Cuisine", "Choisissez parmi les réponses proposées."),
        ("q_sujets", ["Gouvernance", "Cuisine"], "Choisissez parmi les réponses proposées."),
    ],
)
def test_a_question_error_shows_under_its_fieldset(app, client, event, field, value, message):
    response = client.post(register_url(event), data=form_data(**{field: value}))
    assert response.status_code == 200
    text = text_of(response)
    assert "<title>Erreur : " in text and 'id="resume-erreurs"' in text
    assert f'<a href="#{field}">' in text  # the summary links to the fieldset
    assert re.search(
        rf'<fieldset class="fr-fieldset fr-fieldset--error" id="{field}" '
        rf'aria-labelledby="{field}-legende {field}-erreur">',
        text,
    )
    assert re.search(
        rf'<div class="fr-messages-group" id="{field}-erreur"[^>]*>'
        rf'<p class="fr-message fr-message--error">{re.escape(message)}</p>',
        text,
    )
    assert registrations(app) == []


def test_an_unknown_address_gets_an_explanation_and_a_way_to_ask(app, client, event):
    email = "camille@exemple-entreprise.com"
    response = client.post(register_url(event), data=form_data(email=email))
    assert response.status_code == 200
    text = text_of(response)
    assert "Cet événement est réservé aux agents publics" in text
    assert 'name="demander_verification"' in text  # manual verification, on by default
    assert f'value="{email}"' in text
    assert '<p class="fr-error-text" id="email-erreur">Cette adresse n’est pas celle' in text
    assert registrations(app) == []


def test_a_personal_mailbox_is_told_so_and_cannot_ask_for_a_verification(app, client, event):
    response = client.post(register_url(event), data=form_data(email="camille@gmail.com"))
    text = text_of(response)
    assert (
        '<p class="fr-error-text" id="email-erreur">gmail.com est une messagerie personnelle.'
        in text
    )
    assert "demander_verification" not in text
    assert 'href="mailto:contact@example.gouv.fr"' in text  # someone to write to instead
    # Even posted by hand, a justification does not turn it into a request.
    data = form_data(email="camille@gmail.com", ask_review="1", justification="Je suis agent.")
    text = text_of(client.post(register_url(event), data=data))
    assert "gmail.com est une messagerie personnelle." in text
    assert registrations(app) == []


@pytest.fixture
def without_manual_verification(make_app, tmp_path):
    """The fixture content, with `inscription.verification_manuelle: false` in both events."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    for path in (content / "agenda").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("\ninscription:\n", "\ninscription:\n  verification_manuelle: false\n", 1),
            encoding="utf-8",
        )
    return make_app(CONTENT_DIR=str(content))


def test_without_manual_verification_the_site_contact_is_given(without_manual_verification, event):
    client = without_manual_verification.test_client()
    response = client.post(register_url(event), data=form_data(email="camille@gmail.com"))
    text = text_of(response)
    assert "Cet événement est réservé aux agents publics" in text
    assert event.contact == "contact@example.gouv.fr"  # the site's, from _config.yml
    assert 'href="mailto:contact@example.gouv.fr"' in text
    assert "demander_verification" not in text
    assert registrations(without_manual_verification) == []


def test_an_events_own_contact_is_given(without_manual_verification, plain_event):
    client = without_manual_verification.test_client()
    response = client.post(register_url(plain_event), data=form_data(email="camille@gmail.com"))
    assert 'href="mailto:achats@example.gouv.fr"' in text_of(response)


@pytest.mark.parametrize("email", ["x@gouv.fr.evil.com", "x@fakegouv.fr", "gouv.fr@evil.com"])
def test_lookalike_domains_are_refused_by_the_form(app, client, event, email):
    response = client.post(register_url(event), data=form_data(email=email))
    assert response.status_code == 200
    assert registrations(app) == []


def test_one_second_before_the_deadline_passes(app, client, event):
    set_now(app, "2023-06-12T17:59:59+02:00")
    assert client.post(register_url(event), data=form_data()).status_code == 302
    assert len(registrations(app)) == 1


def test_at_the_deadline_the_submission_is_refused_and_keeps_the_input(app, client, event):
    set_now(app, "2023-06-12T18:00:00+02:00")
    response = client.post(register_url(event), data=form_data(job_title="Développeuse"))
    assert response.status_code == 200
    text = text_of(response)
    assert re.search(
        rf'<div [^>]*id="inscription-refusee">\s*<h2 [^>]*>Inscription impossible</h2>\s*'
        rf"<p>{CLOSED_SINCE}</p>",
        text,
    )
    assert 'id="inscriptions-closes"' not in text
    assert 'value="Développeuse"' in text
    assert checked(text, "q_atelier", "Logiciels libres")
    assert registrations(app) == []


def test_a_form_opened_before_the_deadline_and_sent_after_is_refused(app, client, event):
    assert "S’inscrire" in text_of(client.get(register_url(event)))
    set_now(app, "2023-06-13T09:00:00+02:00")
    response = client.post(register_url(event), data=form_data())
    text = text_of(response)
    assert "Les inscriptions sont closes depuis" in text
    assert 'value="Camille"' in text
    assert registrations(app) == []


def test_after_the_deadline_the_form_page_says_closed(app, client, event):
    set_now(app, "2023-06-13T09:00:00+02:00")
    text = text_of(client.get(register_url(event)))
    assert "Inscriptions closes" in text and "<form" not in text
    assert text.count(CLOSED_SINCE) == 1


def test_closing_in_the_database_refuses_the_submission(app, client, event):
    make_record(app, event, is_open=False, notice="Salle comble.")
    response = client.post(register_url(event), data=form_data())
    text = text_of(response)
    assert re.search(
        r'<div [^>]*id="inscription-refusee">\s*<h2 [^>]*>Inscription impossible</h2>\s*'
        r"<p>Les inscriptions sont fermées.</p>\s*<p>Salle comble.</p>",
        text,
    )
    assert text.count("Salle comble.") == 1
    assert 'value="Camille"' in text
    assert registrations(app) == []


@pytest.mark.parametrize(
    ("when", "closed", "message"),
    [
        ("2023-06-12T18:00:00+02:00", False, CLOSED_SINCE),
        ("2023-05-20T10:00:00+02:00", True, "Les inscriptions sont fermées."),
    ],
    ids=["deadline", "closed"],
)
def test_a_refused_submission_says_why_once(app, client, event, when, closed, message):
    set_now(app, when)
    if closed:
        make_record(app, event, is_open=False)
    text = text_of(client.post(register_url(event), data=form_data()))
    assert text.count(message) == 1


def test_registering_twice_creates_nothing_and_answers_the_same(app, client, event):
    first = client.post(register_url(event), data=form_data())
    second = client.post(register_url(event), data=form_data(first_name="Autre"))
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert [r.first_name for r in registrations(app)] == ["Camille"]
    assert record_of(app, event).seats_taken == 0
    [reminder] = outbox(app, "duplicate")
    assert reminder.recipient == "camille.durand@numerique.gouv.fr"
    assert "déjà inscrit" in reminder.body_text


def register_and_confirm(app, client, event, email: str) -> str:
    """Post the form, then follow the confirmation link: the management page's path."""
    client.post(register_url(event), data=form_data(email=email))
    [message] = [m for m in outbox(app, "confirm_address") if m.recipient == email]
    response = client.post(link_from(message, "/confirmer/"))
    assert response.status_code == 302
    return response.headers["Location"]


def test_a_full_event_puts_newcomers_on_the_waiting_list(app, client, event):
    make_record(app, event, capacity=1)
    register_and_confirm(app, client, event, "camille.durand@numerique.gouv.fr")
    form_page = text_of(client.get(register_url(event)))
    assert "Événement complet" in form_page and "Rejoindre la liste d’attente" in form_page
    response = client.post(register_url(event), data=form_data(email="b@numerique.gouv.fr"))
    assert response.headers["Location"] == f"/agenda/{event.slug}/inscription/envoyee?complet=1"
    page = text_of(client.get(response.headers["Location"]))
    assert "L’événement est complet" in page
    assert "Une fois votre adresse confirmée, vous rejoindrez la liste d’attente" in page
    assert [r.status for r in registrations(app)] == [Status.CONFIRMED, Status.PENDING]
    [message] = outbox(app, "confirm_address")[1:]
    manage = client.post(link_from(message, "/confirmer/")).headers["Location"]
    assert "Statut : <strong>Liste d’attente</strong>" in text_of(client.get(manage))
    assert [r.status for r in registrations(app)] == [Status.CONFIRMED, Status.WAITLISTED]
    assert record_of(app, event).seats_taken == 1


def test_a_duplicate_on_a_full_event_answers_like_a_newcomer(app, client, event):
    make_record(app, event, capacity=1)
    register_and_confirm(app, client, event, "camille.durand@numerique.gouv.fr")
    duplicate = client.post(register_url(event), data=form_data())
    newcomer = client.post(register_url(event), data=form_data(email="c@numerique.gouv.fr"))
    assert duplicate.headers["Location"] == newcomer.headers["Location"]
    assert "complet=1" in newcomer.headers["Location"]


def test_fifty_invented_addresses_cannot_keep_a_confirmed_agent_from_a_seat(app, client, event):
    make_record(app, event, capacity=50)
    for i in range(1, 51):
        response = client.post(
            register_url(event), data=form_data(email=f"fake{i}@numerique.gouv.fr")
        )
        assert "complet" not in response.headers["Location"]
    assert "50 places restantes." in text_of(client.get(event.url))
    manage = register_and_confirm(app, client, event, "camille.durand@numerique.gouv.fr")
    assert "Statut : <strong>Confirmée</strong>" in text_of(client.get(manage))
    assert record_of(app, event).seats_taken == 1
    assert "49 places restantes." in text_of(client.get(event.url))


def test_plus_addressing_variants_are_one_registration(app, client, event):
    for email in (
        "prenom.nom+a@numerique.gouv.fr",
        "prenom.nom+b@numerique.gouv.fr",
        "prenom.nom@numerique.gouv.fr",
    ):
        assert client.post(register_url(event), data=form_data(email=email)).status_code == 302
    assert [r.email for r in registrations(app)] == ["prenom.nom@numerique.gouv.fr"]
    assert len(outbox(app, "confirm_address")) == 1 and len(outbox(app, "duplicate")) == 1


def test_honeypot_answers_like_success_and_stores_nothing(app, client, event):
    response = client.post(register_url(event), data=form_data(website="http://spam.example"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/agenda/{event.slug}/inscription/envoyee"
    assert registrations(app) == [] and outbox(app) == []


def test_csrf_is_enforced(make_app, event):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post(register_url(event), data=form_data())
    assert response.status_code == 400 and registrations(app) == []
    assert "Votre session a expiré" in text_of(response)  # the form again: tests/views/test_http.py


# --- Confirmation and management links ------------------------------------------------------


def test_an_expired_confirmation_link_is_refused(app, client, event):
    client.post(register_url(event), data=form_data())
    [message] = outbox(app, "confirm_address")
    set_now(app, "2023-05-21T10:00:01+02:00")
    response = client.post(link_from(message, "/confirmer/"))
    assert response.status_code == 400
    assert "expiré" in text_of(response)
    # A request records nothing: `flask registrations expire` does, and meanwhile every
    # page reads the registration as expired.
    [registration] = registrations(app)
    assert registration.status == Status.PENDING
    assert registration.status_at(app.config["FROZEN_NOW"]) == Status.EXPIRED


def test_a_forged_confirmation_link_is_refused(app, client, event):
    client.post(register_url(event), data=form_data())
    response = client.post(f"/agenda/{event.slug}/inscription/confirmer/forged.token")
    assert response.status_code == 400
    assert "Ce lien de confirmation n’est pas valide." in text_of(response)
    assert registrations(app)[0].status == Status.PENDING


def test_the_confirmation_page_changes_nothing_on_get(app, client, event):
    made = make_registration(app, event, Status.PENDING)
    with app.app_context():
        token = links.confirm_token(made)
    with statements(app) as sent:
        response = client.get(f"/agenda/{event.slug}/inscription/confirmer/{token}")
    assert response.status_code == 200 and "<form" in text_of(response)
    assert sent == []  # not even a read: mail scanners follow links
    assert registrations(app)[0].status == Status.PENDING and outbox(app) == []


def test_the_manage_page_reads_once_and_locks_nothing(app, client, event):
    made = make_registration(app, event, Status.CONFIRMED)
    url = manage_url(app, event, made)
    with statements(app) as sent:
        assert client.get(url).status_code == 200
    [read] = [s for s in sent if s.startswith("SELECT")]
    assert " FOR " not in read and "IMMEDIATE" not in " ".join(sent), sent
    assert not any(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in sent), sent


def test_the_manage_page_shows_the_status(app, client, event):
    made = make_registration(app, event, Status.WAITLISTED, confirmed=True)
    text = text_of(client.get(manage_url(app, event, made)))
    assert "Liste d’attente" in text and "Annuler mon inscription" in text
    assert made.email in text


def test_an_overdue_registration_reads_expired_without_a_write(app, client, event):
    made = make_registration(app, event, Status.PENDING)
    set_now(app, "2023-05-21T10:00:01+02:00")
    response = client.get(manage_url(app, event, made))
    assert response.status_code == 200
    text = text_of(response)
    assert "Statut : <strong>Expirée</strong>" in text
    assert "Annuler mon inscription" not in text
    assert registrations(app)[0].status == Status.PENDING
    assert record_of(app, event).seats_taken == 0


def test_a_management_link_for_another_event_is_a_404(app, client, event, plain_event):
    made = make_registration(app, event, Status.CONFIRMED)
    url = manage_url(app, event, made).replace(event.slug, plain_event.slug)
    response = client.get(url)
    assert response.status_code == 404
    assert "Ce lien ne correspond à aucune inscription à cet événement." in text_of(response)
    assert client.post(url + "/annuler").status_code == 404
    assert registrations(app)[0].status == Status.CONFIRMED


def test_a_forged_management_link_is_a_404(client, event):
    response = client.get(f"/agenda/{event.slug}/mon-inscription/forged.token")
    assert response.status_code == 404
    assert "Ce lien n’est pas valide." in text_of(response)


def test_cancelling_asks_then_cancels_and_moves_the_list_up(app, client, event):
    make_record(app, event, capacity=1)
    made = make_registration(app, event, Status.CONFIRMED)
    waiting = make_registration(app, event, Status.WAITLISTED, confirmed=True)
    url = manage_url(app, event, made)
    page = client.get(url + "/annuler")
    assert page.status_code == 200 and "<form" in text_of(page)
    assert registrations(app)[0].status == Status.CONFIRMED  # asking changes nothing
    response = client.post(url + "/annuler")
    assert response.status_code == 302 and response.headers["Location"] == url
    assert "Statut : <strong>Annulée</strong>" in text_of(client.get(url))
    statuses = {r.id: r.status for r in registrations(app)}
    assert statuses == {made.id: Status.CANCELLED, waiting.id: Status.CONFIRMED}
    assert [m.recipient for m in outbox(app, "promoted")] == [waiting.email]


def outcome(text: str) -> str:
    """The alert « Mon inscription » opens with after an action, focused by static/focus.js."""
    found = re.search(
        r'<div class="fr-alert fr-alert--success[^"]*" id="resultat-action" '
        r'tabindex="-1" data-app-focus>(.*?)</div>',
        text,
        re.S,
    )
    assert found, "no success alert"
    return found.group(1)


def test_cancelling_ends_on_a_success_alert_with_the_way_back_to_the_form(app, client, event):
    made = make_registration(app, event, Status.CONFIRMED)
    url = manage_url(app, event, made)
    client.post(url + "/annuler")
    alert = outcome(text_of(client.get(url)))
    assert "Votre inscription est annulée." in alert
    assert f'href="{event.registration_url}"' in alert
    assert 'id="resultat-action"' not in text_of(client.get(url))  # said once


def test_two_messages_on_my_registration_have_ids_of_their_own(app, client, event):
    made = make_registration(app, event, Status.CONFIRMED)
    url = manage_url(app, event, made)
    with client.session_transaction() as flashed:
        flashed["_flashes"] = [("success", "Première."), ("info", "Seconde.")]
    text = text_of(client.get(url))
    assert re.findall(r'id="(resultat-action[^"]*)"', text) == [
        "resultat-action",
        "resultat-action-2",
    ]
    assert text.count("data-app-focus") == 1  # the focus goes to the first


def test_cancelling_once_closed_offers_no_way_back(app, client, event):
    made = make_registration(app, event, Status.CONFIRMED)
    make_record(app, event, is_open=False)
    url = manage_url(app, event, made)
    client.post(url + "/annuler")
    alert = outcome(text_of(client.get(url)))
    assert "Votre inscription est annulée." in alert and "href" not in alert


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        (10, "Votre inscription est confirmée : votre place est réservée."),
        (0, "Votre adresse est confirmée : vous êtes sur la liste d’attente."),
    ],
)
def test_confirming_ends_on_a_success_alert(app, client, event, capacity, message):
    make_record(app, event, capacity=capacity)
    client.post(register_url(event), data=form_data())
    [sent] = outbox(app, "confirm_address")
    manage = client.post(link_from(sent, "/confirmer/"))
    text = text_of(client.get(manage.headers["Location"]))
    assert message in outcome(text)
    assert text.index("<h1>Mon inscription</h1>") < text.index('id="resultat-action"')
    assert '<script src="/static/focus.js" defer></script>' in text


# --- Rate limits ----------------------------------------------------------------------------


def test_rate_limit_gives_a_clear_429_page(make_app, event):
    app = make_app(RATELIMIT_ENABLED=True, REGISTRATION_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [
        client.post(
            register_url(event), data=form_data(email=f"a{i}@numerique.gouv.fr")
        ).status_code
        for i in range(4)
    ]
    assert codes == [302, 302, 302, 429]
    response = client.post(register_url(event), data=form_data(email="z@numerique.gouv.fr"))
    assert response.status_code == 429
    assert "Trop de demandes" in text_of(response)
    assert client.get(register_url(event)).status_code == 200  # reading the form is not limited
    assert len(registrations(app)) == 3


def test_thirty_agents_behind_one_ip_address_all_register_within_a_minute(make_app, event):
    """A ministry's proxy: one IP address, many agents, the default limits."""
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    codes = [
        client.post(
            register_url(event), data=form_data(email=f"agent{i}@interieur.gouv.fr")
        ).status_code
        for i in range(30)
    ]
    assert codes == [302] * 30
    assert len(registrations(app)) == 30


def test_one_address_is_limited_from_one_ip_address(make_app, event):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    # The same mailbox (a +tag or capitals change nothing), over and over from one place.
    emails = ["camille.durand@numerique.gouv.fr"] * 3 + [
        "Camille.Durand+x@numerique.gouv.fr",
        "camille.durand+y@numerique.gouv.fr",
        "camille.durand@numerique.gouv.fr",
    ]
    elsewhere = {"REMOTE_ADDR": "10.0.0.66"}
    codes = [
        client.post(
            register_url(event), data=form_data(email=email), environ_base=elsewhere
        ).status_code
        for email in emails
    ]
    assert codes == [302] * 5 + [429]  # already registered: told by e-mail, as for a first time
    other = client.post(
        register_url(event), data=form_data(email="zoe@numerique.gouv.fr"), environ_base=elsewhere
    )
    assert other.status_code == 302  # another agent behind the same IP is not held up


def test_posting_an_agents_address_elsewhere_does_not_lock_the_agent_out(make_app, event):
    """Someone who knows an agent's address and posts it until refused, from their own IP
    address, only fills their own bucket: the agent, from the ministry, still gets through."""
    app = make_app(RATELIMIT_ENABLED=True, REGISTRATION_RATE_LIMIT_PER_ADDRESS="2 per hour")
    client = app.test_client()
    agent = "camille.durand@numerique.gouv.fr"
    codes = [
        client.post(
            register_url(event), data=form_data(email=agent), environ_base={"REMOTE_ADDR": ip}
        ).status_code
        for ip in ["192.0.2.7"] * 3 + ["10.0.0.1"]
    ]
    assert codes == [302, 302, 429, 302]


def test_a_post_without_an_address_is_not_counted_for_an_address(make_app, event):
    app = make_app(RATELIMIT_ENABLED=True, REGISTRATION_RATE_LIMIT_PER_ADDRESS="1 per minute")
    client = app.test_client()
    codes = [client.post(register_url(event), data=form_data(email="")).status_code for _ in "ab"]
    assert codes == [200, 200]  # « Renseignez votre adresse », not « Trop de demandes »


def test_rate_limit_is_shared_between_instances_through_redis(make_app, event, monkeypatch):
    """Two app instances stand for two gunicorn workers: they count together, in Redis.

    The counters live under a prefix of this test's own, removed afterwards: the Redis
    database is shared, so nothing else in it is touched."""
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        store.ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    prefix = f"test-inscriptions-{secrets.token_hex(8)}"
    # The one Limiter keeps the first prefix it was given (`self._key_prefix or config...`):
    # start from none, so that this test's own prefix is read from the config.
    monkeypatch.setattr(limiter, "_key_prefix", "")
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "REGISTRATION_RATE_LIMIT": "3 per minute",
    }
    try:
        first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
        codes = [
            client.post(
                register_url(event), data=form_data(email=f"r{i}@numerique.gouv.fr")
            ).status_code
            for i, client in enumerate([first, second, first, second])
        ]
        assert codes == [302, 302, 302, 429]
        assert list(store.scan_iter(match=f"*{prefix}*")), "the counter is under our prefix"
    finally:
        for key in store.scan_iter(match=f"*{prefix}*"):
            store.delete(key)
        store.close()


# --- The event page from its static parts ---------------------------------------------------


def without_request_id(response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")


def rendered_in_full(app, url: str):
    """The page as a visitor with a (stale) session cookie gets it: rendered in full."""
    client = app.test_client()
    client.set_cookie("session", "perime")
    return client.get(url)


@pytest.mark.parametrize("state", ["open", "full", "closed", "deadline", "unlimited"])
def test_a_plain_visit_gets_the_bytes_of_the_page_rendered_in_full(app, event, plain_event, state):
    shown = plain_event if state == "unlimited" else event
    if state == "full":
        make_record(app, event, capacity=1)
        make_registration(app, event, Status.CONFIRMED)
    elif state == "closed":
        make_record(app, event, is_open=False, notice="Salle comble, merci de votre intérêt.")
    elif state == "deadline":
        set_now(app, "2023-06-12T18:00:00+02:00")
    plain = app.test_client().get(shown.url)
    full = rendered_in_full(app, shown.url)
    assert plain.status_code == full.status_code == 200
    assert plain.data == full.data
    assert without_request_id(plain) == without_request_id(full)
    assert "Set-Cookie" not in plain.headers
    expected = {
        "open": "100 places restantes.",
        "full": "Complet – liste d’attente",
        "closed": "Salle comble, merci de votre intérêt.",
        "deadline": CLOSED_SINCE,
        "unlimited": "Inscriptions ouvertes jusqu’au vendredi 15 septembre 2023 à 12h00",
    }[state]
    assert expected in text_of(plain)


def test_each_state_shows_in_turn_on_the_same_static_parts(app, client, event):
    make_record(app, event, capacity=2)
    assert "2 places restantes." in text_of(client.get(event.url))
    make_registration(app, event, Status.CONFIRMED)
    assert "1 place restante." in text_of(client.get(event.url))
    make_registration(app, event, Status.CONFIRMED)
    assert "Complet" in text_of(client.get(event.url))
    make_record(app, event, is_open=False)
    text = text_of(client.get(event.url))
    assert "Inscriptions closes" in text and "Complet" not in text
    assert text.count('id="etat-inscriptions"') == 1


def test_the_simulated_date_changes_with_the_clock(app, client, event):
    assert "le samedi 20 mai 2023 à 10h00 (démonstration)" in text_of(client.get(event.url))
    set_now(app, "2023-05-22T09:15:00+02:00")
    assert "le lundi 22 mai 2023 à 09h15 (démonstration)" in text_of(client.get(event.url))


def test_an_edited_event_file_shows_at_once(make_app, tmp_path, event):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    app = make_app(CONTENT_DIR=str(content))
    client = app.test_client()
    assert "<h1>Atelier des communs numériques</h1>" in text_of(client.get(event.url))
    (path,) = (content / "agenda").glob(f"*{event.slug}.md")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "Atelier des communs numériques", "Atelier renommé", 1
        ),
        encoding="utf-8",
    )
    text = text_of(client.get(event.url))
    assert "<h1>Atelier renommé</h1>" in text and "Atelier des communs" not in text


def test_signed_in_staff_get_the_page_with_their_menu(app, event):
    client = signed_in_client(app, "orga@numerique.gouv.fr", "organiser")
    text = text_of(client.get(event.url))
    assert "Se déconnecter" in text and 'name="csrf_token"' in text
    plain = text_of(app.test_client().get(event.url))
    assert "Se déconnecter" not in plain and "csrf_token" not in plain


def test_a_flashed_message_shows_on_the_event_page(app, client, event):
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Un message pour vous.")]
    assert "Un message pour vous." in text_of(client.get(event.url))
    assert "Un message pour vous." not in text_of(client.get(event.url))


def test_a_plain_visit_sets_no_cookie_and_keeps_the_security_headers(app, client, event):
    response = client.get(event.url)
    assert "Set-Cookie" not in response.headers
    assert response.headers["Vary"] == "Cookie"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    for header in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
        assert header in response.headers
    assert "Cache-Control" not in response.headers  # public: caches may keep it
