"""Content pages: Markdown with YAML front matter, as the numerique.gouv.fr site writes them.

A file is parsed once and cached until its modification time changes. The front matter is
validated into frozen dataclasses; a bad file raises ContentError naming the file and the key.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import frontmatter
import nh3
import yaml
from markdown_it import MarkdownIt

from .dates import PARIS

PLACEHOLDER_LINK = "lien à ajouter"
# Jekyll's post file names: YYYY-MM-DD-slug.md
_POST_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(?P<slug>[a-z0-9][a-z0-9-]*)$")


class ContentError(ValueError):
    """A content file is malformed. The message names the file and the key."""

    def __init__(self, path: Path | str, key: str | None, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, problem
        where = f"{self.path} : clé « {key} »" if key else self.path
        super().__init__(f"{where} : {problem}")


@dataclass(frozen=True)
class InfoField:
    label: str
    text: str
    is_registration_link: bool


@dataclass(frozen=True)
class Page:
    path: str
    url: str
    title: str
    chapeau: str
    subtitle: str
    body_html: str
    published: bool


@dataclass(frozen=True)
class Event(Page):
    slug: str
    start: datetime
    end: datetime | None
    place: str
    address: str
    categories: tuple[str, ...]
    infos: tuple[InfoField, ...]
    deadline: datetime
    capacity: int | None
    contact: str
    extra_domains: tuple[str, ...]
    departments: tuple[str, ...]

    @property
    def registration_url(self) -> str:
        return registration_path(self.slug)


def registration_path(slug: str) -> str:
    return f"/agenda/{slug}/inscription"


# --- Markdown -------------------------------------------------------------------------------

_markdown = MarkdownIt(
    "commonmark",
    # kramdown-like typography: curly apostrophes, French quotation marks.
    {"html": True, "typographer": True, "quotes": "«\u202f\u202f»‘’"},
).enable(["replacements", "smartquotes"])

# `**Forum : **`: kramdown closes the bold after a space, CommonMark does not. Move the space out.
_LOOSE_STRONG = re.compile(r"\*\*(?=[^\s*])([^*\n]*?[^\s*])([ \t]+)\*\*")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "button", "code", "dd", "details", "div", "dl", "dt",
    "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "section", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u",
    "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang"},
    "a": {"href"},
    "button": {"aria-controls", "aria-expanded", "type"},
    "th": {"scope"},
}
# The legacy site's classes, mapped to the design system's; any other class is dropped.
_CLASS_MAP = {
    "button": "fr-btn",
    "h2": "fr-h2",
    "h3": "fr-h3",
    "h4": "fr-h4",
    "accordion": "fr-accordions-group",
    "accordion-item": "fr-accordion",
    "accordion-title": "fr-accordion__btn",
    "accordion-content": "fr-collapse",
    "encadre": "fr-callout",
}
_ORIGIN_SITE = "https://www.numerique.gouv.fr"


def _attribute_filter(registration_url: str | None, local_urls: frozenset[str]):
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "class":
            classes = [_CLASS_MAP[c] for c in value.split() if c in _CLASS_MAP]
            return " ".join(classes) or None
        if tag == "a" and attribute == "href":
            if value.strip() == PLACEHOLDER_LINK:
                return registration_url or None
            # Root-relative links point at the original site, unless this service serves them.
            if value.startswith("/") and not value.startswith("//") and value not in local_urls:
                return _ORIGIN_SITE + value
        return value

    return keep


def render_markdown(
    text: str, registration_url: str | None = None, local_urls: frozenset[str] = frozenset()
) -> str:
    """Markdown (with inline HTML) -> sanitised HTML. The page title is the only <h1>."""
    html = _markdown.render(_LOOSE_STRONG.sub(r"**\1**\2", text))
    html = re.sub(r"<(/?)h1\b", r"<\1h2", html)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter(registration_url, local_urls),
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
    )


# --- Front matter ----------------------------------------------------------------------------


def _aware(path: Path, key: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ContentError(path, key, f"date illisible : {value!r}") from None
    elif value is None:
        raise ContentError(path, key, "obligatoire, absente")
    else:
        raise ContentError(path, key, f"date illisible : {value!r}")
    # Jekyll reads a date without offset in the site's time zone.
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


def _text(path: Path, meta: dict, key: str, required: bool = False) -> str:
    value = meta.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ContentError(path, key, "obligatoire, absente ou vide")
        return ""
    if not isinstance(value, str | int | float):
        raise ContentError(path, key, "doit être un texte")
    return str(value).strip()


def _read(path: Path) -> tuple[dict, str]:
    try:
        post = frontmatter.load(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (ligne {mark.line + 1})" if mark else ""
        raise ContentError(path, "front matter", f"YAML invalide{where} : {exc}") from None
    except UnicodeDecodeError:
        raise ContentError(path, None, "le fichier n’est pas en UTF-8") from None
    if not isinstance(post.metadata, dict) or not post.metadata:
        raise ContentError(path, "front matter", "absent : le fichier doit commencer par ---")
    return post.metadata, post.content


def _published(path: Path, meta: dict) -> bool:
    value = meta.get("published", True)
    if not isinstance(value, bool):
        raise ContentError(path, "published", f"doit valoir true ou false, pas {value!r}")
    return value


def _event(path: Path, meta: dict, body: str, local_urls: frozenset[str]) -> Event:
    slug = _slug(path)
    start = _aware(path, "event_start_date", meta.get("event_start_date"))
    end_raw = meta.get("event_end_date")
    end = _aware(path, "event_end_date", end_raw) if end_raw is not None else None
    if end is not None and end <= start:
        raise ContentError(path, "event_end_date", "doit suivre event_start_date")

    reg = meta.get("inscription") or {}
    if not isinstance(reg, dict):
        raise ContentError(path, "inscription", "doit être un bloc de clés")
    deadline = _aware(path, "inscription.date_limite", reg.get("date_limite", start))
    capacity = reg.get("places")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
    ):
        raise ContentError(path, "inscription.places", f"nombre entier positif, pas {capacity!r}")
    domains = reg.get("domaines_supplementaires") or []
    departments = reg.get("departements_forum") or []
    for key, items in (("domaines_supplementaires", domains), ("departements_forum", departments)):
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ContentError(path, f"inscription.{key}", "doit être une liste de textes")

    infos = []
    for index, item in enumerate(meta.get("champs_informations") or []):
        if not isinstance(item, dict) or "intitule" not in item:
            raise ContentError(path, f"champs_informations[{index}]", "intitule manquant")
        text = str(item.get("contenu") or "").strip()
        infos.append(InfoField(str(item["intitule"]), text, text == PLACEHOLDER_LINK))

    categories = meta.get("categories") or []
    if isinstance(categories, str):
        categories = categories.split()
    return Event(
        path=str(path),
        url=f"/agenda/{slug}/",
        title=_text(path, meta, "title", required=True),
        chapeau=_text(path, meta, "chapeau-text"),
        subtitle=_text(path, meta, "sous-titre"),
        body_html=render_markdown(body, registration_path(slug), local_urls),
        published=_published(path, meta),
        slug=slug,
        start=start,
        end=end,
        place=_text(path, meta, "lieu"),
        address=_text(path, meta, "adresse"),
        categories=tuple(str(c) for c in categories),
        infos=tuple(infos),
        deadline=deadline,
        capacity=capacity,
        contact=str(reg.get("contact") or ""),
        extra_domains=tuple(d.strip().lower().lstrip(".") for d in domains if d.strip()),
        departments=tuple(d.strip() for d in departments if d.strip()),
    )


def _page(path: Path, meta: dict, body: str, local_urls: frozenset[str]) -> Page:
    permalink = _text(path, meta, "permalink") or f"/{path.stem}/"
    if not permalink.startswith("/"):
        raise ContentError(path, "permalink", f"doit commencer par / : {permalink!r}")
    return Page(
        path=str(path),
        url=permalink,
        title=_text(path, meta, "title", required=True),
        chapeau=_text(path, meta, "chapeau-text"),
        subtitle=_text(path, meta, "sous-titre"),
        body_html=render_markdown(body, None, local_urls),
        published=_published(path, meta),
    )


@functools.lru_cache(maxsize=512)
def _parse(path: Path, mtime_ns: int, local_urls: frozenset[str]) -> Page:
    meta, body = _read(path)
    if path.parent.name == "agenda":
        return _event(path, meta, body, local_urls)
    return _page(path, meta, body, local_urls)


def load(path: Path, local_urls: frozenset[str] = frozenset()) -> Page:
    """Parse one content file, from the cache unless it changed on disk."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ContentError(path, None, f"illisible : {exc.strerror}") from None
    return _parse(path, mtime, local_urls)


