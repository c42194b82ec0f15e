"""The registration form: the event's questions as fields, formats and French messages.

Form tests build the form in a bare request context (no database); the fuzz tests post to
the registration view of the real application, on both databases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from registration.forms import NOT_AN_OPTION, RegistrationForm, registration_form

from .factories import form_data, register_url, registrations

ATELIERS = ("Données ouvertes", "Logiciels libres", "Accessibilité")
SUJETS = ("Gouvernance", "Financement", "Communauté")


@pytest.fixture
def form_app() -> Iterator[Flask]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test-secret", WTF_CSRF_ENABLED=False)
    yield app


def submitted(app: Flask, event: Any, data: dict[str, Any]) -> RegistrationForm:
    """The event's form, validated against `data` as posted."""
    with app.test_request_context(method="POST", data=MultiDict(_items(data))):
        form = registration_form(event)
        form.validate()
        return form


def _items(data: dict[str, Any]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        items.extend((key, v) for v in values)
    return items


def test_the_fixture_questions_are_the_ones_these_tests_expect(event):
    assert [(q.id, q.kind.value, q.required) for q in event.questions] == [
        ("atelier", "choix_unique", True),
        ("sujets", "choix_multiple", False),
        ("regime", "texte_court", False),
    ]
    assert event.question("atelier").options == ATELIERS
    assert event.question("sujets").options == SUJETS


def test_a_valid_form_gives_the_answers_by_question_id(form_app, event):
    form = submitted(
        form_app,
        event,
        form_data(q_sujets=["Gouvernance", "Communauté"], q_regime="  végétarien "),
    )
    assert form.errors == {}
    assert form.answers() == {
        "atelier": "Logiciels libres",
        "sujets": ["Gouvernance", "Communauté"],
        "regime": "végétarien",
    }


def test_unanswered_optional_questions_are_left_out(form_app, event):
    form = submitted(form_app, event, form_data())
    assert form.errors == {}
    assert form.answers() == {"atelier": "Logiciels libres"}


def test_a_single_sujet_is_still_a_list(form_app, event):
    form = submitted(form_app, event, form_data(q_sujets="Financement"))
    assert form.answers()["sujets"] == ["Financement"]


@pytest.mark.parametrize("value", [None, ""])
def test_a_required_single_choice_left_unanswered_is_refused(form_app, event, value):
    form = submitted(form_app, event, form_data(q_atelier=value))
    assert form.errors == {"q_atelier": ["Choisissez une réponse."]}


def test_an_optional_single_choice_may_stay_unanswered(form_app, event):
    optional = dataclasses.replace(event.question("atelier"), required=False)
    relaxed = dataclasses.replace(event, questions=(optional, *event.questions[1:]))
    form = submitted(form_app, relaxed, form_data(q_atelier=None))
    assert form.errors == {}
    assert form.answers() == {}
    form = submitted(form_app, relaxed, form_data(q_atelier="Cuisine"))
    assert form.errors == {"q_atelier": [NOT_AN_OPTION]}


@pytest.mark.parametrize("value", ["Cuisine", "logiciels libres", "Logiciels libres "])
def test_an_unknown_single_choice_is_refused(form_app, event, value):
    form = submitted(form_app, event, form_data(q_atelier=value))
    assert form.errors["q_atelier"] == [NOT_AN_OPTION]
    assert NOT_AN_OPTION == "Choisissez parmi les réponses proposées."


def test_an_unknown_option_among_multiple_choices_is_refused(form_app, event):
    form = submitted(form_app, event, form_data(q_sujets=["Gouvernance", "Cuisine"]))
    assert form.errors == {"q_sujets": ["Choisissez parmi les réponses proposées."]}


def test_an_optional_multiple_choice_may_stay_empty(form_app, event):
    assert submitted(form_app, event, form_data(q_sujets=[])).errors == {}


def test_a_short_text_answer_is_limited_to_200_characters(form_app, event):
    assert submitted(form_app, event, form_data(q_regime="x" * 200)).errors == {}
    form = submitted(form_app, event, form_data(q_regime="x" * 201))
    assert form.errors == {"q_regime": ["200 caractères au maximum."]}


@pytest.mark.parametrize("bad", ["\n", "\r", "\x00", "\u2028", "\u202e", "\t"])
def test_control_characters_in_a_short_text_answer_are_refused(form_app, event, bad):
    form = submitted(form_app, event, form_data(q_regime=f"sans{bad}gluten"))
    assert form.errors == {"q_regime": ["Ce champ contient des caractères non autorisés."]}


def test_an_event_without_questions_has_no_question_fields(form_app, plain_event):
    form = submitted(form_app, plain_event, form_data(q_atelier="Cuisine"))
    assert form.errors == {}
    assert list(form.question_fields()) == []
    assert form.answers() == {}
    assert not any(name.startswith("q_") for name in form._fields)


def test_forms_of_two_events_do_not_share_fields(form_app, event, plain_event):
    with_questions = submitted(form_app, event, form_data())
    without = submitted(form_app, plain_event, form_data())
    assert "q_atelier" in with_questions._fields and "q_atelier" not in without._fields


def test_input_is_normalised(form_app, event):
    form = submitted(
        form_app,
        event,
        form_data(
            first_name="  Camille ",
            last_name=" Durand",
            email="  Camille.Durand@NUMERIQUE.Gouv.FR ",
        ),
    )
    assert form.errors == {}
    assert (form.first_name.data, form.last_name.data) == ("Camille", "Durand")
    assert form.email.data == "camille.durand@numerique.gouv.fr"


def test_idna_domains_are_normalised(form_app, event):
    form = submitted(form_app, event, form_data(email="agent@ÉCOLE.ac-paris.fr"))
    assert form.errors == {}
    assert form.email.data == "agent@xn--cole-9oa.ac-paris.fr"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "Renseignez votre prénom."),
        ("first_name", "Ca\nmille", "Ce champ contient des caractères non autorisés."),
        ("last_name", "x" * 61, "60 caractères au maximum."),
        ("email", "pas-une-adresse", "Saisissez une adresse e-mail valide"),
        ("accessibility_needs", "x" * 1001, "1000 caractères au maximum."),
    ],
)
def test_common_fields_have_french_messages(form_app, event, field, value, message):
    form = submitted(form_app, event, form_data(**{field: value}))
    assert list(form.errors) == [field]
    assert form.errors[field][0].startswith(message)


