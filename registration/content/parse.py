"""Front matter -> validated dataclasses. Every error names the file and the key."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from ..dates import PARIS
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

# Jekyll's post file names: YYYY-MM-DD-slug.md
_POST_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(?P<slug>[a-z0-9][a-z0-9-]*)$")
_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


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


def read(path: Path) -> tuple[dict[str, Any], str]:
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


def site_config(path: Path) -> SiteConfig:
    """Read `_config.yml`; a missing file means no origin site and no default contact."""
    if not path.exists():
        return SiteConfig()
    try:
        meta = _block(path, "_config.yml", yaml.safe_load(path.read_text("utf-8")))
    except yaml.YAMLError as exc:
        raise ContentError(path, None, f"YAML invalide : {exc}") from None
    url = _text(path, meta, "url")
    if url and not url.startswith(("https://", "http://")):
        raise ContentError(path, "url", f"adresse http(s) attendue, pas {url!r}")
    return SiteConfig(
        name=_text(path, meta, "nom"),
        url=url.rstrip("/"),
        contact=_text(path, meta, "contact"),
        organiser=_text(path, meta, "organisateur"),
    )


def _flag(path: Path, block: dict[str, Any], key: str, default: bool) -> bool:
    value = block.get(key, default)
    if not isinstance(value, bool):
        raise ContentError(path, f"inscription.{key}", f"doit valoir true ou false, pas {value!r}")
    return value


def _published(path: Path, meta: dict[str, Any]) -> bool:
    value = meta.get("published", True)
    if not isinstance(value, bool):
        raise ContentError(path, "published", f"doit valoir true ou false, pas {value!r}")
    return value


def _question(path: Path, index: int, item: Any) -> Question:
    key = f"inscription.questions[{index}]"
    item = _block(path, key, item)
    question_id = str(item.get("id") or "")
    if not _QUESTION_ID.match(question_id):
        raise ContentError(
            path, f"{key}.id", f"identifiant en minuscules, chiffres et _, pas {question_id!r}"
        )
    try:
        kind = QuestionKind(item.get("type"))
    except ValueError:
        kinds = ", ".join(k.value for k in QuestionKind)
        raise ContentError(
            path, f"{key}.type", f"l’un de {kinds}, pas {item.get('type')!r}"
        ) from None
    options = _texts(path, f"{key}.options", item.get("options"))
    if kind is QuestionKind.TEXT and options:
        raise ContentError(path, f"{key}.options", "une question texte_court n’a pas d’options")
    if kind is not QuestionKind.TEXT and not options:
        raise ContentError(path, f"{key}.options", "au moins une option")
    if len(set(options)) != len(options):
        raise ContentError(path, f"{key}.options", "deux options portent le même texte")
    required = item.get("obligatoire", False)
    if not isinstance(required, bool):
        raise ContentError(path, f"{key}.obligatoire", "doit valoir true ou false")
    return Question(
        id=question_id,
        label=_text(path, item, "intitule", required=True, within=key),
        kind=kind,
        options=options,
        required=required,
        hint=_text(path, item, "aide", within=key),
        column=_text(path, item, "colonne", within=key),
    )


def _questions(path: Path, value: Any) -> tuple[Question, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ContentError(path, "inscription.questions", "doit être une liste de questions")
    questions = tuple(_question(path, i, item) for i, item in enumerate(value))
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise ContentError(path, "inscription.questions", "deux questions ont le même id")
    return questions


def _infos(path: Path, meta: dict[str, Any]) -> tuple[InfoField, ...]:
    infos = []
    for index, item in enumerate(meta.get("champs_informations") or []):
        if not isinstance(item, dict) or "intitule" not in item:
            raise ContentError(path, f"champs_informations[{index}]", "intitule manquant")
        text = str(item.get("contenu") or "").strip()
        infos.append(InfoField(str(item["intitule"]), text, text == PLACEHOLDER_LINK))
    return tuple(infos)


def _capacity(path: Path, value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ContentError(path, "inscription.places", f"nombre entier positif, pas {value!r}")
    return value


def event(
    path: Path, meta: dict[str, Any], body: str, local_urls: frozenset[str], site: SiteConfig
) -> Event:
    slug = slug_of(path)
    start = _aware(path, "event_start_date", meta.get("event_start_date"))
    end_raw = meta.get("event_end_date")
    end = _aware(path, "event_end_date", end_raw) if end_raw is not None else None
    if end is not None and end <= start:
        raise ContentError(path, "event_end_date", "doit suivre event_start_date")

    reg = _block(path, "inscription", meta.get("inscription"))
    infos = _infos(path, meta)
    mail_labels = _texts(path, "inscription.infos_courriel", reg.get("infos_courriel"))
    by_label = {i.label: i for i in infos}
    for label in mail_labels:
        if label not in by_label:
            raise ContentError(
                path, "inscription.infos_courriel", f"aucun champs_informations « {label} »"
            )
    categories = meta.get("categories") or []
    if isinstance(categories, str):
        categories = categories.split()
    return Event(
        path=str(path),
        url=f"/agenda/{slug}/",
        title=_text(path, meta, "title", required=True),
        chapeau=_text(path, meta, "chapeau-text"),
        subtitle=_text(path, meta, "sous-titre"),
        body_html=render_markdown(body, registration_path(slug), local_urls, site.url),
        published=_published(path, meta),
        slug=slug,
        start=start,
        end=end,
        place=_text(path, meta, "lieu"),
        address=_text(path, meta, "adresse"),
        categories=tuple(str(c) for c in categories),
        infos=infos,
        deadline=_aware(path, "inscription.date_limite", reg.get("date_limite", start)),
        capacity=_capacity(path, reg.get("places")),
        contact=_text(path, reg, "contact", within="inscription") or site.contact,
        organiser=_text(path, reg, "organisateur", within="inscription") or site.organiser,
        extra_domains=tuple(
            d.lower().lstrip(".")
            for d in _texts(
                path, "inscription.domaines_supplementaires", reg.get("domaines_supplementaires")
            )
        ),
        questions=_questions(path, reg.get("questions")),
        manual_verification=_flag(path, reg, "verification_manuelle", default=True),
        mail_infos=tuple(by_label[label] for label in mail_labels),
    )


def page(
    path: Path, meta: dict[str, Any], body: str, local_urls: frozenset[str], site: SiteConfig
) -> Page:
    permalink = _text(path, meta, "permalink") or f"/{path.stem}/"
    if not permalink.startswith("/"):
        raise ContentError(path, "permalink", f"doit commencer par / : {permalink!r}")
    return Page(
        path=str(path),
        url=permalink,
        title=_text(path, meta, "title", required=True),
        chapeau=_text(path, meta, "chapeau-text"),
        subtitle=_text(path, meta, "sous-titre"),
        body_html=render_markdown(body, None, local_urls, site.url),
        published=_published(path, meta),
    )
