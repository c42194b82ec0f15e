"""The audit log as people read it: each stored code and its details put into French.

The rows keep their codes (`close`, `export-csv-rfc4180`, `user-desactiver`…): they are
data, and older rows must read as well as new ones. Only the display translates them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from ..content import Site
from ..models import AuditEntry, Role, Status


@dataclass(frozen=True)
class JournalLine:
    """One entry of the audit log, in French."""

    at: datetime
    actor: str
    action: str
    event: str  # the event's title; its slug once the event left the content
    details: str


def _same(details: str) -> str:
    return details


def _with_subject(label: str) -> Callable[[str], tuple[str, str]]:
    """« Label : subject », the subject being the whole of the stored details."""

    def describe(details: str) -> tuple[str, str]:
        return (f"{label} : {details}" if details else label), ""

    return describe


def _fixed(label: str, detail: Callable[[str], str] = _same) -> Callable[[str], tuple[str, str]]:
    def describe(details: str) -> tuple[str, str]:
        return label, detail(details)

    return describe


_NOTICE = "message public : "


def _notice(details: str) -> str:
    if details.startswith(_NOTICE):
        return f"Message public : « {details.removeprefix(_NOTICE)} »"
    return details


# q='dupont' statut='confirmed', as `export` writes them: two Python string literals.
_FILTERS = re.compile(
    r"""^q=(?P<q>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*") statut=(?P<s>'[^']*'|"[^"]*")$"""
)


def _literal(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def filters(details: str) -> str:
    """An export's filters, readable: « recherche : dupont ; statut : confirmée », or
    nothing when there were none."""
    found = _FILTERS.match(details)
    if found is None:
        return details
    search, status = _literal(found["q"]), _literal(found["s"])
    parts = []
    if search:
        parts.append(f"recherche : {search}")
    if status:
        label = Status(status).label.lower() if status in Status._value2member_map_ else status
        parts.append(f"statut : {label}")
    return " ; ".join(parts)


_ACCOUNT = re.compile(r"^(?P<email>.*) \((?P<role>[a-z]+)\)$")


def _account_created(details: str) -> tuple[str, str]:
    found = _ACCOUNT.match(details)
    if found is None or found["role"] not in Role._value2member_map_:
        return f"Compte créé : {details}", ""
    role = Role(found["role"]).label.lower()
    return f"Compte créé : {found['email']} ({role})", ""


def _message(details: str) -> tuple[str, str]:
    number = details.removeprefix("message ")
    return "E-mail en échec remis dans la file d’envoi", f"message n° {number}"


_ACTIONS: dict[str, Callable[[str], tuple[str, str]]] = {
    "close": _fixed("Inscriptions fermées", _notice),
    "reopen": _fixed("Inscriptions rouvertes", _notice),
    # Stored as « 300 → 250 », « (valeur du fichier) » after it when the file's is back.
    "capacity": _with_subject("Capacité"),
    "export-csv": _fixed("Export CSV (Excel)", filters),
    "export-csv-rfc4180": _fixed("Export CSV (tableur, RFC 4180)", filters),
    "export-xlsx": _fixed("Export XLSX", filters),
    # Written by earlier versions, which logged each display of the sheet.
    "export-emargement": _fixed("Feuille d’émargement affichée"),
    "accept-request": _fixed("Demande de vérification acceptée"),
    "refuse-request": _fixed("Demande de vérification refusée"),
    "cancel-registration": _with_subject("Inscription annulée par l’organisation"),
    "resend-confirmation": _with_subject("Nouveau lien de confirmation envoyé"),
    "promote-registration": _with_subject("Sortie de la liste d’attente"),
    "create-user": _account_created,
    "user-desactiver": _with_subject("Compte désactivé"),
    "user-reactiver": _with_subject("Compte réactivé"),
    "user-mot-de-passe": _with_subject("Mot de passe changé"),
    "retry-message": _message,
    "purge": _fixed("Inscriptions supprimées (durée de conservation)"),
    "checkin": _with_subject("Arrivée enregistrée"),
    "checkin-undo": _with_subject("Arrivée annulée"),
}


def describe(entry: AuditEntry, site: Site) -> JournalLine:
    """One entry in French; a code this version does not know is shown as it is."""
    translate = _ACTIONS.get(entry.action)
    action, details = translate(entry.details) if translate else (entry.action, entry.details)
    event = site.event(entry.event_slug) if entry.event_slug else None
    return JournalLine(
        at=entry.at,
        actor=entry.actor,
        action=action,
        event=event.title if event is not None else entry.event_slug,
        details=details,
    )


def lines(entries: Iterable[AuditEntry], site: Site) -> list[JournalLine]:
    return [describe(entry, site) for entry in entries]