@dataclass(frozen=True)
class Site:
    """All content under one directory: events in agenda/, general pages in pages/."""

    events: tuple[Event, ...]
    pages: tuple[Page, ...]

    def event(self, slug: str) -> Event | None:
        return next((e for e in self.events if e.slug == slug), None)

    def page(self, url: str) -> Page | None:
        return next((p for p in self.pages if p.url == url), None)


def _files(content_dir: Path) -> tuple[list[Path], list[Path]]:
    return sorted((content_dir / "agenda").glob("*.md")), sorted(
        (content_dir / "pages").glob("*.md")
    )


def load_site(content_dir: str | Path) -> Site:
    """Load every content file. Raises ContentError on the first malformed one."""
    content_dir = Path(content_dir)
    event_files, page_files = _files(content_dir)
    # Links between pages of this site stay local; the URLs only depend on file names...
    local = {registration_path(_slug(p)) for p in event_files}
    local |= {f"/agenda/{_slug(p)}/" for p in event_files}
    # ...and on the pages' permalinks, which need a first pass without link rewriting.
    local |= {load(p).url for p in page_files}
    local_urls = frozenset(local)
    events = sorted((load(p, local_urls) for p in event_files), key=lambda e: e.start)
    pages = tuple(load(p, local_urls) for p in page_files)
    return Site(events=tuple(events), pages=pages)  # type: ignore[arg-type]


def _slug(path: Path) -> str:
    match = _POST_NAME.match(path.stem)
    return match["slug"] if match else path.stem
