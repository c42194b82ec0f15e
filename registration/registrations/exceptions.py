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
    """The address is not on the public-sector list: maybe a typo (`suggestion`), or a
    personal mailbox (`personal`), for which no verification can be asked."""

    field = "email"

    def __init__(self, message: str, suggestion: str | None = None, personal: bool = False):
        super().__init__(message)
        self.suggestion = suggestion
        self.personal = personal


class InvalidLink(RegistrationError):
    """A confirmation or management link is forged, expired or for another event."""


class CapacityTooLow(RegistrationError):
    field = "capacity"


class NotAwaitingReview(RegistrationError):
    """A verification request was already decided, or its address is not yet confirmed."""


class ActionRefused(RegistrationError):
    """An organiser's action that the registration's state does not allow now."""


class RegistrationNotFound(ActionRefused):
    """No such registration for this event."""


class NoSeatLeft(ActionRefused):
    """Moving someone up from the waiting list, with no seat free."""
