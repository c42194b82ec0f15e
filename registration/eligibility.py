"""Who is a public agent: the holder of a mailbox on a public-sector domain. Pure functions."""

from __future__ import annotations

import functools
from fnmatch import fnmatchcase
from importlib import resources


@functools.cache
def default_patterns() -> tuple[str, ...]:
    """The allowlist shipped in registration/data/domaines_publics.txt."""
    text = resources.files("registration").joinpath("data/domaines_publics.txt").read_text("utf-8")
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return tuple(line for line in lines if line)


def domain_matches(domain: str, pattern: str) -> bool:
    """True when `domain` is `pattern` or a subdomain of it, label by label."""
    labels = domain.lower().rstrip(".").split(".")
    wanted = pattern.lower().strip(".").split(".")
    if len(labels) < len(wanted):
        return False
    return all(
        fnmatchcase(got, want) for got, want in zip(labels[-len(wanted) :], wanted, strict=True)
    )


def is_public_address(email: str, extra_patterns: tuple[str, ...] = ()) -> bool:
    """The address's domain, and only its domain, is on the allowlist."""
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return False
    return any(domain_matches(domain, p) for p in (*default_patterns(), *extra_patterns))
