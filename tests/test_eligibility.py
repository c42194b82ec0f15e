"""Who is a public agent: the State's list of public-sector domains, cleaned and corrected,
the gouv.fr tree by rule, lookalikes and webmail refused, typos helped."""

from __future__ import annotations

import logging
import os

import pytest
from email_validator import validate_email
from flask import Flask

from registration import eligibility
from registration.eligibility import Decision, check, is_public_address, to_ascii

STATE = "domaine de l’État (gouv.fr)"


def listed(entry: str) -> str:
    return f"liste de l’État : {entry}"


def added(entry: str) -> str:
    return f"liste de l’État (ajout) : {entry}"


# --- Public employers: (address, the reason it is accepted) --------------------------------------

ACCEPTED = [
    # The State: the whole gouv.fr tree, by rule
    ("prenom.nom@numerique.gouv.fr", STATE),
    ("prenom.nom@interieur.gouv.fr", STATE),
    ("prenom.nom@gendarmerie.interieur.gouv.fr", STATE),
    ("prenom.nom@dgfip.finances.gouv.fr", STATE),
    ("prenom.nom@education.gouv.fr", STATE),
    ("prenom.nom@diplomatie.gouv.fr", STATE),
    ("Prenom.Nom@Numerique.Gouv.FR", STATE),
    # The State's operators
    ("prenom.nom@inrae.fr", listed("inrae.fr")),
    ("prenom.nom@ademe.fr", listed("ademe.fr")),
    ("prenom.nom@bnf.fr", listed("bnf.fr")),
    ("prenom.nom@onf.fr", listed("onf.fr")),
    ("prenom.nom@cnrs.fr", listed("cnrs.fr")),
    ("prenom.nom@dsi.cnrs.fr", listed("cnrs.fr")),
    ("prenom.nom@insee.fr", listed("insee.fr")),
    ("prenom.nom@inserm.fr", listed("inserm.fr")),
    ("prenom.nom@inria.fr", listed("inria.fr")),
    ("prenom.nom@ign.fr", listed("ign.fr")),
    ("prenom.nom@meteo.fr", listed("meteo.fr")),
    ("prenom.nom@cea.fr", listed("cea.fr")),
    ("prenom.nom@ifremer.fr", listed("ifremer.fr")),
    ("prenom.nom@cerema.fr", listed("cerema.fr")),
    ("prenom.nom@anses.fr", listed("anses.fr")),
    ("prenom.nom@ofii.fr", listed("ofii.fr")),
    ("prenom.nom@caissedesdepots.fr", listed("caissedesdepots.fr")),
    ("prenom.nom@cnes.fr", listed("cnes.fr")),
    ("prenom.nom@biomedecine.fr", listed("biomedecine.fr")),
    ("prenom.nom@cned.fr", listed("cned.fr")),
    ("prenom.nom@francetravail.fr", added("francetravail.fr")),
    ("prenom.nom@pole-emploi.fr", listed("pole-emploi.fr")),
    ("prenom.nom@ambafrance-de.org", listed("ambafrance-de.org")),  # from webmail.ambafrance-de.org
    # Regions, départements, communes, intercommunalités
    ("prenom.nom@iledefrance.fr", listed("iledefrance.fr")),
    ("prenom.nom@auvergnerhonealpes.fr", listed("auvergnerhonealpes.fr")),
    ("prenom.nom@grandest.fr", listed("grandest.fr")),
    ("prenom.nom@hautsdefrance.fr", listed("hautsdefrance.fr")),
    ("prenom.nom@nouvelle-aquitaine.fr", listed("nouvelle-aquitaine.fr")),
    ("prenom.nom@laregion.fr", listed("laregion.fr")),
    ("prenom.nom@bretagne.bzh", listed("bretagne.bzh")),
    ("prenom.nom@gironde.fr", listed("gironde.fr")),
    ("prenom.nom@nord.fr", listed("nord.fr")),
    ("prenom.nom@seinesaintdenis.fr", listed("seinesaintdenis.fr")),
    ("prenom.nom@hauts-de-seine.fr", listed("hauts-de-seine.fr")),
    ("prenom.nom@loire-atlantique.fr", listed("loire-atlantique.fr")),
    ("prenom.nom@isere.fr", listed("isere.fr")),
    ("prenom.nom@paris.fr", listed("paris.fr")),
    ("prenom.nom@dsi.paris.fr", listed("paris.fr")),
    ("prenom.nom@lyon.fr", listed("lyon.fr")),
    ("prenom.nom@mairie-lyon.fr", listed("mairie-lyon.fr")),
    ("prenom.nom@grandlyon.com", listed("grandlyon.com")),
    ("prenom.nom@toulouse-metropole.fr", listed("toulouse-metropole.fr")),
    ("prenom.nom@mairie-toulouse.fr", listed("mairie-toulouse.fr")),
    ("prenom.nom@bordeaux-metropole.fr", listed("bordeaux-metropole.fr")),
    ("prenom.nom@marseille.fr", listed("marseille.fr")),
    ("prenom.nom@nantesmetropole.fr", listed("nantesmetropole.fr")),
    ("prenom.nom@strasbourg.eu", listed("strasbourg.eu")),
    ("prenom.nom@lillemetropole.fr", listed("lillemetropole.fr")),
    ("prenom.nom@cdg69.fr", listed("cdg69.fr")),
    # Hospitals and regional health agencies
    ("prenom.nom@ars.sante.fr", listed("ars.sante.fr")),
    ("prenom.nom@paca.ars.sante.fr", listed("paca.ars.sante.fr")),
    ("prenom.nom@aphp.fr", listed("aphp.fr")),
    ("prenom.nom@ap-hm.fr", added("ap-hm.fr")),
    ("prenom.nom@chu-lyon.fr", listed("chu-lyon.fr")),
    ("prenom.nom@chu-bordeaux.fr", listed("chu-bordeaux.fr")),
    ("prenom.nom@chu-toulouse.fr", listed("chu-toulouse.fr")),
    ("prenom.nom@chu-lille.fr", listed("chu-lille.fr")),
    ("prenom.nom@chru-strasbourg.fr", listed("chru-strasbourg.fr")),
    ("prenom.nom@chru-nancy.fr", added("chru-nancy.fr")),
    ("prenom.nom@ch-bourges.fr", listed("ch-bourges.fr")),
    # Universities and academies
    ("prenom.nom@univ-lyon1.fr", listed("univ-lyon1.fr")),
    ("prenom.nom@u-paris.fr", listed("u-paris.fr")),
    ("prenom.nom@sorbonne-universite.fr", listed("sorbonne-universite.fr")),
    ("prenom.nom@univ-amu.fr", listed("univ-amu.fr")),
    ("prenom.nom@u-bordeaux.fr", listed("u-bordeaux.fr")),
    ("prenom.nom@unistra.fr", listed("unistra.fr")),
    ("prenom.nom@univ-grenoble-alpes.fr", listed("univ-grenoble-alpes.fr")),
    ("prenom.nom@univ-rennes.fr", added("univ-rennes.fr")),
    ("prenom.nom@ac-paris.fr", listed("ac-paris.fr")),
    ("prenom.nom@ac-versailles.fr", listed("ac-versailles.fr")),
    ("prenom.nom@ac-creteil.fr", listed("ac-creteil.fr")),
    ("prenom.nom@ac-aix-marseille.fr", listed("ac-aix-marseille.fr")),
    ("prenom.nom@ac-noumea.nc", listed("ac-noumea.nc")),
    ("prenom.nom@ac-polynesie.pf", listed("ac-polynesie.pf")),
    ("prenom.nom@region-academique-occitanie.fr", listed("region-academique-occitanie.fr")),
    (
        "prenom.nom@region-academique-ile-de-france.fr",
        added("region-academique-ile-de-france.fr"),
    ),
    ("prenom.nom@crous-lyon.fr", listed("crous-lyon.fr")),
    # Independent authorities, assemblies, courts
    ("prenom.nom@cnil.fr", listed("cnil.fr")),
    ("prenom.nom@defenseurdesdroits.fr", listed("defenseurdesdroits.fr")),
    ("prenom.nom@conseil-constitutionnel.fr", listed("conseil-constitutionnel.fr")),
    ("prenom.nom@elysee.fr", listed("elysee.fr")),
    ("prenom.nom@ccomptes.fr", listed("ccomptes.fr")),
    ("prenom.nom@cnfpt.fr", listed("cnfpt.fr")),
    ("prenom.nom@arcep.fr", listed("arcep.fr")),
    ("prenom.nom@has-sante.fr", listed("has-sante.fr")),
    ("prenom.nom@autoritedelaconcurrence.fr", listed("autoritedelaconcurrence.fr")),
    ("prenom.nom@arcom.fr", added("arcom.fr")),
    ("prenom.nom@assemblee-nationale.fr", listed("assemblee-nationale.fr")),
    ("prenom.nom@senat.fr", listed("senat.fr")),
    ("prenom.nom@conseil-etat.fr", listed("conseil-etat.fr")),
    ("prenom.nom@justice.fr", listed("justice.fr")),
]

