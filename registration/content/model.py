"""What content files become: frozen dataclasses, read by the views, the rules and the mail."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The link editors leave for "the registration form": it becomes the form's URL.
PLACEHOLDER_LINK = "lien à ajouter"
# An event without an end is taken to last this long (calendar invites, "has it ended?").
DEFAULT_DURATION = timedelta(hours=2)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a content file: the file, the key (None for the whole file), why."""

    path: str
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path} : clé « {self.key} »" if self.key else self.path
        return f"{where} : {self.message}"


class ContentError(ValueError):
    """A content file is malformed: every problem found, each naming the file and the key.
    `path`, `key` and `problem` are the first one's."""

    def __init__(self, path: object, key: str | None, problem: str) -> None:
        self.problems: tuple[Problem, ...] = (Problem(str(path), key, problem),)
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(str(self.problems[0]))

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> ContentError:
        """One error for several problems (at least one) of the same file."""
        first = problems[0]
        error = cls(first.path, first.key, first.message)
        error.problems = tuple(problems)
        error.args = ("\n".join(str(p) for p in problems),)
        return error


@dataclass(frozen=True)
class SiteConfig:
    """`_config.yml` beside the content, as in Jekyll: the site's own address and contacts."""

    name: str = ""  # the site's short name, in page titles ("DINUM")
    url: str = ""  # root-relative links that this service does not serve point there
    contact: str = ""  # the address people write to; an event may give its own
    organiser: str = ""  # who signs the e-mails; an event may give its own


@dataclass(frozen=True)
class InfoField:
    label: str
    text: str
    is_registration_link: bool


class QuestionKind(enum.StrEnum):
    SINGLE = "choix_unique"
    MULTIPLE = "choix_multiple"
    TEXT = "texte_court"


@dataclass(frozen=True)
class Question:
    """A question of the registration form, declared under `inscription.questions`."""

    id: str
    label: str
    kind: QuestionKind
    options: tuple[str, ...] = ()
    required: bool = False
    hint: str = ""
    column: str = ""  # the export's column title; the label when empty

    @property
    def is_choice(self) -> bool:
        return self.kind is not QuestionKind.TEXT

    @property
    def short_label(self) -> str:
        return self.column or self.label

    def chosen(self, answer: str | list[str] | None) -> tuple[str, ...]:
        """The answer as a tuple of options (or of the one text)."""
        if answer is None or answer == "":
            return ()
        return tuple(answer) if isinstance(answer, list) else (answer,)


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
    capacity: int | None  # the file's number of places; an admin may override it
    contact: str
    organiser: str
    extra_domains: tuple[str, ...]
    questions: tuple[Question, ...]
    mail_infos: tuple[InfoField, ...]  # practical information repeated in every e-mail
    manual_verification: bool = True  # agents outside the list may ask an organiser

    @property
    def registration_url(self) -> str:
        return registration_path(self.slug)

    @property
    def ends_at(self) -> datetime:
        return self.end or self.start + DEFAULT_DURATION

    def has_ended(self, now: datetime) -> bool:
        return now >= self.ends_at

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


def registration_path(slug: str) -> str:
    return f"/agenda/{slug}/inscription"
