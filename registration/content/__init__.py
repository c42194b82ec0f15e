"""Content pages: Markdown with YAML front matter, as the numerique.gouv.fr site writes them.

A file is parsed once and cached until its modification time changes. The front matter is
validated into frozen dataclasses (`model`); a bad file raises ContentError naming the file
and the key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from . import parse
from .markdown import PLACEHOLDER_LINK, render_markdown
from .model import (
    ContentError,
    Event,
    InfoField,
    Page,
    Question,
    QuestionKind,
    SiteConfig,
    registration_path,
)

__all__ = [
    "PLACEHOLDER_LINK",
    "ContentError",
    "Event",
    "InfoField",
    "Page",
    "Question",
    "QuestionKind",
    "Site",
    "SiteConfig",
    "load",
    "load_site",
    "registration_path",
    "render_markdown",
]


@functools.lru_cache(maxsize=512)
def _parse(path: Path, mtime_ns: int, local_urls: frozenset[str], site: SiteConfig) -> Page:
    meta, body = parse.read(path)
    if path.parent.name == "agenda":
        return parse.event(path, meta, body, local_urls, site)
    return parse.page(path, meta, body, local_urls, site)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as exc:
        raise ContentError(path, None, f"illisible : {exc.strerror}") from None


NO_SITE_CONFIG = SiteConfig()


def load(
    path: Path, local_urls: frozenset[str] = frozenset(), site: SiteConfig = NO_SITE_CONFIG
) -> Page:
    """Parse one content file, from the cache unless it changed on disk."""
    return _parse(path, _mtime(path), local_urls, site)


@functools.lru_cache(maxsize=16)
def _site_config(path: Path, mtime_ns: int) -> SiteConfig:
    return parse.site_config(path)


@dataclass(frozen=True)
class Site:
    """All content under one directory: events in agenda/, general pages in pages/."""

    config: SiteConfig
    events: tuple[Event, ...]
    pages: tuple[Page, ...]

    def event(self, slug: str) -> Event | None:
        return next((e for e in self.events if e.slug == slug), None)

    def page(self, url: str) -> Page | None:
        return next((p for p in self.pages if p.url == url), None)


def load_site(content_dir: str | Path) -> Site:
    """Load every content file. Raises ContentError on the first malformed one."""
    content_dir = Path(content_dir)
    config_path = content_dir / "_config.yml"
    config = _site_config(config_path, _mtime(config_path) if config_path.exists() else 0)
    event_files = sorted((content_dir / "agenda").glob("*.md"))
    page_files = sorted((content_dir / "pages").glob("*.md"))
    # Links between pages of this site stay local; the URLs only depend on file names...
    local = {registration_path(parse.slug_of(p)) for p in event_files}
    local |= {f"/agenda/{parse.slug_of(p)}/" for p in event_files}
    # ...and on the pages' permalinks, which need a first pass without link rewriting.
    local |= {load(p).url for p in page_files}
    local_urls = frozenset(local)
    events = [load(p, local_urls, config) for p in event_files]
    return Site(
        config=config,
        events=tuple(sorted((e for e in events if isinstance(e, Event)), key=lambda e: e.start)),
        pages=tuple(load(p, local_urls, config) for p in page_files),
    )
