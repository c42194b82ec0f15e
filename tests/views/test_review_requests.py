"""Manual verification, typo suggestions and free-text fields over HTTP: the public form,
then the organisers' « Demandes à vérifier »."""

from __future__ import annotations

import html
import re
import shutil

import pytest
import sqlalchemy as sa

from registration import eligibility, links
from registration.extensions import db
from registration.models import EventDomain, Status

from ..conftest import CONTENT
from ..factories import form_data, make_registration, outbox, register_url, registrations

CCAS = "lea.martin@ccas-exemple.fr"
JUSTIFICATION = "Je travaille au CCAS de ma commune, qui a son propre nom de domaine."
ASK_BUTTON = "Je suis agent public : demander une vérification"
EXPLAIN = "Expliquez en quelques mots qui vous emploie."
ALREADY_DECIDED = "Cette demande n’est plus à vérifier : elle a déjà été traitée."
WEB_OR_MAIL = "N’indiquez ni adresse web ni adresse e-mail dans ce champ."
MARKUP = "Les caractères < > { } [ ] | ` \\ ne sont pas acceptés ici."
SLUG = "atelier-des-communs"
REQUESTS = f"/organisation/{SLUG}/demandes"


def text_of(response) -> str:
    return response.get_data(as_text=True)


def error_of(text: str, field: str) -> str | None:
    """The error shown next to a field, as a person reads it."""
    found = re.search(rf'<p class="fr-error-text" id="{field}-erreur">(.*?)</p>', text, re.S)
    return html.unescape(found.group(1)) if found else None


def value_of(text: str, name: str) -> str:
    for tag in re.findall(r"<input [^>]*>", text):
        if f'name="{name}"' in tag:
            found = re.search(r'value="([^"]*)"', tag)
            return html.unescape(found.group(1)) if found else ""
    raise AssertionError(f"no input {name}")


def checked(text: str, name: str, value: str) -> bool:
    for tag in re.findall(r"<input [^>]*>", text):
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return " checked" in tag
    raise AssertionError(f"no input {name}={value}")


def refused_form(**overrides) -> dict:
    """A valid form with an address the list does not know."""
    return form_data(
        email=CCAS,
        first_name="Léa",
        last_name="Martin",
        employer="CCAS d’Exemple-sur-Mer",
        job_title="Travailleuse sociale",
        **overrides,
    )


def strict_app(make_app, tmp_path):
    """The app on a copy of the fixture content where the atelier says
    `verification_manuelle: false`."""
    copy = tmp_path / "content-strict"
    shutil.copytree(CONTENT, copy)
    path = copy / "agenda" / "2023-06-15-atelier-des-communs.md"
    text = path.read_text("utf-8")
    assert "  places: 100\n" in text
    path.write_text(
        text.replace("  places: 100\n", "  places: 100\n  verification_manuelle: false\n"),
        "utf-8",
    )
    return make_app(CONTENT_DIR=str(copy))


# --- The refusal offers a verification ------------------------------------------------------


def test_a_refused_address_is_offered_a_verification(app, client, event):
    text = text_of(client.post(register_url(event), data=refused_form()))
    assert 'id="eligibilite"' in text
    button = re.search(r'<button [^>]*id="demander-verification"[^>]*>(.*?)</button>', text)
    assert button is not None and button.group(1) == ASK_BUTTON
    assert 'name="demander_verification" value="1"' in button.group(0)
    assert 'form="formulaire-inscription"' in button.group(0)
    assert 'id="formulaire-inscription"' in text
    assert 'id="verification"' not in text  # not before the agent asks
    assert registrations(app) == [] and outbox(app) == []


def test_an_eligible_address_is_offered_nothing(client, event):
    text = text_of(client.get(register_url(event)))
    assert 'id="eligibilite"' not in text and "demander-verification" not in text


