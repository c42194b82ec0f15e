"""The audit log in French (registration.backoffice.journal): stored codes, read at display."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registration.backoffice import journal
from registration.content import load_site
from registration.models import AuditEntry

from ..conftest import CONTENT, WITH_QUESTIONS

SITE = load_site(CONTENT)
TITLE = "Atelier des communs numériques"


def line(action: str, details: str = "", slug: str = WITH_QUESTIONS) -> journal.JournalLine:
    entry = AuditEntry(
        at=datetime(2023, 5, 20, 8, tzinfo=UTC),
        actor="admin@numerique.gouv.fr",
        action=action,
        event_slug=slug,
        details=details,
    )
    return journal.describe(entry, SITE)


@pytest.mark.parametrize(
    ("action", "details", "expected"),
    [
        ("close", "", ("Inscriptions fermées", "")),
        (
            "close",
            "message public : Complet",
            ("Inscriptions fermées", "Message public : « Complet »"),
        ),
        ("reopen", "", ("Inscriptions rouvertes", "")),
        ("capacity", "300 → 250", ("Capacité : 300 → 250", "")),
        (
            "checkin",
            "Camille Durand (camille.durand@numerique.gouv.fr)",
            ("Arrivée enregistrée : Camille Durand (camille.durand@numerique.gouv.fr)", ""),
        ),
        ("checkin-undo", "Camille Durand", ("Arrivée annulée : Camille Durand", "")),
        ("capacity", "illimitées → 40", ("Capacité : illimitées → 40", "")),
        (
            "capacity",
            "40 → 100 (valeur du fichier)",
            ("Capacité : 40 → 100 (valeur du fichier)", ""),
        ),
        ("export-csv", "q='' statut=''", ("Export CSV (Excel)", "")),
        (
            "export-csv-rfc4180",
            "q='dupont' statut='confirmed'",
            ("Export CSV (tableur, RFC 4180)", "recherche : dupont ; statut : confirmée"),
        ),
        ("export-xlsx", "q='' statut='waitlisted'", ("Export XLSX", "statut : liste d’attente")),
        # A quote in the search: Python wrote the literal between double quotes.
        ("export-csv", "q=\"l'eau\" statut=''", ("Export CSV (Excel)", "recherche : l'eau")),
        ("export-emargement", "", ("Feuille d’émargement affichée", "")),
        (
            "cancel-registration",
            "a@numerique.gouv.fr",
            ("Inscription annulée par l’organisation : a@numerique.gouv.fr", ""),
        ),
        (
            "resend-confirmation",
            "a@numerique.gouv.fr",
            ("Nouveau lien de confirmation envoyé : a@numerique.gouv.fr", ""),
        ),
        (
            "promote-registration",
            "a@numerique.gouv.fr",
            ("Sortie de la liste d’attente : a@numerique.gouv.fr", ""),
        ),
        (
            "create-user",
            "x@numerique.gouv.fr (admin)",
            ("Compte créé : x@numerique.gouv.fr (administrateur)", ""),
        ),
        ("create-user", "x@numerique.gouv.fr", ("Compte créé : x@numerique.gouv.fr", "")),
        ("user-desactiver", "x@numerique.gouv.fr", ("Compte désactivé : x@numerique.gouv.fr", "")),
        ("user-reactiver", "x@numerique.gouv.fr", ("Compte réactivé : x@numerique.gouv.fr", "")),
        (
            "user-mot-de-passe",
            "x@numerique.gouv.fr",
            ("Mot de passe changé : x@numerique.gouv.fr", ""),
        ),
        (
            "retry-message",
            "message 12",
            ("E-mail en échec remis dans la file d’envoi", "message n° 12"),
        ),
        (
            "accept-request",
            "a@x.fr ; domaine x.fr accepté pour l’événement",
            ("Demande de vérification acceptée", "a@x.fr ; domaine x.fr accepté pour l’événement"),
        ),
        ("refuse-request", "a@x.fr", ("Demande de vérification refusée", "a@x.fr")),
        # A code this version does not know is shown as it is, not hidden.
        ("something-new", "as stored", ("something-new", "as stored")),
    ],
)
def test_each_code_reads_in_french(action, details, expected):
    described = line(action, details)
    assert (described.action, described.details) == expected
    assert described.actor == "admin@numerique.gouv.fr"


def test_the_event_is_named_by_its_title_or_its_slug_once_gone():
    assert line("close").event == TITLE
    assert line("close", slug="evenement-retire").event == "evenement-retire"
    assert line("create-user", "x@numerique.gouv.fr", slug="").event == ""


def test_filters_never_show_as_code():
    assert journal.filters("q='' statut=''") == ""
    assert journal.filters("q='a b' statut='nonsense'") == "recherche : a b ; statut : nonsense"
