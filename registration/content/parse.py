"""Front matter -> validated dataclasses. Every error names the file and the key.

A file is checked key by key: a bad key is recorded and the next ones are still checked, so
that one error lists every problem of the file (`Problems`), as `flask content check` shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import frontmatter
import yaml

from ..dates import PARIS
from .markdown import PLACEHOLDER_LINK, render_markdown
from .model import (
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

# Jekyll's post file names: YYYY-MM-DD-slug.md
_POST_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(?P<slug>[a-z0-9][a-z0-9-]*)$")
_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

T = TypeVar("T")


class Problems:
    """The problems of one file so far: each key is checked even when an earlier one failed."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def __len__(self) -> int:
        return len(self.found)

    def check(self, default: T, read: Callable[[], T]) -> T:
        """`read()`, or `default` with its problems recorded when it raises ContentError."""
        try:
            return read()
        except ContentError as error:
            self.found.extend(error.problems)
            return default

    def add(self, path: Path, key: str | None, message: str) -> None:
        self.found.append(Problem(str(path), key, message))

    def raise_if_any(self) -> None:
        if self.found:
            raise ContentError.of(self.found)


def slug_of(path: Path) -> str:
    match = _POST_NAME.match(path.stem)
    return match["slug"] if match else path.stem


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


def _text(
    path: Path, meta: dict[str, Any], key: str, required: bool = False, within: str = ""
) -> str:
    """A text value; `within` names the enclosing block, so that errors give the full key."""
    value = meta.get(key)
    name = f"{within}.{key}" if within else key
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ContentError(path, name, "obligatoire, absente ou vide")
        return ""
    if not isinstance(value, str | int | float):
        raise ContentError(path, name, "doit être un texte")
    return str(value).strip()


def _texts(path: Path, key: str, value: Any) -> tuple[str, ...]:
    items = value or []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ContentError(path, key, "doit être une liste de textes")
    return tuple(i.strip() for i in items if i.strip())


