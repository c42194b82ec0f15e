"""The staff’s forms: sign-in, password, closing, places, accounts, verification requests."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import EqualTo, Length, NumberRange, Optional, ValidationError

from .. import accounts
from ..accounts import MIN_PASSWORD_LENGTH
from ..forms import ProfessionalEmail, _max, _no_control_characters, _required, _strip

PASSWORD_HINT = (
    f"{MIN_PASSWORD_LENGTH} caractères au moins, difficile à deviner : par exemple une "
    "phrase de plusieurs mots."
)


class SignInForm(FlaskForm):
    email = StringField(
        "Adresse e-mail",
        filters=[_strip],
        validators=[_required("votre adresse e-mail"), _max(254), _no_control_characters()],
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
    use_file = SubmitField("Revenir au nombre prévu par le fichier de l’événement")


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
        description=f"{PASSWORD_HINT} Transmettez-le par un autre canal que l’e-mail.",
        render_kw={"autocomplete": "new-password"},
    )

    def validate_password(self, field: Field) -> None:
        try:
            accounts.check_password(field.data or "", self.email.data or "")
        except accounts.AccountError as error:
            raise ValidationError(error.message) from None


class ChangePasswordForm(FlaskForm):
    """The signed-in person changes their own password."""

    current_password = PasswordField(
        "Mot de passe actuel",
        validators=[_required("votre mot de passe actuel"), _max(200)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "Nouveau mot de passe",
        validators=[
            _required("un nouveau mot de passe"),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=f"{MIN_PASSWORD_LENGTH} caractères au moins, 200 au plus.",
            ),
        ],
        description=PASSWORD_HINT,
        render_kw={"autocomplete": "new-password"},
    )
    confirmation = PasswordField(
        "Confirmation du nouveau mot de passe",
        validators=[
            _required("à nouveau le nouveau mot de passe"),
            EqualTo("new_password", message="Les deux mots de passe ne sont pas identiques."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ReviewForm(FlaskForm):
    """An organiser's decision on a verification request."""

    message = TextAreaField(
        "Message pour l’agent (facultatif)",
        filters=[_strip],
        validators=[Optional(), _max(1000), _no_control_characters(allow_newlines=True)],
        description="Il figurera dans l’e-mail qui annonce votre décision.",
    )
    accept_domain = BooleanField(
        "Accepter aussi les autres adresses de ce domaine pour cet événement"
    )
    accept = SubmitField("Accepter")
    refuse = SubmitField("Refuser")
