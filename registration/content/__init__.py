"""Content pages: Markdown with YAML front matter, as the numerique.gouv.fr site writes them.

A file is parsed once and cached until its modification time changes; `current_site` keeps
the whole site, in memory and on disk, so that a page view costs a few `stat` calls and a
new process reads the parsed site back instead of parsing it again. The front matter is
validated into frozen dataclasses (`model`). A malformed file never takes the site down:
`load_site` keeps every good file, and lists each bad one (`BrokenFile`) with all its
problems, each naming the file and the key; only the bad file's own page fails. The problems
are logged once per change of the file.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import sys
import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from .model import (
    PLACEHOLDER_LINK,
    ContentError,
    Event,
    InfoField,
    Page,
    Problem,
    Question,
    QuestionKind,
    SiteConfig,
    registration_path,
)

__all__ = [
    "PLACEHOLDER_LINK",
    "BrokenFile",
    "ContentError",
    "Event",
    "InfoField",
    "Page",
    "Problem",
    "Question",
    "QuestionKind",
    "Site",
    "SiteConfig",
    "current_site",
    "is_current",
    "load",
    "load_site",
    "registration_path",
    "render_markdown",
]

logger = logging.getLogger(__name__)
CONFIG_FILE = "_config.yml"


def render_markdown(
    text: str,
    registration_url: str | None = None,
    local_urls: frozenset[str] = frozenset(),
    origin: str = "",
) -> str:
    """Markdown (with inline HTML) -> sanitised HTML (see `markdown.render_markdown`)."""
    from .markdown import render_markdown as render

    return render(text, registration_url, local_urls, origin)


@functools.lru_cache(maxsize=512)
def _parse(
    path: Path, mtime_ns: int, local_urls: frozenset[str], site: SiteConfig
) -> Page | tuple[Problem, ...]:
    # A broken file is cached too: it is not parsed again on every request, only once changed.
    from . import parse  # Markdown and YAML are imported when a file is parsed

    try:
        meta, body = parse.read(path)
        if path.parent.name == "agenda":
            return parse.event(path, meta, body, local_urls, site)
        return parse.page(path, meta, body, local_urls, site)
    except ContentError as error:
        return error.problems


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as exc:
        raise ContentError(path, None, f"illisible : {exc.strerror}") from None


NO_SITE_CONFIG = SiteConfig()


def load(
    path: Path, local_urls: frozenset[str] = frozenset(), site: SiteConfig = NO_SITE_CONFIG
) -> Page:
    """Parse one content file, from the cache unless it changed on disk; ContentError lists
    every problem of a malformed one."""
    parsed = _parse(path, _mtime(path), local_urls, site)
    if isinstance(parsed, tuple):
        raise ContentError.of(parsed)
    return parsed


@functools.lru_cache(maxsize=16)
def _site_config(path: Path, mtime_ns: int) -> tuple[SiteConfig, tuple[Problem, ...]]:
    from . import parse

    return parse.site_config(path)


@functools.lru_cache(maxsize=512)
def _where_served(path: Path, mtime_ns: int, is_event: bool) -> tuple[str, bool]:
    from . import parse

    return parse.where_served(path, is_event)


@dataclass(frozen=True)
class BrokenFile:
    """A content file with problems. An event or page file: its own URL answers « momentanément
    indisponible », the rest of the site serves. `_config.yml`: its bad keys keep their
    defaults (empty), as if absent."""

    path: str
    name: str  # as editors know it, under the content folder: agenda/2023-06-01-x.md
    url: str  # where its page is served; "" for _config.yml
    slug: str  # an event's; "" for a page or the config
    published: bool  # False for a draft: the public gets a 404, as for a good draft
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Site:
    """All content under one directory: events in agenda/, general pages in pages/, and the
    files that could not be read."""

    config: SiteConfig
    events: tuple[Event, ...]
    pages: tuple[Page, ...]
    broken: tuple[BrokenFile, ...] = ()

    def event(self, slug: str) -> Event | None:
        return next((e for e in self.events if e.slug == slug), None)

    def page(self, url: str) -> Page | None:
        return next((p for p in self.pages if p.url == url), None)

    def broken_event(self, slug: str) -> BrokenFile | None:
        return next((b for b in self.broken if b.slug and b.slug == slug), None)

    def broken_page(self, url: str) -> BrokenFile | None:
        return next((b for b in self.broken if not b.slug and b.url == url), None)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for b in self.broken for p in b.problems)


def content_files(content_dir: str | Path) -> tuple[Path, list[Path], list[Path]]:
    """`_config.yml`, the event files and the page files of a content folder."""
    content_dir = Path(content_dir)
    return (
        content_dir / CONFIG_FILE,
        sorted((content_dir / "agenda").glob("*.md")),
        sorted((content_dir / "pages").glob("*.md")),
    )


def _mtime_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def load_site(content_dir: str | Path, *, log: bool = True) -> Site:
    """Load every content file: the good ones, and the broken ones with their problems.
    Never raises ContentError. With `log`, new problems are logged (once per change)."""
    from . import parse

    content_dir = Path(content_dir)
    config_path, event_files, page_files = content_files(content_dir)
    broken: list[BrokenFile] = []
    versions: dict[str, int | None] = {}  # each broken file's mtime: the log says each once

    def mark_broken(path: Path, mtime: int | None, problems: tuple[Problem, ...]) -> None:
        is_event = path.parent.name == "agenda" and path.suffix == ".md"
        url, published = "", False  # the folder and _config.yml have no page of their own
        if path.suffix == ".md" and mtime is not None:
            url, published = _where_served(path, mtime, is_event)
        name = path.relative_to(content_dir).as_posix() if path != content_dir else str(path)
        slug = parse.slug_of(path) if is_event else ""
        broken.append(BrokenFile(str(path), name, url, slug, published, problems))
        versions[str(path)] = mtime

    if not content_dir.is_dir():
        mark_broken(content_dir, None, (Problem(str(content_dir), None, "dossier introuvable"),))
    config: SiteConfig = NO_SITE_CONFIG
    config_mtime = _mtime_or_none(config_path)
    if config_mtime is not None:
        config, config_problems = _site_config(config_path, config_mtime)
        if config_problems:
            mark_broken(config_path, config_mtime, config_problems)

    mtimes = {p: _mtime_or_none(p) for p in (*event_files, *page_files)}
    # Links between pages of this site stay local; the URLs only depend on file names...
    local = {registration_path(parse.slug_of(p)) for p in event_files}
    local |= {f"/agenda/{parse.slug_of(p)}/" for p in event_files}
    # ...and on the pages' permalinks, which need a first pass without link rewriting.
    for path in page_files:
        mtime = mtimes[path]
        if mtime is None:
            continue
        first = _parse(path, mtime, frozenset(), NO_SITE_CONFIG)
        local.add(first.url if isinstance(first, Page) else _where_served(path, mtime, False)[0])
    local_urls = frozenset(local)

    def parsed(path: Path) -> Page | None:
        mtime = mtimes[path]
        if mtime is None:  # removed or unreadable since the folder was listed
            mark_broken(path, None, (Problem(str(path), None, "illisible"),))
            return None
        result = _parse(path, mtime, local_urls, config)
        if isinstance(result, tuple):
            mark_broken(path, mtime, result)
            return None
        return result

    events = [e for e in map(parsed, event_files) if isinstance(e, Event)]
    pages = [p for p in map(parsed, page_files) if p is not None]
    site = Site(
        config=config,
        events=tuple(sorted(events, key=lambda e: e.start)),
        pages=tuple(pages),
        broken=tuple(broken),
    )
    if log:
        _log_changes(content_dir, site, versions)
    return site


Stamp = tuple[tuple[int, int] | None, ...]


def _stamp(paths: tuple[str, ...]) -> Stamp:
    """Each path's modification time and size (None when missing)."""
    stamps: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            found = os.stat(path)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((found.st_mtime_ns, found.st_size))
    return tuple(stamps)


