"""Who is a public agent: the holder of a mailbox on a public-sector domain. Pure functions.

An address is accepted when its domain, in IDNA (punycode) form, is

(a) ``gouv.fr`` or any name under it: only the State can create names there, so every
    label under gouv.fr is the State's own namespace. That includes names that look like
    another one (``nuмerique.gouv.fr`` with a Cyrillic м, ``numérique.gouv.fr``): they are
    other names, compared in their punycode form (``xn--nuerique-59g.gouv.fr``), never
    mistaken for ``numerique.gouv.fr``, and still the State's; the confirmation e-mail
    proves the mailbox;
(b) a name of the State's list (``data/domaines-secteur-public.txt``, with the curated
    ``data/domaines-corrections.txt`` applied), exactly;
(c) a subdomain of a listed name that is itself a registrable domain according to the
    Public Suffix List bundled with ``publicsuffixlist`` (``dsi.paris.fr`` through
    ``paris.fr``; not the subdomains of a listed web host such as ``0440286x.e-lyco.fr``,
    whose registrable domain is the platform's);
(d) an extra domain of the event, or of the deployment (``EXTRA_DOMAINS_FILE``), or a
    subdomain of one.

There is no wildcard: ``ac-attacker.fr`` is refused while each real academy is listed by
name. Free mail, internet providers' mailboxes, site builders, blog platforms and disposable
mail (``data/messageries-grand-public.txt`` and the ``disposable-email-domains`` package)
are refused first, whatever the list or the extras say. A name ending with a dot is refused,
as the registration form refuses it (with the name without its dot as the suggestion).

Every lookup is a set membership test on one suffix of the domain: O(1) per label. The
sets are built once per process (``functools.cache``); the deployment file, the one thing
read through Flask (its config, when an app context exists), is read again only when its
modification time or size changes. Nothing here touches the database.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import idna

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
LIST_FILE = "domaines-secteur-public.txt"
CORRECTIONS_FILE = "domaines-corrections.txt"
WEBMAIL_FILE = "messageries-grand-public.txt"

GOUV = "gouv.fr"
ACCEPTED_GOUV = "domaine de l’État (gouv.fr)"
DISPOSABLE = "messagerie jetable"
DEFAULT_KIND = "messagerie grand public"


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: str
    suggestion: str | None = None
    # A personal mailbox (webmail, provider, disposable): never an agent's, not on request.
    personal: bool = False


# --- Host names ------------------------------------------------------------------------------

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def to_ascii(name: str) -> str | None:
    """The IDNA (punycode) form of a host name, in lower case; None if it is not one.

    Unicode names go through UTS #46 and IDNA 2008, as the registration form does
    (email-validator), so that both agree on every name. At least two labels.
    """
    if not name or len(name) > 253:
        return None
    if name.isascii():
        ascii_name = name.lower()
    else:
        try:
            mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
            ascii_name = ".".join(idna.alabel(label).decode("ascii") for label in mapped.split("."))
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253:
        return None
    for label in labels:
        if not _LABEL.match(label):
            return None
        if label[2:4] == "--":
            if not label.startswith("xn--"):
                return None
            try:
                idna.ulabel(label)
            except (idna.IDNAError, UnicodeError, ValueError):
                return None
    return ascii_name


def _parents(domain: str) -> Iterator[str]:
    """`a.b.c.fr` gives `b.c.fr`, `c.fr`, `fr`: the strict suffixes, label by label."""
    dot = domain.find(".")
    while dot != -1:
        yield domain[dot + 1 :]
        dot = domain.find(".", dot + 1)


def _self_and_parents(domain: str) -> Iterator[str]:
    yield domain
    yield from _parents(domain)


def is_gouv(domain: str) -> bool:
    """`gouv.fr` or a name under it (the IDNA form is expected)."""
    return domain == GOUV or domain.endswith("." + GOUV)


@functools.cache
def public_suffixes() -> PublicSuffixList:
    """The Public Suffix List bundled with the package (never downloaded); unknown TLDs are
    not public suffixes, so a name under an unknown TLD has no registrable domain."""
    from publicsuffixlist import PublicSuffixList  # imported with the lists, on first use

    return PublicSuffixList(accept_unknown=False)


def registrable(domain: str) -> str | None:
    """The registrable domain (public suffix plus one label), None for an unknown TLD or a
    public suffix itself."""
    return public_suffixes().privatesuffix(domain)


# --- The data files --------------------------------------------------------------------------


def _data_text(name: str) -> str:
    return resources.files("registration").joinpath(f"data/{name}").read_text("utf-8")


def _entries(text: str) -> Iterator[tuple[str, str]]:
    """(content, comment) for each line with content; `#` starts a comment."""
    for line in text.splitlines():
        content, _, comment = line.partition("#")
        content = content.strip()
        if content:
            yield content, comment.strip()


def read_domains(text: str) -> list[str]:
    """The names of a list file: one a line, `#` comments; every name must be valid."""
    names = []
    for content, _ in _entries(text):
        name = to_ascii(content.rstrip("."))
        if name is None:
            raise ValueError(f"nom de domaine invalide : {content!r}")
        names.append(name)
    return names


def read_blocked(text: str) -> dict[str, str]:
    """messageries-grand-public.txt: `[kind]` lines open a section; then one domain a line."""
    kind = DEFAULT_KIND
    blocked: dict[str, str] = {}
    for content, _ in _entries(text):
        if content.startswith("[") and content.endswith("]"):
            kind = content[1:-1].strip()
            continue
        name = to_ascii(content)
        if name is None:
            raise ValueError(f"nom de domaine invalide : {content!r}")
        blocked[name] = kind
    return blocked


@dataclass(frozen=True)
class Corrections:
    additions: dict[str, str] = field(default_factory=dict)  # domain -> reason
    removals: dict[str, str] = field(default_factory=dict)  # domain (and its subtree) -> reason


def read_corrections(text: str) -> Corrections:
    """`+ domain  # reason` adds a name; `- domain  # reason` removes a name and every name
    under it. Every line gives its reason."""
    corrections = Corrections()
    for content, reason in _entries(text):
        sign, _, rest = content.partition(" ")
        name = to_ascii(rest.strip())
        if sign not in {"+", "-"} or name is None or not reason:
            raise ValueError(f"correction illisible (« + domaine  # raison ») : {content!r}")
        target = corrections.additions if sign == "+" else corrections.removals
        if name in corrections.additions or name in corrections.removals:
            raise ValueError(f"correction en double : {name}")
        target[name] = reason
    return corrections


@dataclass(frozen=True)
class Lists:
    """Everything check() looks up, built once."""

    listed: frozenset[str]  # the State's list, corrected
    added: frozenset[str]  # the corrections' additions, to say so in the reason
    removed: dict[str, str]  # domain -> reason
    blocked: dict[str, str]  # domain -> kind (messagerie grand public, jetable, hébergeur…)


@functools.cache
def blocked_domains() -> dict[str, str]:
    """Free mail, providers, hosting platforms (our file) and disposable mail (the package)."""
    from disposable_email_domains import blocklist as disposable_blocklist

    blocked = dict.fromkeys((d.lower() for d in disposable_blocklist), DISPOSABLE)
    blocked.update(read_blocked(_data_text(WEBMAIL_FILE)))
    return blocked


def first_blocked(domain: str, blocked: dict[str, str]) -> str | None:
    """The blocked name that `domain` is or is under, if any."""
    for suffix in _self_and_parents(domain):
        if suffix in blocked:
            return suffix
    return None


@functools.cache
def lists() -> Lists:
    """The shipped list with the corrections applied, and the blocked names. Loaded once."""
    public_suffixes()
    blocked = blocked_domains()
    corrections = read_corrections(_data_text(CORRECTIONS_FILE))
    removals = corrections.removals
    under_removed = tuple("." + name for name in removals)
    # The shipped file is written by clean_hosts(), already normalised (a test checks it).
    names = {
        name
        for name in _data_text(LIST_FILE).splitlines()
        if name and name[0] != "#" and name not in removals and not name.endswith(under_removed)
    }
    for name in corrections.additions:
        if first_blocked(name, blocked) or is_gouv(name):
            raise ValueError(f"ajout inutile ou interdit dans {CORRECTIONS_FILE} : {name}")
        names.add(name)
    return Lists(
        listed=frozenset(names),
        added=frozenset(corrections.additions),
        removed=dict(removals),
        blocked=blocked,
    )


def reload() -> None:
    """Forget the loaded data (after `flask domains import` rewrote it)."""
    lists.cache_clear()
    blocked_domains.cache_clear()
    _is_registrable.cache_clear()
    _read_domains_file.cache_clear()


# --- Extra domains: the event's, the deployment's ---------------------------------------------


def normalise_extras(domains: Iterable[str]) -> frozenset[str]:
    """Extra domains in IDNA form; names that are not host names are ignored."""
    found = (to_ascii(d.strip().strip(".")) for d in domains)
    return frozenset(d for d in found if d is not None)


@functools.lru_cache(maxsize=8)
def _read_domains_file(path: str, stamp: tuple[int, int] | None) -> frozenset[str]:
    if stamp is None:
        log.warning("EXTRA_DOMAINS_FILE introuvable : %s (aucun domaine ajouté)", path)
        return frozenset()
    text = Path(path).read_text("utf-8")
    names = normalise_extras(content for content, _ in _entries(text))
    skipped = sum(1 for _ in _entries(text)) - len(names)
    if skipped:
        log.warning("EXTRA_DOMAINS_FILE %s : %d ligne(s) illisible(s) ignorée(s)", path, skipped)
    return names


def load_domains_file(path: str | os.PathLike[str]) -> frozenset[str]:
    """The domains of a deployment file (one a line, `#` comments), cached by path and
    modification time (and size): an edited file is read again, an unchanged one never."""
    try:
        status = os.stat(path)
        stamp: tuple[int, int] | None = (status.st_mtime_ns, status.st_size)
    except OSError:
        stamp = None
    return _read_domains_file(os.fspath(path), stamp)


def deployment_domains() -> frozenset[str]:
    """The file named by EXTRA_DOMAINS_FILE in the Flask config, when an app is there."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return frozenset()
    path = current_app.config.get("EXTRA_DOMAINS_FILE") or ""
    return load_domains_file(path) if path else frozenset()