def test_without_manual_verification_no_verification_is_offered(make_app, tmp_path, event):
    app = strict_app(make_app, tmp_path)
    client = app.test_client()
    text = text_of(client.post(register_url(event), data=refused_form()))
    assert 'id="eligibilite"' in text
    assert "demander-verification" not in text and ASK_BUTTON not in text
    # Pressing the button anyway (an old page) shows no justification field either.
    text = text_of(client.post(register_url(event), data=refused_form(demander_verification="1")))
    assert 'id="verification"' not in text and 'name="justification"' not in text
    assert 'id="eligibilite"' in text
    # And a justification posted anyway changes nothing.
    response = client.post(
        register_url(event),
        data=refused_form(ask_review="1", justification=JUSTIFICATION),
    )
    assert response.status_code == 200
    assert 'id="eligibilite"' in text_of(response)
    assert registrations(app) == [] and outbox(app) == []


# --- Asking for a verification --------------------------------------------------------------


def test_asking_shows_the_justification_field_and_keeps_what_was_typed(app, client, event):
    response = client.post(
        register_url(event),
        data=refused_form(demander_verification="1", q_sujets=["Gouvernance"]),
    )
    assert response.status_code == 200
    text = text_of(response)
    fieldset = re.search(
        r'<fieldset class="fr-fieldset" id="verification">(.*?)</fieldset>', text, re.S
    )
    assert fieldset is not None
    assert "<legend" in fieldset.group(1) and "Demande de vérification</legend>" in fieldset.group(
        1
    )
    assert re.search(r'<textarea [^>]*name="justification"', fieldset.group(1))
    assert "Pourquoi votre adresse n’est-elle pas reconnue ?" in fieldset.group(1)
    assert value_of(fieldset.group(1), "ask_review") == "1"
    assert EXPLAIN not in text  # not an error yet: the agent has not written anything
    assert "Envoyer ma demande de vérification" in text
    assert value_of(text, "first_name") == "Léa"
    assert value_of(text, "email") == CCAS
    assert value_of(text, "employer") == "CCAS d’Exemple-sur-Mer"
    assert value_of(text, "job_title") == "Travailleuse sociale"
    assert checked(text, "q_atelier", "Logiciels libres")
    assert checked(text, "q_sujets", "Gouvernance")
    assert registrations(app) == [] and outbox(app) == []


def test_a_request_without_a_justification_says_what_is_missing(app, client, event):
    response = client.post(register_url(event), data=refused_form(ask_review="1"))
    assert response.status_code == 200
    text = text_of(response)
    assert error_of(text, "justification") == EXPLAIN
    assert 'aria-describedby="justification-erreur"' in text
    assert 'id="verification"' in text
    assert registrations(app) == [] and outbox(app) == []


def test_a_request_with_a_justification_is_stored_for_review(app, client, event):
    response = client.post(
        register_url(event), data=refused_form(ask_review="1", justification=JUSTIFICATION)
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/agenda/{SLUG}/inscription/envoyee?verification=1"
    page = text_of(client.get(response.headers["Location"]))
    assert "Votre demande sera vérifiée" in page and CCAS in page
    [request] = registrations(app)
    assert request.status == Status.REVIEW
    assert request.justification == JUSTIFICATION
    assert request.email == CCAS and request.email_confirmed_at is None
    [message] = outbox(app, "confirm_address")
    assert message.recipient == CCAS
    assert len(outbox(app)) == 1


def test_a_public_agent_who_asked_anyway_registers_as_usual(app, client, event):
    response = client.post(
        register_url(event),
        data=form_data(ask_review="1", justification=JUSTIFICATION),
    )
    assert response.status_code == 302
    assert "verification" not in response.headers["Location"]
    [registration] = registrations(app)
    assert registration.status == Status.PENDING and registration.justification == ""


def test_a_public_address_needs_no_justification_after_asking(app, client, event):
    """The agent asked for a verification, then typed their public address instead: the
    address is accepted, and the empty justification field must not stop them."""
    response = client.post(register_url(event), data=form_data(ask_review="1"))
    assert error_of(text_of(response), "justification") is None
    assert response.status_code == 302
    [registration] = registrations(app)
    assert registration.status == Status.PENDING


# --- The organisers' page -------------------------------------------------------------------


def request_row(app, event, email: str = CCAS, **fields):
    values = {
        "first_name": "Léa",
        "last_name": "Martin",
        "employer": "CCAS d’Exemple-sur-Mer",
        "job_title": "Travailleuse sociale",
        "justification": JUSTIFICATION,
    }
    values.update(fields)
    return make_registration(app, event, Status.REVIEW, email=email, confirmed=True, **values)


def test_the_requests_page_needs_signing_in(client):
    response = client.get(REQUESTS)
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]
    response = client.post(f"{REQUESTS}/{'0' * 32}", data={"accept": "Accepter"})
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]