WEBMAIL = "messagerie grand public : "
HOSTING = "hébergeur de sites : "
DISPOSABLE = "messagerie jetable : "
UNKNOWN = "domaine inconnu de la liste du secteur public : "
REMOVED = "retiré de la liste du secteur public : "
INVALID = "nom de domaine invalide : "

# --- Everyone else: (address, the start of the reason it is refused) -----------------------------

REFUSED = [
    # Webmail and internet providers
    ("prenom.nom@gmail.com", WEBMAIL + "gmail.com"),
    ("prenom.nom@outlook.fr", WEBMAIL + "outlook.fr"),
    ("prenom.nom@hotmail.fr", WEBMAIL + "hotmail.fr"),
    ("prenom.nom@live.fr", WEBMAIL + "live.fr"),
    ("prenom.nom@yahoo.fr", WEBMAIL + "yahoo.fr"),
    ("prenom.nom@orange.fr", WEBMAIL + "orange.fr"),
    ("prenom.nom@wanadoo.fr", WEBMAIL + "wanadoo.fr"),
    ("prenom.nom@free.fr", WEBMAIL + "free.fr"),
    ("prenom.nom@sfr.fr", WEBMAIL + "sfr.fr"),  # an entry of the State's list itself
    ("prenom.nom@neuf.fr", WEBMAIL + "neuf.fr"),
    ("prenom.nom@laposte.net", WEBMAIL + "laposte.net"),
    ("prenom.nom@bbox.fr", WEBMAIL + "bbox.fr"),
    ("prenom.nom@icloud.com", WEBMAIL + "icloud.com"),
    ("prenom.nom@protonmail.com", WEBMAIL + "protonmail.com"),
    ("prenom.nom@gmx.fr", WEBMAIL + "gmx.fr"),
    ("mairie@mairie.orange.fr", WEBMAIL + "orange.fr"),  # an entry of the list
    ("mairie@perso.wanadoo.fr", WEBMAIL + "wanadoo.fr"),  # an entry of the list
    ("mairie@aast.free.fr", WEBMAIL + "free.fr"),  # a host on free.fr from the list
    # Site builders and blogs, even where the list has them
    ("prenom.nom@wordpress.com", HOSTING + "wordpress.com"),  # an entry of the list
    ("mairie@mairieplouha.wordpress.com", HOSTING + "wordpress.com"),
    ("prenom.nom@pagesperso-orange.fr", HOSTING + "pagesperso-orange.fr"),
    ("prenom.nom@wix.com", HOSTING + "wix.com"),
    ("prenom.nom@e-monsite.com", HOSTING + "e-monsite.com"),
    # Disposable mail
    ("prenom.nom@yopmail.com", DISPOSABLE + "yopmail.com"),
    ("prenom.nom@mailinator.com", DISPOSABLE + "mailinator.com"),
    # Contractors
    ("prenom.nom@capgemini.com", UNKNOWN + "capgemini.com"),
    ("prenom.nom@sopra-steria.com", UNKNOWN + "sopra-steria.com"),
    ("prenom.nom@accenture.com", UNKNOWN + "accenture.com"),
    ("prenom.nom@atos.net", UNKNOWN + "atos.net"),
    ("prenom.nom@orange-business.com", UNKNOWN + "orange-business.com"),
    ("prenom.nom@berger-levrault.com", UNKNOWN + "berger-levrault.com"),
    ("prenom.nom@atexo.com", REMOVED + "atexo.com"),  # an entry of the list
    # Not public employers, although the list has them (pitfall a)
    ("prenom.nom@notaires.fr", REMOVED + "notaires.fr"),
    ("prenom.nom@chambre-gironde.notaires.fr", REMOVED + "notaires.fr"),
    ("prenom.nom@barreau-bordeaux.avocat.fr", REMOVED + "avocat.fr"),
    ("prenom.nom@avocats-lille.com", REMOVED + "avocats-lille.com"),
    ("prenom.nom@urssaf.fr", REMOVED + "urssaf.fr"),
    ("prenom.nom@alsace.msa.fr", REMOVED + "msa.fr"),
    ("prenom.nom@amf.asso.fr", REMOVED + "asso.fr"),
    ("prenom.nom@afternic.com", REMOVED + "afternic.com"),
    # Lookalikes
    ("someone@gouv.fr.evil.com", UNKNOWN + "gouv.fr.evil.com"),
    ("someone@numerique.gouv.fr.evil.com", UNKNOWN + "numerique.gouv.fr.evil.com"),
    ("someone@evilgouv.fr", UNKNOWN + "evilgouv.fr"),
    ("someone@fakegouv.fr", UNKNOWN + "fakegouv.fr"),
    ("someone@gouv.com", UNKNOWN + "gouv.com"),
    ("someone@numerique.gouv.fr.", "nom de domaine terminé par un point : numerique.gouv.fr."),
    ("someone@pаris.fr", UNKNOWN + "xn--pris-53d.fr"),  # Cyrillic а
    ("someone@xn--pris-53d.fr", UNKNOWN + "xn--pris-53d.fr"),  # the same, in punycode
    ("someone@gоuv.fr", UNKNOWN + "xn--guv-sed.fr"),  # Cyrillic о: not gouv.fr
    ("someone@numerique.xn--guv-sed.fr", UNKNOWN + "numerique.xn--guv-sed.fr"),
    ("someone@арhр.fr", UNKNOWN),  # aphp.fr in Cyrillic letters
    ("someone@aphp.fr.example.com", UNKNOWN + "aphp.fr.example.com"),
    ("someone@notaphp.fr", UNKNOWN + "notaphp.fr"),
    ("gouv.fr@evil.com", UNKNOWN + "evil.com"),
    # Names that only look like a public pattern: no wildcard
    ("someone@ac-attacker.fr", UNKNOWN + "ac-attacker.fr"),
    ("someone@ac-paris.fr.example.com", UNKNOWN + "ac-paris.fr.example.com"),
    ("someone@ch-ateau.fr", UNKNOWN + "ch-ateau.fr"),
    ("someone@chu-fake.fr", UNKNOWN + "chu-fake.fr"),
    ("someone@region-academique-fake.fr", UNKNOWN + "region-academique-fake.fr"),
    # Not addresses
    ("no-at-sign", "adresse mal formée"),
    ("@gouv.fr", "adresse mal formée"),
    ("someone@", "adresse mal formée"),
    ("someone@gouvfr", INVALID + "gouvfr"),
    ("someone@paris", INVALID + "paris"),
    ("someone@numerique..gouv.fr", INVALID + "numerique..gouv.fr"),
    ("someone@-paris.fr", INVALID + "-paris.fr"),
]