@dataclass(frozen=True)
class _Loaded:
    paths: tuple[str, ...]  # the folders first, then every file the site was read from
    stamp: Stamp
    site: Site


_loaded: dict[str | Path, _Loaded] = {}


def current_site(content_dir: str | Path, cache_dir: str | Path | None = None) -> Site:
    """`load_site`, given again while no content file changed: a page view costs a few
    `stat` calls. A folder's time changes when a file is added, removed or renamed; each
    file's time and size when it is written in place.

    With `cache_dir`, the parsed site is also kept there (`content.pickle`), for the next
    process to read back while the files and the parser stay the same: each web worker
    would otherwise parse every file again at start-up."""
    last = _loaded.get(content_dir)
    if last is not None and _stamp(last.paths) == last.stamp:
        return last.site
    # Stamped before reading: a change made while the site loads is seen on the next call.
    folder = Path(content_dir)
    folders = tuple(map(str, (folder, folder / "agenda", folder / "pages")))
    folder_stamp = _stamp(folders)
    config_path, event_files, page_files = content_files(folder)
    paths = folders + tuple(map(str, (config_path, *event_files, *page_files)))
    stamp = folder_stamp + _stamp(paths[len(folders) :])
    key = (sys.version, _parser_stamp(), str(folder.resolve()), paths, stamp)
    site = _read_cache(cache_dir, key) if cache_dir is not None else None
    if site is None:
        site = load_site(folder)
        if cache_dir is not None:
            _write_cache(cache_dir, key, site)
    else:
        _log_changes(folder, site, {b.path: _mtime_or_none(Path(b.path)) for b in site.broken})
    _loaded[content_dir] = _Loaded(paths, stamp, site)
    return site


