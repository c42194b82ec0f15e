"""Flask-WTF forms: field formats and their French messages. Rules live in registrations/."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import (
    Field,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from .content import Event, Question, QuestionKind
from .registrations.api import Registrant

NOT_AN_OPTION = "Choisissez parmi les réponses proposées."


def add_error(field: Field, message: str) -> None:
    """Show a refusal from the rules next to its field, like a validation error."""
    field.errors = [*field.errors, message]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")  # controls, line separators


def _no_control_characters(allow_newlines: bool = False) -> Callable[[Any, Field], None]:
    # A newline in a name could inject an e-mail header; NUL breaks PostgreSQL text.
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()

    def check(form: Any, field: Field) -> None:
        value = field.data or ""
        if any(_is_control(c) and c not in allowed for c in value):
            raise ValidationError("Ce champ contient des caractères non autorisés.")

    return check


# A web address or markup in a name would travel in the service's own e-mails: refused.
_WEB_ADDRESS = re.compile(
    r"(?i)(https?:|ftp:|//|www\.|\b[a-z0-9-]+\.(fr|com|net|org|eu|info|io|gouv|xyz|top|ly)\b)"
)
_MARKUP = re.compile(r"[<>{}\[\]\\|`]")


def _plain_text() -> Callable[[Any, Field], None]:
    def check(form: Any, field: Field) -> None:
        value = field.data or ""
        if _WEB_ADDRESS.search(value) or "@" in value:
            raise ValidationError("N’indiquez ni adresse web ni adresse e-mail dans ce champ.")
        if _MARKUP.search(value):
            raise ValidationError("Les caractères < > { } [ ] | ` \\ ne sont pas acceptés ici.")

    return check


def _required(label: str) -> DataRequired:
    return DataRequired(message=f"Renseignez {label}.")


def _max(n: int) -> Length:
    return Length(max=n, message=f"{n} caractères au maximum.")


class ProfessionalEmail(StringField):
    """An e-mail address, normalised: IDNA domain, lower case. No DNS check (no network)."""

    def pre_validate(self, form: Any) -> None:
        if not self.data:
            return
        from email_validator import EmailNotValidError, validate_email  # only for a form sent

        try:
            valid = validate_email(self.data, check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError(
                "Saisissez une adresse e-mail valide, au format nom@administration.gouv.fr."
            ) from None
        # IDNA form of the domain (ascii_email), unless the local part itself is not ASCII
        self.data = (valid.ascii_email or valid.normalized).lower()


def _values(field: SelectField | SelectMultipleField) -> set[str]:
    return {value for value, *_ in field.iter_choices()}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        if any(value not in _values(self) for value in self.data or ()):
            raise ValidationError(NOT_AN_OPTION)


class OptionalRadioField(RadioField):
    """Radio buttons that may stay unticked when the question is optional."""

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return
        if self.data not in _values(self):
            raise ValidationError(NOT_AN_OPTION)


def question_field(question: Question) -> Field:
    """The form field of an event's question, with its French messages."""
    choices = [SelectChoice(option) for option in question.options]
    label, hint = question.label, question.hint
    if question.kind is QuestionKind.SINGLE:
        required = InputRequired(message="Choisissez une réponse.")
        return OptionalRadioField(
            label,
            choices=choices,
            validators=[required if question.required else Optional()],
            description=hint,
        )
    if question.kind is QuestionKind.MULTIPLE:
        at_least_one = DataRequired(message="Cochez au moins une réponse.")
        return MultiCheckboxField(
            label,
            choices=choices,
            validators=[at_least_one] if question.required else [],
            description=hint,
        )
    return StringField(
        label,
        filters=[_strip],
        validators=[
            _required("cette réponse") if question.required else Optional(),
            _max(200),
            _no_control_characters(),
        ],
        description=hint,
    )


