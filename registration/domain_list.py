"""Cleaning an export of the State's list of public-sector domains into the package's data file
(`flask domains import`): hosts or URLs in, sorted IDNA names out, with the attribution
header the Licence Ouverte 2.0 requires."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .eligibility import (
    blocked_domains,
    first_blocked,
    is_gouv,
    public_suffixes,
    registrable,
    to_ascii,
)

DEFAULT_SOURCE = (
    "Etalab / DINUM, « noms-de-domaine-organismes-secteur-public » "
    "(https://github.com/etalab/noms-de-domaine-organismes-secteur-public)"
)
DEFAULT_DATE = (
    "urls.txt au 11/12/2024 (commit fe23ea9), "
    "fichiers historiques datés du 12/06/2020 au 13/12/2022"
)


PATTERN_CHARS = frozenset("*[]\\()+?^$|{}")
MAIL_LABEL = re.compile(r"(mail|webmail|smtp|imap|autodiscover|messagerie|mx[0-9-]*)\Z")
WWW_LABEL = re.compile(r"w{3,4}[0-9]*\Z")

# The rules, in the order they are applied; a name is counted under the first that drops it.
RULES = {
    "motif": "motifs (expressions régulières, jokers), jamais pris pour des noms",
    "invalide": "noms invalides : IDNA impossible, libellé interdit, un seul libellé, "
    "extension inconnue de la Public Suffix List",
    "gouv.fr": "gouv.fr et les noms dessous, acceptés par règle",
    "bloqué": "messageries grand public, fournisseurs d’accès, hébergeurs de sites, "
    "messageries jetables, et tous les noms dessous",
    "messagerie": "serveurs de messagerie dont le parent n’est pas un domaine enregistrable",
}


@dataclass
class Cleaning:
    """What clean_hosts() kept, and what each rule dropped (names after normalisation)."""

    domains: list[str]
    dropped: dict[str, set[str]]
    reduced: dict[str, str]  # mail-server host -> the domain kept in its place
    reduced_new: int = 0  # of those domains, how many no other line gave
    www: int = 0  # names that lost a leading www.
    urls: int = 0  # lines that were URLs
    lines: int = 0  # lines with content (comments and blank lines aside)

    def count(self, rule: str) -> int:
        return len(self.dropped[rule])


def host_of(line: str) -> str:
    """The host of a URL (`https://agent@www.x.fr:443/a?b#c` -> `www.x.fr`): scheme, user
    information, port, path, query and fragment removed; a plain host is kept as it is."""
    rest = line.split("://", 1)[1] if "://" in line else line
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    if authority.count(":") == 1:
        authority = authority.partition(":")[0]
    return authority


def clean_hosts(lines: Iterable[str]) -> Cleaning:
    """Turn an export of the State's list (hosts or URLs, `#` comments) into mail domains.

    IDNA form, lower case, no trailing dot, no leading www.; pattern lines, invalid names,
    the gouv.fr tree, blocked names and the names under them are dropped; a mail-server host
    (mail., webmail., smtp., imap., mx*., autodiscover., messagerie.) becomes its parent when
    that parent is a registrable domain (the body's own domain: `webmail.ville-x.fr` serves
    the mailboxes of `@ville-x.fr`), and is dropped otherwise. Sorted, deduplicated.
    """
    blocked = blocked_domains()
    result = Cleaning([], {rule: set() for rule in RULES}, {})
    kept: set[str] = set()
    parents: set[str] = set()
    for raw in lines:
        line = raw.split("#", 1)[0].strip().strip("\u00a0\"'").strip()
        if not line:
            continue
        result.lines += 1
        is_url = "://" in line
        host = host_of(line)
        # A URL's query may hold `?` or `+`: only its host is looked at for pattern characters.
        if any(c in PATTERN_CHARS for c in (host if is_url else line.split("/", 1)[0])):
            result.dropped["motif"].add(line)
            continue
        result.urls += is_url
        host = host.strip().lower().rstrip(".")
        first, dot, rest = host.partition(".")
        if dot and WWW_LABEL.match(first) and "." in rest:
            host = rest
            result.www += 1
        name = to_ascii(host)
        if name is None or public_suffixes().publicsuffix(name) is None:
            result.dropped["invalide"].add(host or line)
            continue
        if is_gouv(name):
            result.dropped["gouv.fr"].add(name)
            continue
        if first_blocked(name, blocked):
            result.dropped["bloqué"].add(name)
            continue
        first, _, parent = name.partition(".")
        if MAIL_LABEL.match(first) and registrable(name) != name:
            if registrable(parent) != parent:
                result.dropped["messagerie"].add(name)
                continue
            result.reduced[name] = parent
            parents.add(parent)
            continue
        kept.add(name)
    result.domains = sorted(kept | parents)
    result.reduced_new = len(parents - kept)
    return result


def header(cleaning: Cleaning, source: str = DEFAULT_SOURCE, date: str = DEFAULT_DATE) -> str:
    """The comment block of the shipped file: the credit the Licence Ouverte 2.0 asks for
    (source, date of the data), and how the names were cleaned."""
    rules = "\n".join(f"#   - {RULES[rule]} : {cleaning.count(rule)} écarté(s)" for rule in RULES)
    return f"""\
# Domaines de messagerie du secteur public, tirés de la liste des noms de domaine
# des organismes publics publiée par l’État.
#
# Source : {source}
# Licence : Licence Ouverte / Open Licence 2.0 (Etalab 2.0),
#   https://www.etalab.gouv.fr/licence-ouverte-open-licence
# Données : {date}
# Ce fichier est une adaptation de ces données (nettoyage ci-dessous) ; le concédant
# ne cautionne pas cette réutilisation.
#
# Nettoyage (registration/eligibility.py, clean_hosts ; « flask domains import ») :
# {cleaning.lines} ligne(s) lue(s), dont {cleaning.urls} URL(s) réduite(s) à leur hôte ;
# commentaires « # » retirés ; noms en forme IDNA (punycode), en minuscules, sans point final ;
# premier libellé « www », « www1 »… ou « wwww » retiré ({cleaning.www} nom(s)) ;
# puis, dans cet ordre :
{rules}
#   - serveurs de messagerie (mail., webmail., smtp., imap., mx*., autodiscover.,
#     messagerie.) ramenés à leur parent quand il est un domaine enregistrable (Public
#     Suffix List) : c’est le domaine des adresses que ce serveur sert ; {len(cleaning.reduced)}
#     ramené(s), dont {cleaning.reduced_new} parent(s) absent(s) de la liste par ailleurs.
# Reste : {len(cleaning.domains)} nom(s), triés, sans doublon, un par ligne.
# Les corrections (ajouts et retraits motivés) sont dans domaines-corrections.txt et
# s’appliquent au chargement.
"""


def render(cleaning: Cleaning, source: str = DEFAULT_SOURCE, date: str = DEFAULT_DATE) -> str:
    return header(cleaning, source, date) + "".join(f"{d}\n" for d in cleaning.domains)