def is_current(content_dir: str | Path, site: Site) -> bool:
    """Whether `site` is what `current_site(content_dir)` gives, no file having changed."""
    last = _loaded.get(content_dir)
    return last is not None and last.site is site and _stamp(last.paths) == last.stamp


CACHE_FILE = "content.pickle"
# What a parsed site depends on besides its files: this package and the libraries it uses.
_PARSER_MODULES = ("markdown_it", "nh3", "frontmatter", "yaml", "babel")


@functools.cache
def _parser_stamp() -> Stamp:
    """The parser's own files (any change of code or library version shows in them)."""
    here = Path(__file__).parent
    ours = [str(p) for p in sorted(here.glob("*.py"))] + [str(here.parent / "dates.py")]
    libraries = []
    for name in _PARSER_MODULES:
        spec = find_spec(name)
        libraries.append(str(spec.origin) if spec is not None else name)
    return _stamp((*ours, *libraries))


def _read_cache(cache_dir: str | Path, key: object) -> Site | None:
    """The site kept by an earlier process, if it was parsed from the same files by the
    same parser; None otherwise. The file is the application's own (its instance folder)."""
    try:
        with open(Path(cache_dir) / CACHE_FILE, "rb") as file:
            kept_key, site = pickle.load(file)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
        return None
    return site if kept_key == key and isinstance(site, Site) else None


def _write_cache(cache_dir: str | Path, key: object, site: Site) -> None:
    """Atomically: a process starting meanwhile reads the old file or the new one."""
    import tempfile

    folder = Path(cache_dir)
    temporary: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".content-", delete=False) as file:
            temporary = file.name
            pickle.dump((key, site), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, folder / CACHE_FILE)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        # A read-only instance folder: each process parses the content, as before.
        logger.warning("Contenu analysé non gardé dans %s : %s", folder, exc)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


# What was last logged, by content folder: {file: (mtime, problems)}. Shared by threads.
_logged: dict[Path, dict[str, tuple[int | None, tuple[Problem, ...]]]] = {}
_logged_lock = threading.Lock()


def _log_changes(content_dir: Path, site: Site, versions: dict[str, int | None]) -> None:
    """Log each broken file once per change of it, and say when it has been fixed."""
    now = {b.path: (versions[b.path], b.problems) for b in site.broken}
    with _logged_lock:
        before = _logged.get(content_dir, {})
        if now == before:
            return
        _logged[content_dir] = now
    for file in site.broken:
        if before.get(file.path) == now[file.path]:
            continue
        problems = " ; ".join(str(p) for p in file.problems)
        if file.name == CONFIG_FILE:
            logger.error("Contenu invalide, valeurs par défaut à la place : %s", problems)
        elif file.url:
            logger.error(
                "Contenu invalide, %s répond « momentanément indisponible » : %s",
                file.url,
                problems,
            )
        else:
            logger.error("Contenu invalide : %s", problems)
    for path in sorted(before.keys() - now.keys()):
        logger.warning("Contenu de nouveau valide, ou retiré : %s", path)