class RegistrationForm(FlaskForm):
    first_name = StringField(
        "Prénom",
        filters=[_strip],
        validators=[_required("votre prénom"), _max(60), _no_control_characters(), _plain_text()],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Nom",
        filters=[_strip],
        validators=[_required("votre nom"), _max(60), _no_control_characters(), _plain_text()],
        render_kw={"autocomplete": "family-name"},
    )
    email = ProfessionalEmail(
        "Adresse e-mail professionnelle",
        filters=[_strip],
        validators=[
            _required("votre adresse e-mail professionnelle"),
            _max(254),
            _no_control_characters(),
        ],
        render_kw={"autocomplete": "email", "type": "email", "spellcheck": "false"},
        description="Format attendu : prenom.nom@administration.gouv.fr",
    )
    employer = StringField(
        "Administration ou employeur",
        filters=[_strip],
        validators=[
            _required("votre administration"),
            _max(150),
            _no_control_characters(),
            _plain_text(),
        ],
        render_kw={"autocomplete": "organization"},
        description="Exemple : Direction interministérielle du numérique",
    )
    job_title = StringField(
        "Fonction",
        filters=[_strip],
        validators=[
            _required("votre fonction"),
            _max(150),
            _no_control_characters(),
            _plain_text(),
        ],
        render_kw={"autocomplete": "organization-title"},
        description="Exemple : cheffe de projet numérique",
    )
    accessibility_needs = TextAreaField(
        "Besoins d’accessibilité (facultatif)",
        filters=[_strip],
        validators=[Optional(), _max(1000), _no_control_characters(allow_newlines=True)],
        description="Exemple : boucle magnétique, accès en fauteuil roulant, interprète LSF",
    )
    # No « Je certifie être agent public » box: the address, on the public sector's list and
    # proven by its confirmation link, says it (or an organiser does, on review). No consent
    # box either: the notice's legal basis is a mission of public interest, not consent.
    # Honeypot: hidden from people, filled in by bots.
    website = StringField("Site web", render_kw={"autocomplete": "off", "tabindex": "-1"})
    # Manual verification, for an address the public-sector list does not know.
    ask_review = HiddenField()
    justification = TextAreaField(
        "Pourquoi votre adresse n’est-elle pas reconnue ?",
        filters=[_strip],
        validators=[Optional(), _max(1000), _no_control_characters(allow_newlines=True)],
        description="Exemple : je travaille au centre communal d’action sociale de ma commune, "
        "qui a son propre nom de domaine.",
    )

    questions: tuple[Question, ...] = ()

    def question_fields(self) -> Iterator[tuple[Question, Field]]:
        for question in self.questions:
            yield question, self[f"q_{question.id}"]

    def registrant(self) -> Registrant:
        """What the agent filled in, once the form is valid."""
        return Registrant(
            email=self.email.data or "",
            first_name=self.first_name.data or "",
            last_name=self.last_name.data or "",
            employer=self.employer.data or "",
            job_title=self.job_title.data or "",
            answers=self.answers(),
            accessibility_needs=self.accessibility_needs.data or "",
            justification=(self.justification.data or "") if self.ask_review.data else "",
        )

    def answers(self) -> dict[str, str | list[str]]:
        """The answers given, by question id; unanswered questions are left out."""
        given: dict[str, str | list[str]] = {}
        for question, field in self.question_fields():
            if field.data:
                given[question.id] = field.data
        return given


@functools.lru_cache(maxsize=64)
def _form_class(questions: tuple[Question, ...]) -> type[RegistrationForm]:
    fields: dict[str, Any] = {f"q_{q.id}": question_field(q) for q in questions}
    return type("EventRegistrationForm", (RegistrationForm,), {"questions": questions, **fields})


def registration_form(event: Event) -> RegistrationForm:
    """The registration form, with the event's own questions after the common fields.

    « Vouliez-vous dire … ? » posts the corrected address in `corriger`; « demander une
    vérification » posts `demander_verification`: both resubmit what was typed."""
    formdata = request.form.copy() if request.method == "POST" else None
    if formdata is not None and formdata.get("corriger"):
        formdata["email"] = formdata["corriger"]
    form = _form_class(event.questions)(formdata=formdata)
    if request.form.get("demander_verification") and event.manual_verification:
        form.ask_review.data = "1"
    return form