@pytest.mark.parametrize(("email", "reason"), ACCEPTED)
def test_public_employers_are_accepted(email, reason):
    assert check(email) == Decision(True, reason)
    assert is_public_address(email)


@pytest.mark.parametrize(("email", "reason"), REFUSED)
def test_everyone_else_is_refused(email, reason):
    decision = check(email)
    assert not decision.accepted
    assert decision.reason.startswith(reason)
    assert not is_public_address(email)


def test_a_listed_host_is_accepted_alone_unless_it_is_a_registrable_domain():
    # A school's host on an ENT platform: listed, but e-lyco.fr is the registrable domain.
    assert check("agent@0440286x.e-lyco.fr") == Decision(True, listed("0440286x.e-lyco.fr"))
    assert not check("agent@dsi.0440286x.e-lyco.fr").accepted
    assert not check("agent@e-lyco.fr").accepted
    # chambagri.fr is a public suffix (private section of the list): each chamber's name is
    # registrable, so its subdomains are the chamber's.
    assert check("agent@aube.chambagri.fr") == Decision(True, listed("aube.chambagri.fr"))
    assert check("agent@dsi.aube.chambagri.fr") == Decision(True, listed("aube.chambagri.fr"))
    assert not check("agent@chambagri.fr").accepted


def test_the_tables_are_as_large_as_promised():
    assert len(ACCEPTED) >= 60 and len(REFUSED) >= 30
    assert len({email for email, _ in ACCEPTED + REFUSED}) == len(ACCEPTED) + len(REFUSED)


