"""Why an operation was refused: a French message and, where it has one, its form field."""

from __future__ import annotations


class RegistrationError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class RegistrationClosed(RegistrationError):
    """An admin closed registration."""


class DeadlinePassed(RegistrationError):
    """The deadline in the front matter has passed."""


class NotEligible(RegistrationError):
    field = "email"


class InvalidLink(RegistrationError):
    """A confirmation or management link is forged, expired or for another event."""


class CapacityTooLow(RegistrationError):
    field = "capacity"