# --- The check -------------------------------------------------------------------------------


def listed_match(domain: str, data: Lists) -> str | None:
    """The list entry that accepts `domain`: itself, or its registrable domain (rule c)."""
    if domain in data.listed:
        return domain
    for parent in _parents(domain):
        # One Public Suffix List lookup, only when a listed parent is found: the parent must
        # be the registrable domain, so that no platform's suffix lies in between.
        if parent in data.listed and registrable(domain) == parent:
            return parent
    return None


def _under(domain: str, domains: frozenset[str]) -> str | None:
    if not domains:
        return None
    for suffix in _self_and_parents(domain):
        if suffix in domains:
            return suffix
    return None


def _acceptance(
    domain: str, data: Lists, event: frozenset[str], deployment: frozenset[str]
) -> str | None:
    """Why `domain` (IDNA form, not blocked) is accepted, or None."""
    if is_gouv(domain):
        return ACCEPTED_GOUV
    entry = listed_match(domain, data)
    if entry is not None:
        origin = "liste de l’État (ajout)" if entry in data.added else "liste de l’État"
        return f"{origin} : {entry}"
    extra = _under(domain, event)
    if extra is not None:
        return f"ajout de l’événement : {extra}"
    extra = _under(domain, deployment)
    if extra is not None:
        return f"ajout du déploiement : {extra}"
    return None


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-."
_DOT_GOUV = "." + GOUV


