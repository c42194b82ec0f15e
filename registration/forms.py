"""Flask-WTF forms: field formats and their French messages. Rules live in services."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .accounts import MIN_PASSWORD_LENGTH


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")  # controls, line separators


def _no_control_characters(allow_newlines: bool = False):
    # A newline in a name could inject an e-mail header; NUL breaks PostgreSQL text.
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()

    def check(form, field) -> None:
        value = field.data or ""
        if any(_is_control(c) and c not in allowed for c in value):
            raise ValidationError("Ce champ contient des caractères non autorisés.")

    return check


def _required(label: str):
    return DataRequired(message=f"Renseignez {label}.")


def _max(n: int):
    return Length(max=n, message=f"{n} caractères au maximum.")


class ProfessionalEmail(StringField):
    """An e-mail address, normalised: IDNA domain, lower case. No DNS check (no network)."""

    def pre_validate(self, form) -> None:
        if not self.data:
            return
        try:
            valid = validate_email(self.data, check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError(
                "Saisissez une adresse e-mail valide, au format nom@administration.gouv.fr."
            ) from None
        # IDNA form of the domain (ascii_email), unless the local part itself is not ASCII
        self.data = (valid.ascii_email or valid.normalized).lower()


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RegistrationForm(FlaskForm):
    first_name = StringField(
        "Prénom",
        filters=[_strip],
        validators=[_required("votre prénom"), _max(100), _no_control_characters()],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Nom",
        filters=[_strip],
        validators=[_required("votre nom"), _max(100), _no_control_characters()],
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
        validators=[_required("votre administration"), _max(200), _no_control_characters()],
        render_kw={"autocomplete": "organization"},
        description="Exemple : Direction interministérielle du numérique",
    )
    job_title = StringField(
        "Fonction",
        filters=[_strip],
        validators=[_required("votre fonction"), _max(200), _no_control_characters()],
        render_kw={"autocomplete": "organization-title"},
        description="Exemple : cheffe de projet numérique",
    )
    departments = MultiCheckboxField(
        "Départements que vous souhaitez rencontrer au forum (facultatif)",
        choices=[],
        validate_choice=True,
    )
    accessibility_needs = TextAreaField(
        "Besoins d’accessibilité (facultatif)",
        filters=[_strip],
        validators=[Optional(), _max(1000), _no_control_characters(allow_newlines=True)],
        description="Exemple : boucle magnétique, accès en fauteuil roulant, interprète LSF",
    )
    certify_agent = BooleanField(
        "Je certifie être agent public",
        validators=[DataRequired(message="Cochez cette case pour certifier être agent public.")],
    )
    accept_privacy = BooleanField(
        "J’ai pris connaissance de la notice sur les données personnelles",
        validators=[
            DataRequired(message="Cochez cette case après avoir lu la notice sur vos données.")
        ],
    )
    # Honeypot: hidden from people, filled in by bots.
    website = StringField("Site web", render_kw={"autocomplete": "off", "tabindex": "-1"})

    def __init__(self, departments: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.departments.choices = list(departments)  # value and label are the same


class SignInForm(FlaskForm):
    email = StringField(
        "Adresse e-mail",
        filters=[_strip],
        validators=[_required("votre adresse e-mail"), _max(254)],
        render_kw={"autocomplete": "username", "spellcheck": "false"},
    )
    password = PasswordField(
        "Mot de passe",
        validators=[_required("votre mot de passe"), _max(200)],
        render_kw={"autocomplete": "current-password"},
    )


class NoticeForm(FlaskForm):
    """Closing or reopening: an optional message for the public page."""

    notice = TextAreaField(
        "Message affiché sur la page publique (facultatif)",
        filters=[_strip],
        validators=[Optional(), _max(500), _no_control_characters(allow_newlines=True)],
        description="Exemple : Plus aucune place n’est disponible, merci de votre intérêt.",
    )


class CapacityForm(FlaskForm):
    capacity = IntegerField(
        "Nombre de places",
        validators=[
            Optional(),
            NumberRange(min=0, max=1_000_000, message="Un nombre entre 0 et 1 000 000."),
        ],
        description="Laissez vide pour ne pas limiter les places.",
        render_kw={"inputmode": "numeric"},
    )


class AccountForm(FlaskForm):
    email = ProfessionalEmail(
        "Adresse e-mail",
        filters=[_strip],
        validators=[_required("l’adresse e-mail"), _max(254), _no_control_characters()],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    role = SelectField(
        "Rôle",
        choices=[
            SelectChoice("organiser", "Organisateur"),
            SelectChoice("admin", "Administrateur"),
        ],
        default="organiser",
    )
    password = PasswordField(
        "Mot de passe provisoire",
        validators=[
            _required("un mot de passe"),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=f"{MIN_PASSWORD_LENGTH} caractères au moins.",
            ),
        ],
        description=f"{MIN_PASSWORD_LENGTH} caractères au moins. "
        "Transmettez-le par un autre canal que l’e-mail.",
        render_kw={"autocomplete": "new-password"},
    )
