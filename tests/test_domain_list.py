"""Cleaning an export of the State's list into the package's data file."""

from __future__ import annotations

import re

import pytest

from registration import domain_list, eligibility
from registration.domain_list import clean_hosts
from registration.eligibility import to_ascii


def test_cleaning_normalises_names():
    cleaning = clean_hosts(
        [
            "# un commentaire",
            "",
            "www.Ville-Exemple.FR.",
            "https://www.mairie-exemple.fr:443/accueil?x=1#ancre",
            "http://agent@commune-exemple.fr/",
            "commune-exemple.fr  # (redirection from commune-exemple.com)",
            "chauvé.fr",
            "xn--chauv-fsa.fr",
            "   espacé.fr\u00a0",
            '"guillemet.fr"',
            "wwww.quatre-w.fr",
        ]
    )
    assert set(cleaning.domains) == {
        "commune-exemple.fr",
        "guillemet.fr",
        "mairie-exemple.fr",
        "quatre-w.fr",
        "ville-exemple.fr",
        "xn--chauv-fsa.fr",
        "xn--espac-fsa.fr",
    }
    assert cleaning.domains == sorted(set(cleaning.domains))
    assert cleaning.urls == 2 and cleaning.www == 3 and cleaning.lines == 9


def test_cleaning_drops_patterns_broken_names_gouv_fr_and_blocked_names():
    cleaning = clean_hosts(
        [
            "ac-[a-z\\-]*.fr",
            "*.onp",
            "universita.corsicafr",
            "mairie_blicourt.fr",
            "villelarochesuryon",
            "numerique.gouv.fr",
            "gouv.fr",
            "https://www.interieur.gouv.fr/",
            "sfr.fr",
            "wordpress.com",
            "mairieplouha.wordpress.com",
            "aast.free.fr",
            "perso.wanadoo.fr",
            "x.yopmail.com",
            "paris.fr",
        ]
    )
    assert cleaning.domains == ["paris.fr"]
    assert cleaning.dropped["motif"] == {"ac-[a-z\\-]*.fr", "*.onp"}
    assert cleaning.dropped["invalide"] == {
        "universita.corsicafr",
        "mairie_blicourt.fr",
        "villelarochesuryon",
    }
    assert cleaning.dropped["gouv.fr"] == {"numerique.gouv.fr", "gouv.fr", "interieur.gouv.fr"}
    assert cleaning.count("bloqué") == 6


def test_mail_servers_become_their_registrable_parent_or_are_dropped():
    cleaning = clean_hosts(
        [
            "webmail.ville-exemple.fr",
            "mail.commune-exemple.fr",
            "mx2.commune-exemple.fr",
            "autodiscover.dila.fr",
            "webmail.ir.ambafrance.org",  # parent ir.ambafrance.org is not registrable
            "smtp.interieur.gouv.fr",  # gouv.fr first
            "mail.orange.fr",  # blocked first
            "mxcommune.fr",  # a registrable name, not a mail host
            "mail.fr",
        ]
    )
    assert cleaning.domains == [
        "commune-exemple.fr",
        "dila.fr",
        "mail.fr",
        "mxcommune.fr",
        "ville-exemple.fr",
    ]
    assert cleaning.reduced["webmail.ville-exemple.fr"] == "ville-exemple.fr"
    assert cleaning.dropped["messagerie"] == {"webmail.ir.ambafrance.org"}
    assert cleaning.reduced_new == 3


def test_the_header_credits_the_source_and_the_date():
    cleaning = clean_hosts(["paris.fr", "numerique.gouv.fr"])
    text = domain_list.render(
        cleaning, source="Producteur X (https://x.example)", date="01/02/2030"
    )
    head = [line for line in text.splitlines() if line.startswith("#")]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == ["paris.fr"]
    assert "# Source : Producteur X (https://x.example)" in head
    assert "# Données : 01/02/2030" in head
    assert any("Licence Ouverte / Open Licence 2.0" in line for line in head)
    assert any(
        "gouv.fr et les noms dessous, acceptés par règle : 1 écarté(s)" in line for line in head
    )


# --- The shipped data ----------------------------------------------------------------------------


def shipped(name: str) -> str:
    return (eligibility.DATA_DIR / name).read_text("utf-8")


def test_the_shipped_list_is_clean_sorted_and_credited():
    text = shipped(eligibility.LIST_FILE)
    head = [line for line in text.splitlines() if line.startswith("#")]
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(names) > 30_000
    assert names == sorted(set(names))
    assert clean_hosts(names).domains == names  # cleaning is idempotent on it
    assert all(to_ascii(name) == name for name in names)
    assert not any(eligibility.is_gouv(name) for name in names)
    blocked = eligibility.blocked_domains()
    assert not any(eligibility.first_blocked(name, blocked) for name in names)
    credit = "\n".join(head)
    assert "Etalab / DINUM" in credit and "noms-de-domaine-organismes-secteur-public" in credit
    assert "Licence Ouverte / Open Licence 2.0" in credit
    assert "11/12/2024" in credit and "fe23ea9" in credit
    assert not (eligibility.DATA_DIR / "domaines_publics.txt").exists()


def test_every_correction_has_a_reason_and_does_something():
    corrections = eligibility.read_corrections(shipped(eligibility.CORRECTIONS_FILE))
    names = set(shipped(eligibility.LIST_FILE).splitlines())
    for name in corrections.additions:
        assert name not in names, f"{name} is listed already"
    for name in corrections.removals:
        assert name in names or any(n.endswith("." + name) for n in names), name
    assert all(corrections.additions.values()) and all(corrections.removals.values())
    assert {"francetravail.fr", "ap-hm.fr", "region-academique-ile-de-france.fr"} <= set(
        corrections.additions
    )
    assert {"notaires.fr", "urssaf.fr", "msa.fr", "caf.fr", "ameli.fr"} <= set(corrections.removals)


def test_a_correction_without_a_reason_is_refused():
    with pytest.raises(ValueError, match="correction illisible"):
        eligibility.read_corrections("+ exemple.fr\n")
    with pytest.raises(ValueError, match="correction illisible"):
        eligibility.read_corrections("* exemple.fr  # raison\n")


def test_the_webmail_file_has_a_comment_on_every_line():
    for line in shipped(eligibility.WEBMAIL_FILE).splitlines():
        if line and not line.startswith(("#", "[")):
            domain, _, comment = line.partition("#")
            assert comment.strip(), line
            assert to_ascii(domain.strip()) == domain.strip(), line


def test_no_wildcard_is_left_anywhere():
    for name in (eligibility.LIST_FILE, eligibility.CORRECTIONS_FILE, eligibility.WEBMAIL_FILE):
        for line in shipped(name).splitlines():
            content = line.split("#", 1)[0]
            assert not re.search(r"[*?\[\]]", content.strip().strip("[]")), line


def test_the_list_is_a_frozenset_loaded_once():
    assert eligibility.lists() is eligibility.lists()
    assert isinstance(eligibility.lists().listed, frozenset)
