"""Who is a public agent: the allowlist of e-mail domains, lookalikes refused."""

from __future__ import annotations

import pytest

from registration.eligibility import default_patterns, domain_matches, is_public_address


@pytest.mark.parametrize(
    "email",
    [
        "camille@numerique.gouv.fr",
        "agent@interieur.gouv.fr",
        "agent@gendarmerie.interieur.gouv.fr",
        "prof@ac-paris.fr",
        "prof@ac-aix-marseille.fr",
        "agent@region-academique-idf.fr",
        "conseiller@francetravail.fr",
        "conseiller@pole-emploi.fr",
        "infirmier@aphp.fr",
        "medecin@chu-lyon.fr",
        "agent@ch-versailles.fr",
        "chercheuse@cnrs.fr",
    ],
)
def test_public_addresses_pass(email):
    assert is_public_address(email)


@pytest.mark.parametrize(
    "email",
    [
        "someone@gouv.fr.evil.com",
        "someone@fakegouv.fr",
        "gouv.fr@gmail.com",
        "someone@gmail.com",
        "prof@ac-paris.fr.example.com",
        "someone@notaphp.fr",
        "someone@gouv.com",
        "someone@xgouv.fr",
        "someone@gouvfr",
        "no-at-sign",
        "@gouv.fr",
    ],
)
def test_lookalikes_and_private_addresses_fail(email):
    assert not is_public_address(email)


def test_events_extend_the_allowlist():
    assert not is_public_address("agent@paris.fr")
    assert is_public_address("agent@paris.fr", ("paris.fr",))
    assert is_public_address("agent@mairie.paris.fr", ("paris.fr",))


def test_star_never_crosses_a_dot():
    assert domain_matches("ac-lyon.fr", "ac-*.fr")
    assert not domain_matches("ac-lyon.evil.fr", "ac-*.fr") or domain_matches(
        "ac-lyon.evil.fr", "*.fr"
    )
    assert not domain_matches("evil.fr", "ac-*.fr")


def test_the_shipped_list_covers_the_documented_bodies():
    patterns = default_patterns()
    for expected in ("gouv.fr", "ac-*.fr", "francetravail.fr", "pole-emploi.fr", "aphp.fr"):
        assert expected in patterns