# --- The State's namespace, and homoglyphs -------------------------------------------------------


def test_any_name_under_gouv_fr_is_the_states_own_and_compared_in_punycode():
    """Only the State creates names under gouv.fr, so a lookalike label there is still a
    State name: accepted by the rule, but as the other name it is, never as the one it
    imitates; the confirmation e-mail goes to that other name."""
    cyrillic = "nuмerique.gouv.fr"  # Cyrillic м
    accented = "numérique.gouv.fr"
    assert to_ascii(cyrillic) == "xn--nuerique-59g.gouv.fr"
    assert to_ascii(accented) == "xn--numrique-d1a.gouv.fr"
    assert "numerique.gouv.fr" not in {to_ascii(cyrillic), to_ascii(accented)}
    assert check(f"agent@{cyrillic}") == Decision(True, STATE)
    assert check("agent@xn--nuerique-59g.gouv.fr") == Decision(True, STATE)
    assert check(f"agent@{accented}") == Decision(True, STATE)


def test_a_homoglyph_of_a_listed_name_is_another_name_and_refused():
    assert check("agent@paris.fr").accepted
    for lookalike in ("pаris.fr", "parіs.fr", "раris.fr"):  # Cyrillic а, і, р
        decision = check(f"agent@{lookalike}")
        assert not decision.accepted
        assert "xn--" in decision.reason
        assert decision.suggestion is None