def _block(path: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContentError(path, key, "doit être un bloc de clés")
    return value


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message on one line, with the line and column in the file."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (ligne {mark.line + 1}, colonne {mark.column + 1})" if mark else ""
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    detail = " : ".join(str(p) for p in parts if p) or str(exc)
    return f"YAML invalide{where} : {' '.join(detail.split())}"


def read(path: Path) -> tuple[dict[str, Any], str]:
    try:
        post = frontmatter.load(path)
    except yaml.YAMLError as exc:
        raise ContentError(path, "front matter", _yaml_problem(exc)) from None
    except UnicodeDecodeError:
        raise ContentError(path, None, "le fichier n’est pas en UTF-8") from None
    except OSError as exc:
        raise ContentError(path, None, f"illisible : {exc.strerror}") from None
    if not isinstance(post.metadata, dict) or not post.metadata:
        raise ContentError(path, "front matter", "absent : le fichier doit commencer par ---")
    return post.metadata, post.content


def site_config(path: Path) -> tuple[SiteConfig, tuple[Problem, ...]]:
    """Read `_config.yml`; a missing file means no origin site and no default contact.

    A bad key keeps its default (empty), as if it were absent, and is returned as a problem:
    the site keeps serving, with the keys that are right."""
    if not path.exists():
        return SiteConfig(), ()
    found = Problems()
    try:
        loaded = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        found.add(path, None, _yaml_problem(exc))
        loaded = None
    except UnicodeDecodeError:
        found.add(path, None, "le fichier n’est pas en UTF-8")
        loaded = None
    except OSError as exc:
        found.add(path, None, f"illisible : {exc.strerror}")
        loaded = None
    meta: dict[str, Any] = found.check({}, lambda: _block(path, "_config.yml", loaded))
    config = SiteConfig(
        name=found.check("", lambda: _text(path, meta, "nom")),
        url=found.check("", lambda: _site_url(path, meta)),
        contact=found.check("", lambda: _text(path, meta, "contact")),
        organiser=found.check("", lambda: _text(path, meta, "organisateur")),
    )
    return config, tuple(found.found)


def _site_url(path: Path, meta: dict[str, Any]) -> str:
    url = _text(path, meta, "url")
    if url and not url.startswith(("https://", "http://")):
        raise ContentError(path, "url", f"adresse http(s) attendue, pas {url!r}")
    return url.rstrip("/")


def _bool(path: Path, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ContentError(path, key, f"doit valoir true ou false, pas {value!r}")
    return value


def _published(path: Path, meta: dict[str, Any]) -> bool:
    return _bool(path, "published", meta.get("published", True))


def _question_id(path: Path, key: str, item: dict[str, Any]) -> str:
    question_id = str(item.get("id") or "")
    if not _QUESTION_ID.match(question_id):
        raise ContentError(
            path, f"{key}.id", f"identifiant en minuscules, chiffres et _, pas {question_id!r}"
        )
    return question_id


def _kind(path: Path, key: str, item: dict[str, Any]) -> QuestionKind:
    try:
        return QuestionKind(str(item.get("type")))
    except ValueError:
        kinds = ", ".join(k.value for k in QuestionKind)
        raise ContentError(
            path, f"{key}.type", f"l’un de {kinds}, pas {item.get('type')!r}"
        ) from None


def _options(path: Path, key: str, kind: QuestionKind | None, value: Any) -> tuple[str, ...]:
    options = _texts(path, f"{key}.options", value)
    if kind is QuestionKind.TEXT and options:
        raise ContentError(path, f"{key}.options", "une question texte_court n’a pas d’options")
    if kind is not None and kind is not QuestionKind.TEXT and not options:
        raise ContentError(path, f"{key}.options", "au moins une option")
    if len(set(options)) != len(options):
        raise ContentError(path, f"{key}.options", "deux options portent le même texte")
    return options


def _question(path: Path, index: int, value: Any, found: Problems) -> Question | None:
    """One question, or None when it has problems (recorded in `found`)."""
    key = f"inscription.questions[{index}]"
    before = len(found)
    item: dict[str, Any] | None = found.check(None, lambda: _block(path, key, value))
    if item is None:
        return None
    block = item
    question_id = found.check("", lambda: _question_id(path, key, block))
    kind = found.check(None, lambda: _kind(path, key, block))
    options: tuple[str, ...] = found.check(
        (), lambda: _options(path, key, kind, block.get("options"))
    )
    required = found.check(
        False, lambda: _bool(path, f"{key}.obligatoire", block.get("obligatoire", False))
    )
    label = found.check("", lambda: _text(path, block, "intitule", required=True, within=key))
    hint = found.check("", lambda: _text(path, block, "aide", within=key))
    column = found.check("", lambda: _text(path, block, "colonne", within=key))
    if kind is None or len(found) > before:
        return None
    return Question(
        id=question_id,
        label=label,
        kind=kind,
        options=options,
        required=required,
        hint=hint,
        column=column,
    )


def _questions(path: Path, value: Any, found: Problems) -> tuple[Question, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        found.add(path, "inscription.questions", "doit être une liste de questions")
        return ()
    questions = [_question(path, i, item, found) for i, item in enumerate(value)]
    ids = [q.id for q in questions if q is not None]
    if len(set(ids)) != len(ids):
        found.add(path, "inscription.questions", "deux questions ont le même id")
    return tuple(q for q in questions if q is not None)


def _infos(path: Path, meta: dict[str, Any], found: Problems) -> tuple[InfoField, ...]:
    items = meta.get("champs_informations") or []
    if not isinstance(items, list):
        found.add(path, "champs_informations", "doit être une liste de blocs intitule, contenu")
        return ()
    infos = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "intitule" not in item:
            found.add(path, f"champs_informations[{index}]", "intitule manquant")
            continue
        text = str(item.get("contenu") or "").strip()
        infos.append(InfoField(str(item["intitule"]), text, text == PLACEHOLDER_LINK))
    return tuple(infos)


def _mail_infos(path: Path, value: Any, infos: tuple[InfoField, ...]) -> tuple[InfoField, ...]:
    by_label = {i.label: i for i in infos}
    labels = _texts(path, "inscription.infos_courriel", value)
    for label in labels:
        if label not in by_label:
            raise ContentError(
                path, "inscription.infos_courriel", f"aucun champs_informations « {label} »"
            )
    return tuple(by_label[label] for label in labels)


def _capacity(path: Path, value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ContentError(path, "inscription.places", f"nombre entier positif, pas {value!r}")
    return value


def _end(path: Path, value: Any, start: datetime | None) -> datetime | None:
    if value is None:
        return None
    end = _aware(path, "event_end_date", value)
    if start is not None and end <= start:
        raise ContentError(path, "event_end_date", "doit suivre event_start_date")
    return end


def _categories(path: Path, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if value is not None and not isinstance(value, list):
        raise ContentError(path, "categories", "doit être une liste ou des mots séparés")
    return tuple(str(c) for c in value or [])


def event(
    path: Path, meta: dict[str, Any], body: str, local_urls: frozenset[str], site: SiteConfig
) -> Event:
    """An event from its front matter; ContentError lists every problem found."""
    slug = slug_of(path)
    found = Problems()
    title = found.check("", lambda: _text(path, meta, "title", required=True))
    start = found.check(
        None, lambda: _aware(path, "event_start_date", meta.get("event_start_date"))
    )
    end = found.check(None, lambda: _end(path, meta.get("event_end_date"), start))
    published = found.check(True, lambda: _published(path, meta))
    chapeau = found.check("", lambda: _text(path, meta, "chapeau-text"))
    subtitle = found.check("", lambda: _text(path, meta, "sous-titre"))
    place = found.check("", lambda: _text(path, meta, "lieu"))
    address = found.check("", lambda: _text(path, meta, "adresse"))
    categories: tuple[str, ...] = found.check((), lambda: _categories(path, meta.get("categories")))
    infos = _infos(path, meta, found)

    reg: dict[str, Any] = found.check(
        {}, lambda: _block(path, "inscription", meta.get("inscription"))
    )
    deadline_raw = reg.get("date_limite", start)
    deadline = (
        found.check(None, lambda: _aware(path, "inscription.date_limite", deadline_raw))
        if deadline_raw is not None or "date_limite" in reg
        else None
    )
    capacity = found.check(None, lambda: _capacity(path, reg.get("places")))
    contact = found.check("", lambda: _text(path, reg, "contact", within="inscription"))
    organiser = found.check("", lambda: _text(path, reg, "organisateur", within="inscription"))
    extra_domains: tuple[str, ...] = found.check(
        (),
        lambda: _texts(
            path, "inscription.domaines_supplementaires", reg.get("domaines_supplementaires")
        ),
    )
    questions = _questions(path, reg.get("questions"), found)
    manual_verification = found.check(
        True,
        lambda: _bool(
            path, "inscription.verification_manuelle", reg.get("verification_manuelle", True)
        ),
    )
    mail_infos: tuple[InfoField, ...] = found.check(
        (), lambda: _mail_infos(path, reg.get("infos_courriel"), infos)
    )
    found.raise_if_any()
    assert start is not None and deadline is not None  # else a problem was recorded
    return Event(
        path=str(path),
        url=f"/agenda/{slug}/",
        title=title,
        chapeau=chapeau,
        subtitle=subtitle,
        body_html=render_markdown(body, registration_path(slug), local_urls, site.url),
        published=published,
        slug=slug,
        start=start,
        end=end,
        place=place,
        address=address,
        categories=categories,
        infos=infos,
        deadline=deadline,
        capacity=capacity,
        contact=contact or site.contact,
        organiser=organiser or site.organiser,
        extra_domains=tuple(d.lower().lstrip(".") for d in extra_domains),
        questions=questions,
        manual_verification=manual_verification,
        mail_infos=mail_infos,
    )


def _permalink(path: Path, meta: dict[str, Any]) -> str:
    permalink = _text(path, meta, "permalink") or f"/{path.stem}/"
    if not permalink.startswith("/"):
        raise ContentError(path, "permalink", f"doit commencer par / : {permalink!r}")
    return permalink


def page(
    path: Path, meta: dict[str, Any], body: str, local_urls: frozenset[str], site: SiteConfig
) -> Page:
    """A general page from its front matter; ContentError lists every problem found."""
    found = Problems()
    url = found.check("", lambda: _permalink(path, meta))
    title = found.check("", lambda: _text(path, meta, "title", required=True))
    chapeau = found.check("", lambda: _text(path, meta, "chapeau-text"))
    subtitle = found.check("", lambda: _text(path, meta, "sous-titre"))
    published = found.check(True, lambda: _published(path, meta))
    found.raise_if_any()
    return Page(
        path=str(path),
        url=url,
        title=title,
        chapeau=chapeau,
        subtitle=subtitle,
        body_html=render_markdown(body, None, local_urls, site.url),
        published=published,
    )


def where_served(path: Path, is_event: bool) -> tuple[str, bool]:
    """The URL a (possibly broken) file is served at, and whether it is published, read as
    leniently as possible: an event's URL comes from its file name, a page's from its
    permalink when that is readable. Unreadable means published: better a French error page
    than a 404 that hides the breakage."""
    try:
        meta, _ = read(path)
    except ContentError:
        meta = {}
    if is_event:
        url = f"/agenda/{slug_of(path)}/"
    else:
        url = Problems().check(f"/{path.stem}/", lambda: _permalink(path, meta))
    return url, meta.get("published", True) is not False