def test_the_nav_leads_to_the_requests(organiser_client):
    text = text_of(organiser_client.get(f"/organisation/{SLUG}/"))
    assert re.search(
        rf'<a class="fr-nav__link" href="{REQUESTS}"[^>]*>Demandes à vérifier</a>', text
    )


def test_the_requests_page_lists_proven_requests_with_their_details(app, organiser_client, event):
    shown = request_row(app, event)
    hidden = make_registration(
        app, event, Status.REVIEW, email="pas.encore@ccas-exemple.fr", confirmed=False
    )
    make_registration(app, event, Status.CONFIRMED, email="deja@numerique.gouv.fr")
    response = organiser_client.get(REQUESTS)
    assert response.status_code == 200
    text = text_of(response)
    assert "<h1>Demandes à vérifier</h1>" in text
    assert re.search(r'aria-current="page">Demandes à vérifier</a>', text)
    section = re.search(rf'<section [^>]*id="demande-{shown.public_id}".*?</section>', text, re.S)
    assert section is not None
    card = html.unescape(section.group(0))
    for detail in ("Léa Martin", CCAS, "CCAS d’Exemple-sur-Mer", "Travailleuse sociale"):
        assert detail in card
    assert '<dd class="app-domaine">ccas-exemple.fr</dd>' in card
    assert f'<dd class="app-justification">{JUSTIFICATION}</dd>' in card
    assert "Accepter aussi les autres adresses en @ccas-exemple.fr pour cet événement" in card
    assert hidden.public_id not in text and "pas.encore@" not in text
    assert "deja@numerique.gouv.fr" not in text


def test_the_requests_page_says_when_there_is_none(organiser_client):
    text = text_of(organiser_client.get(REQUESTS))
    assert "Aucune demande à vérifier pour le moment." in text