@pytest.mark.parametrize(
    "domain",
    ["Numérique.GOUV.fr", "nuмerique.gouv.fr", "ÉLYSÉE.fr", "paris.fr", "Ville-Paris.FR"],
)
def test_names_are_normalised_as_the_registration_form_does(domain):
    form = validate_email(f"x@{domain}", check_deliverability=False)
    assert to_ascii(domain) == form.ascii_email.split("@")[1].lower()


def test_a_trailing_dot_is_refused_as_the_form_refuses_it_with_the_fix_suggested():
    decision = check("agent@numerique.gouv.fr.")
    assert not decision.accepted
    assert decision.suggestion == "agent@numerique.gouv.fr"
    assert check("agent@gmail.com.").suggestion is None


# --- Suggestions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "suggestion"),
    [
        ("agent@finances.gouv", "agent@finances.gouv.fr"),  # missing suffix
        ("agent@numerique.gouv", "agent@numerique.gouv.fr"),
        ("agent@numerique.gouv.rf", "agent@numerique.gouv.fr"),  # swap
        ("agent@numerique.gov.fr", "agent@numerique.gouv.fr"),  # insertion
        ("agent@numerique.gouvfr", "agent@numerique.gouv.fr"),  # the missing dot
        ("agent@parsi.fr", "agent@paris.fr"),  # swap
        ("agent@pari.fr", "agent@paris.fr"),  # insertion
        ("agent@gironde.rf", "agent@gironde.fr"),
        ("agent@gironnde.fr", "agent@gironde.fr"),  # deletion
        ("agent@chu-lyon.rf", "agent@chu-lyon.fr"),
        ("agent@aphp.ff", "agent@aphp.fr"),
        ("agent@dsi.pari.fr", "agent@dsi.paris.fr"),  # under a listed registrable domain
        ("agent@ars.snte.fr", "agent@ars.sante.fr"),  # a listed name beats sete.fr's subdomain
        ("Prenom.Nom+tag@cnrs.rf", "Prenom.Nom+tag@cnrs.fr"),  # the local part is kept
    ],
)
def test_typos_get_the_corrected_address(email, suggestion):
    decision = check(email)
    assert not decision.accepted
    assert decision.suggestion == suggestion
    assert check(suggestion).accepted


@pytest.mark.parametrize(
    "email",
    [
        "agent@paris",  # one label: not a name, and paris.fr would be a guess
        "agent@gmail.com",  # blocked: never a suggestion
        "agent@gmail.con",  # gmail.com is blocked: not offered either
        "agent@outlok.fr",
        "agent@fakegouv.fr",  # `fake.gouv.fr` would invent a service under gouv.fr
        "agent@numeriquegouv.fr",
        "agent@gouv.fr.evil.com",
        "agent@capgemini.com",
        "agent@paris-idf.cci.fr",  # not into a subdomain of another body's domain
        "agent@notaires.fr",  # removed on purpose, not a typo
        "agent@ac-attacker.fr",
    ],
)
def test_no_suggestion_where_none_is_safe(email):
    decision = check(email)
    assert not decision.accepted
    assert decision.suggestion is None


