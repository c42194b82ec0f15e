"""The rules of registration, each a `check_*` that raises a typed, French refusal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .. import eligibility
from ..content import Event
from ..dates import datetime_fr
from .exceptions import DeadlinePassed, NotEligible, RegistrationClosed, RegistrationError


def check_open(event: Event, is_open: bool, now: datetime) -> None:
    if not is_open:
        raise RegistrationClosed("Les inscriptions sont fermées.")
    if now >= event.deadline:
        raise DeadlinePassed(
            f"Les inscriptions sont closes depuis le {datetime_fr(event.deadline)}."
        )


def check_eligible(email: str, event: Event, accepted_domains: Iterable[str] = ()) -> None:
    """The address is a public agent's: on the State's list, or accepted for this event."""
    decision = eligibility.check(email, (*event.extra_domains, *accepted_domains))
    if decision.accepted:
        return
    if decision.personal:
        domain = email.rpartition("@")[2]
        raise NotEligible(
            f"{domain} est une messagerie personnelle. Utilisez l’adresse e-mail "
            "professionnelle que vous donne votre administration.",
            personal=True,
        )
    if decision.suggestion:
        raise NotEligible(f"Vouliez-vous dire {decision.suggestion} ?", decision.suggestion)
    raise NotEligible(
        "Cette adresse n’est pas celle d’un service public connu de notre liste. "
        "Utilisez l’adresse e-mail professionnelle que vous donne votre administration."
    )


def mailbox(email: str) -> str:
    """One mailbox, one registration: prenom.nom+tag@x.fr is prenom.nom@x.fr."""
    local, at, domain = email.strip().lower().rpartition("@")
    base = local.split("+", 1)[0]
    return f"{base}{at}{domain}" if base and at else email.strip().lower()


@dataclass(frozen=True)
class Availability:
    """What the public is told: open or not, and why; the places a newcomer can still get."""

    is_open: bool
    message: str
    seats_left: int | None
    notice: str = ""

    @property
    def full(self) -> bool:
        return self.seats_left == 0


def availability(
    event: Event, is_open: bool, notice: str, seats_left: int | None, now: datetime
) -> Availability:
    try:
        check_open(event, is_open, now)
    except RegistrationError as closed:
        return Availability(False, closed.message, seats_left, notice)
    # A fragment the pages complete (« . 12 places restantes. »): they strip and end it.
    message = f"Inscriptions ouvertes jusqu’au {datetime_fr(event.deadline)}"
    return Availability(True, message, seats_left, notice)