def _edits(word: str) -> list[str]:
    """Every string one edit away: swap of two neighbours, deletion, replacement, insertion
    (in that order of preference); about 2 × 38 × len(word) of them."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    swaps = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1 and b[0] != b[1]]
    deletions = [a + b[1:] for a, b in splits if b]
    replacements = [a + c + b[1:] for a, b in splits if b for c in _ALPHABET if c != b[0]]
    insertions = [a + c + b for a, b in splits for c in _ALPHABET]
    return swaps + deletions + replacements + insertions


@functools.lru_cache(maxsize=4096)
def _is_registrable(name: str) -> bool:
    return registrable(name) == name


def _plausible(
    candidates: Iterable[str], listed: frozenset[str], extras: frozenset[str]
) -> list[str]:
    """The candidates that set lookups may accept: listed, under gouv.fr, or under an extra
    or a listed registrable domain. Candidates share few parents: each parent is judged once
    (the Public Suffix List is asked only about listed ones). Order is kept."""
    judged: dict[str, bool] = {}

    def accepts_children(parent: str) -> bool:
        verdict = judged.get(parent)
        if verdict is None:
            verdict = any(
                name in extras or (name in listed and _is_registrable(name))
                for name in _self_and_parents(parent)
            )
            judged[parent] = verdict
        return verdict

    return [
        candidate
        for candidate in candidates
        if candidate in listed
        or candidate in extras
        or candidate.endswith(_DOT_GOUV)
        or accepts_children(candidate[candidate.find(".") + 1 :])
    ]


def _suggest(
    domain: str, data: Lists, event: frozenset[str], deployment: frozenset[str]
) -> str | None:
    """An accepted domain that `domain` is a typo of: its missing `.fr`, or one edit.

    O(length × alphabet) candidates, each a few set lookups; the full check runs only on
    the rare candidate that passes them. A name of the list itself wins over a subdomain
    of one (`ars.snte.fr` -> `ars.sante.fr`, not `ars.sete.fr`). A correction keeps the
    shape of the name: its registrable domain has as many labels as the typed one
    (`paris-idf.cci.fr` is not turned into a subdomain of some `ccbi.fr`). Under gouv.fr
    every name is accepted, so there a correction may only repair the suffix: the service's
    own label must be one of the typed labels (`numerique.gouv.rf` -> `numerique.gouv.fr`,
    while `fakegouv.fr` gets no `fake.gouv.fr`).
    """
    candidates = _edits(domain)
    if public_suffixes().publicsuffix(domain) is None:  # unknown TLD: `finances.gouv`
        candidates.insert(0, domain + ".fr")
    unique = dict.fromkeys(candidates)
    unique.pop(domain, None)
    typed_labels = set(domain.split("."))
    typed_registrable = registrable(domain)
    best: str | None = None
    for candidate in _plausible(unique, data.listed, event | deployment):
        if is_gouv(candidate):
            service = candidate[: -len(_DOT_GOUV)].rpartition(".")[2]
            if candidate == GOUV or service not in typed_labels:
                continue
        elif typed_registrable is not None:
            found = registrable(candidate)
            if found is None or found.count(".") != typed_registrable.count("."):
                continue
        if to_ascii(candidate) != candidate or first_blocked(candidate, data.blocked):
            continue
        if _acceptance(candidate, data, event, deployment) is None:
            continue
        if candidate in data.listed or is_gouv(candidate):
            return candidate
        best = best or candidate
    return best


def check(email: str, extra_domains: Iterable[str] = ()) -> Decision:
    """Accept or refuse an address, and say why in French; suggest a fix for a typo."""
    local, at, raw_domain = email.strip().rpartition("@")
    if not at or not local or not raw_domain:
        return Decision(False, "adresse mal formée : il faut une partie avant et après « @ »")
    data = lists()
    event = normalise_extras(extra_domains)
    deployment = deployment_domains()
    if raw_domain.endswith("."):
        stripped = to_ascii(raw_domain.rstrip("."))
        fixed = None
        if (
            stripped
            and not first_blocked(stripped, data.blocked)
            and _acceptance(stripped, data, event, deployment)
        ):
            fixed = f"{local}@{stripped}"
        return Decision(False, f"nom de domaine terminé par un point : {raw_domain}", fixed)
    domain = to_ascii(raw_domain)
    if domain is None:
        return Decision(False, f"nom de domaine invalide : {raw_domain}")
    blocked = first_blocked(domain, data.blocked)
    if blocked is not None:
        return Decision(False, f"{data.blocked[blocked]} : {blocked}", personal=True)
    reason = _acceptance(domain, data, event, deployment)
    if reason is not None:
        return Decision(True, reason)
    for removed in _self_and_parents(domain):
        if removed in data.removed:
            why = data.removed[removed]
            return Decision(False, f"retiré de la liste du secteur public : {removed} ({why})")
    suggestion = _suggest(domain, data, event, deployment)
    return Decision(
        False,
        f"domaine inconnu de la liste du secteur public : {domain}",
        f"{local}@{suggestion}" if suggestion else None,
    )


def is_public_address(email: str, extra_domains: Iterable[str] = ()) -> bool:
    """The address's domain, and only its domain, is a public employer's."""
    return check(email, extra_domains).accepted