def test_an_accepted_address_never_carries_a_suggestion():
    assert check("agent@numerqiue.gouv.fr") == Decision(True, STATE)  # the State's namespace


def test_candidates_grow_with_length_times_alphabet():
    word = "numerique.gouv.rf"
    size = len(list(eligibility._edits(word)))
    alphabet = len(eligibility._ALPHABET)
    assert size <= (2 * alphabet + 2) * len(word) + alphabet


# --- Extra domains -------------------------------------------------------------------------------


def test_an_event_adds_domains_and_their_subdomains():
    extras = ("partenaire.fr",)
    assert check("agent@partenaire.fr", extras) == Decision(
        True, "ajout de l’événement : partenaire.fr"
    )
    assert check("agent@equipe.partenaire.fr", extras).accepted
    assert not check("agent@faux-partenaire.fr", extras).accepted
    assert not check("agent@partenaire.fr").accepted
    assert is_public_address("agent@partenaire.fr", extras)


def test_event_domains_are_normalised_and_may_restore_a_removed_one():
    assert check("agent@urssaf.fr", ["URSSAF.fr."]).accepted
    assert check("agent@xn--crche-5ra.fr", ["crèche.fr"]).accepted
    assert not check("agent@paris.notaires.fr", ["not a domain", ""]).accepted


def test_an_event_cannot_open_webmail():
    decision = check("agent@gmail.com", ("gmail.com",))
    assert decision == Decision(False, "messagerie grand public : gmail.com", personal=True)


def test_only_personal_mailboxes_are_marked_personal():
    assert check("agent@yopmail.com").personal
    assert not check("agent@exemple-entreprise.com").personal
    assert not check("agent@paris.fr").personal


def test_an_event_domain_helps_typos():
    assert check("agent@partenair.fr", ("partenaire.fr",)).suggestion == "agent@partenaire.fr"


@pytest.fixture
def deployment(tmp_path):
    path = tmp_path / "domaines.txt"
    path.write_text("# nos partenaires\nprefecture-partenaire.fr  # convention 2024\n", "utf-8")
    app = Flask("deployment")
    app.config["EXTRA_DOMAINS_FILE"] = str(path)
    return app, path


def test_the_deployment_file_counts_only_inside_the_app(deployment):
    app, _ = deployment
    email = "agent@dsi.prefecture-partenaire.fr"
    assert not check(email).accepted  # no app context: no deployment
    with app.app_context():
        assert check(email) == Decision(True, "ajout du déploiement : prefecture-partenaire.fr")
        app.config["EXTRA_DOMAINS_FILE"] = ""
        assert not check(email).accepted


def test_the_deployment_file_is_read_again_only_when_it_changes(deployment):
    app, path = deployment
    with app.app_context():
        assert check("agent@prefecture-partenaire.fr").accepted
        stamp = path.stat()
        # Same size, same modification time: the cached domains stand.
        path.write_text("# nos partenaires\nprefecture-partenairz.fr  # convention 2024\n", "utf-8")
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        assert check("agent@prefecture-partenaire.fr").accepted
        # A new modification time: read again.
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
        assert not check("agent@prefecture-partenaire.fr").accepted
        assert check("agent@prefecture-partenairz.fr").accepted


def test_a_missing_deployment_file_adds_nothing_and_says_so(deployment, caplog, monkeypatch):
    app, path = deployment
    path.unlink()
    # Alembic's fileConfig (migrations/env.py), run by other tests of this process, disables
    # the loggers that exist then.
    monkeypatch.setattr(logging.getLogger("registration.eligibility"), "disabled", False)
    with app.app_context(), caplog.at_level(logging.WARNING, logger="registration.eligibility"):
        assert not check("agent@prefecture-partenaire.fr").accepted
    assert "EXTRA_DOMAINS_FILE introuvable" in caplog.text


def test_the_setting_exists_and_is_empty_by_default():
    from registration import config

    assert config.load({"APP_ENV": "test"})["EXTRA_DOMAINS_FILE"] == ""
    assert config.load({"APP_ENV": "test", "EXTRA_DOMAINS_FILE": "/etc/x"})[
        "EXTRA_DOMAINS_FILE"
    ] == ("/etc/x")