def test_newlines_are_allowed_in_accessibility_needs(form_app, event):
    form = submitted(form_app, event, form_data(accessibility_needs="Fauteuil\r\nBoucle\tLSF"))
    assert form.errors == {}


# --- Arbitrary input, posted to the real view --------------------------------------------

text = st.text(max_size=300)
FIELDS = ("first_name", "last_name", "email", "employer", "job_title", "accessibility_needs")
QUESTIONS = ("q_atelier", "q_regime")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.fixed_dictionaries({f: text for f in FIELDS + QUESTIONS}),
    sujets=st.lists(st.one_of(text, st.sampled_from(SUJETS)), max_size=3),
    website=st.one_of(st.just(""), text),
)
def test_arbitrary_input_never_breaks_the_form(app, event, values, sujets, website):
    client = app.test_client()
    data = {**values, "q_sujets": sujets, "website": website}
    before = len(registrations(app))
    response = client.post(register_url(event), data=data)
    if any("\x00" in value for value in [*values.values(), *sujets, website]):
        # PostgreSQL cannot store a NUL byte: the request is refused before any form runs.
        assert response.status_code == 400 and len(registrations(app)) == before
        return
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert len(registrations(app)) == before
        body = response.get_data(as_text=True)
        assert (
            "fr-error-text" in body
            or "fr-message--error" in body  # a question's error, under its fieldset
            or "Cet événement est réservé aux agents publics" in body
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    local=st.from_regex(r"[a-z][a-z0-9.]{0,20}", fullmatch=True),
    bad=st.text(
        alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), min_size=1, max_size=3
    ),
)
def test_control_characters_in_names_are_refused(app, event, local, bad):
    response = app.test_client().post(
        register_url(event),
        data=form_data(first_name=f"Ca{bad}mille", email=f"{local}@numerique.gouv.fr"),
    )
    if "\x00" in bad:  # refused before any form runs: PostgreSQL cannot store it
        assert response.status_code == 400 and registrations(app) == []
        return
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)
    assert registrations(app) == []