def test_a_justification_is_shown_as_text(app, organiser_client, event):
    request_row(
        app,
        event,
        justification='<script>alert("x")</script> & <b>gras</b>',
        employer="<img src=x onerror=alert(1)>",
    )
    text = text_of(organiser_client.get(REQUESTS))
    assert "<script>alert" not in text and "<b>gras" not in text and "<img src=x" not in text
    assert (
        '<dd class="app-justification">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; '
        "&lt;b&gt;gras&lt;/b&gt;</dd>" in text
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_accepting_redirects_with_a_flash_message(app, organiser_client, event):
    request = request_row(app, event)
    response = organiser_client.post(
        f"{REQUESTS}/{request.public_id}",
        data={"message": "Bienvenue !", "accept": "Accepter"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == REQUESTS
    text = text_of(organiser_client.get(REQUESTS))
    assert "Demande de Léa Martin acceptée ; un e-mail le lui annonce." in text
    assert "Aucune demande à vérifier pour le moment." in text
    [accepted] = registrations(app)
    assert accepted.status == Status.CONFIRMED and accepted.review_message == "Bienvenue !"
    assert accepted.reviewed_by == "orga@numerique.gouv.fr"
    [mail] = outbox(app, "review_accepted")
    assert "Bienvenue !" in mail.body_text and mail.ics is not None
    with app.app_context():
        assert db.session.scalars(sa.select(EventDomain)).all() == []


def test_accepting_the_domain_from_the_page(app, organiser_client, event):
    request = request_row(app, event)
    organiser_client.post(
        f"{REQUESTS}/{request.public_id}", data={"accept": "Accepter", "accept_domain": "y"}
    )
    with app.app_context():
        assert db.session.scalars(sa.select(EventDomain.domain)).all() == ["ccas-exemple.fr"]


def test_refusing_redirects_with_a_flash_message(app, organiser_client, event):
    request = request_row(app, event)
    response = organiser_client.post(
        f"{REQUESTS}/{request.public_id}",
        data={"message": "Réservé aux agents de l’État.", "refuse": "Refuser"},
    )
    assert response.status_code == 302 and response.headers["Location"] == REQUESTS
    text = text_of(organiser_client.get(REQUESTS))
    assert "Demande de Léa Martin refusée ; un e-mail le lui annonce." in text
    [refused] = registrations(app)
    assert refused.status == Status.REFUSED
    [mail] = outbox(app, "review_refused")
    assert "Réservé aux agents de l’État." in mail.body_text


@pytest.mark.parametrize("second", ["accept", "refuse"])
def test_a_second_decision_says_the_request_was_already_handled(
    app, organiser_client, event, second
):
    request = request_row(app, event)
    organiser_client.post(f"{REQUESTS}/{request.public_id}", data={"accept": "Accepter"})
    organiser_client.get(REQUESTS)  # the first flash message is read
    buttons = {"accept": {"accept": "Accepter"}, "refuse": {"refuse": "Refuser"}}
    response = organiser_client.post(f"{REQUESTS}/{request.public_id}", data=buttons[second])
    assert response.status_code == 302
    text = text_of(organiser_client.get(REQUESTS))
    assert ALREADY_DECIDED in text
    assert "fr-alert--error" in text
    [accepted] = registrations(app)
    assert accepted.status == Status.CONFIRMED
    assert len(outbox(app, "review_accepted")) == 1 and outbox(app, "review_refused") == []


def test_a_post_pressing_neither_button_decides_nothing(app, organiser_client, event):
    """Only « Accepter » or « Refuser » decides: a post without either (a stray request, a
    form without its button) must not refuse the agent and mail them."""
    request = request_row(app, event)
    organiser_client.post(f"{REQUESTS}/{request.public_id}", data={"message": "Bonjour"})
    [untouched] = registrations(app)
    assert untouched.status == Status.REVIEW
    assert outbox(app) == []


def test_a_message_too_long_is_explained_not_dropped(app, organiser_client, event):
    """The decision is not taken, and the organiser is told why."""
    request = request_row(app, event)
    response = organiser_client.post(
        f"{REQUESTS}/{request.public_id}", data={"message": "a" * 1001, "accept": "Accepter"}
    )
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        response = organiser_client.get(response.headers["Location"])
    assert registrations(app)[0].status == Status.REVIEW
    assert "1000 caractères au maximum." in text_of(response)


def test_the_whole_flow_over_http(app, client, organiser_client, event):
    client.post(register_url(event), data=refused_form(ask_review="1", justification=JUSTIFICATION))
    [request] = registrations(app)
    assert request.public_id not in text_of(organiser_client.get(REQUESTS))  # not proven yet
    with app.app_context():
        token = links.confirm_token(request)
    confirmed = client.post(f"/agenda/{SLUG}/inscription/confirmer/{token}")
    assert confirmed.status_code == 302
    assert "À vérifier" in text_of(client.get(confirmed.headers["Location"]))
    assert [m.kind for m in outbox(app)] == ["confirm_address", "review_received"]
    assert request.public_id in text_of(organiser_client.get(REQUESTS))
    organiser_client.post(f"{REQUESTS}/{request.public_id}", data={"refuse": "Refuser"})
    again = client.post(f"/agenda/{SLUG}/inscription/confirmer/{token}")
    assert again.status_code == 400
    assert "Cette demande d’inscription n’a pas été acceptée." in text_of(again)


# --- Typos ----------------------------------------------------------------------------------

TYPO = "camille.durand@numerique-gouv.fr"
FIXED = "camille.durand@numerique.gouv.fr"


@pytest.fixture
def suggests(monkeypatch):
    """The list suggests FIXED for TYPO. rules.check_eligible asks eligibility.check (through
    its shim while that lasts)."""
    real = getattr(eligibility, "check", None)

    def check(email: str, extra=()):
        if email == TYPO:
            return eligibility.Decision(False, "domaine inconnu", FIXED)
        if real is not None:
            return real(email, extra)
        return eligibility.Decision(eligibility.is_public_address(email, tuple(extra)), "")

    monkeypatch.setattr(eligibility, "check", check, raising=False)


def test_a_typo_is_pointed_out_next_to_the_email_field(app, client, event, suggests):
    response = client.post(register_url(event), data=form_data(email=TYPO))
    assert response.status_code == 200
    text = text_of(response)
    assert error_of(text, "email") == f"Vouliez-vous dire {FIXED} ?"
    button = re.search(r'<button [^>]*name="corriger"[^>]*>(.*?)</button>', text)
    assert button is not None
    assert f'value="{FIXED}"' in button.group(0)
    assert button.group(1) == f"Utiliser {FIXED}"
    # The button sits with the e-mail field, inside the form.
    email_block = text[text.index('id="email"') : text.index('name="employer"')]
    assert 'name="corriger"' in email_block
    assert 'id="eligibilite"' not in text  # a typo, not an outsider
    assert value_of(text, "email") == TYPO
    assert registrations(app) == [] and outbox(app) == []


def test_using_the_suggestion_registers_the_corrected_address(app, client, event, suggests):
    response = client.post(register_url(event), data=form_data(email=TYPO, corriger=FIXED))
    assert response.status_code == 302
    [registration] = registrations(app)
    assert registration.email == FIXED and registration.status == Status.PENDING
    [message] = outbox(app, "confirm_address")
    assert message.recipient == FIXED


# --- Free text ------------------------------------------------------------------------------

FREE_TEXT = ("first_name", "last_name", "employer", "job_title")


@pytest.mark.parametrize("field", FREE_TEXT)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://exemple.org/promo", WEB_OR_MAIL),
        ("Voir www.exemple.net", WEB_OR_MAIL),
        ("Gagnez sur exemple.fr", WEB_OR_MAIL),
        ("camille@exemple.fr", WEB_OR_MAIL),
        ("<b>Camille</b>", MARKUP),
        ("{{ 7*7 }}", MARKUP),
        ("Camille | Durand", MARKUP),
    ],
)
def test_free_text_refuses_addresses_and_markup(app, client, event, field, value, message):
    response = client.post(register_url(event), data=form_data(**{field: value}))
    assert response.status_code == 200
    text = text_of(response)
    assert error_of(text, field) == message
    assert f'aria-describedby="{field}-erreur"' in text
    others = [f for f in FREE_TEXT if f != field]
    assert all(error_of(text, other) is None for other in others)
    assert registrations(app) == [] and outbox(app) == []


def test_free_text_accepts_ordinary_names(app, client, event):
    names = {
        "first_name": "Marie-Hélène",
        "last_name": "N’Diaye",
        "employer": "Ministère de l’Intérieur",
        "job_title": "Cheffe de projet (SI)",
    }
    response = client.post(register_url(event), data=form_data(**names))
    assert response.status_code == 302, [error_of(text_of(response), f) for f in FREE_TEXT]
    [registration] = registrations(app)
    assert (
        registration.first_name,
        registration.last_name,
        registration.employer,
        registration.job_title,
    ) == tuple(names.values())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("last_name", "O'Connor"),
        ("first_name", "Jean-François"),
        ("employer", "Centre hospitalier de Saint-Étienne, pôle n° 2"),
        ("job_title", "Chargé·e de mission données & IA"),
        ("job_title", "Responsable SI/RH"),
    ],
)
def test_free_text_accepts_punctuation_people_use(app, client, event, field, value):
    response = client.post(register_url(event), data=form_data(**{field: value}))
    assert response.status_code == 302, error_of(text_of(response), field)
    [registration] = registrations(app)
    assert getattr(registration, field) == value


@pytest.mark.parametrize(("field", "limit"), [("first_name", 60), ("job_title", 150)])
def test_free_text_has_a_length_limit(app, client, event, field, limit):
    response = client.post(register_url(event), data=form_data(**{field: "a" * (limit + 1)}))
    assert error_of(text_of(response), field) == f"{limit} caractères au maximum."
    assert registrations(app) == []
