"""Front matter -> validated dataclasses; every error names the file and the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registration.content import (
    ContentError,
    Event,
    Question,
    QuestionKind,
    SiteConfig,
    load,
    load_site,
)
from registration.content.parse import slug_of
from registration.dates import PARIS

HEAD = "---\ntitle: Essai\nevent_start_date: 2024-03-01 09:30:00 +01:00\n"


def write(folder: Path, name: str, text: str) -> Path:
    """A content file under folder/agenda (or folder/pages for a page)."""
    path = folder / ("agenda" if name[:4].isdigit() else "pages") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_config(folder: Path, text: str) -> Path:
    path = folder / "_config.yml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def event_file(tmp_path: Path, front: str = "", name: str = "2024-03-01-essai.md") -> Path:
    return write(tmp_path, name, f"{HEAD}{front}---\nBonjour\n")


def parsed(path: Path) -> Event:
    event = load(path)
    assert isinstance(event, Event)
    return event


def questions_block(*items: str) -> str:
    return "inscription:\n  questions:\n" + "".join(items)


def question(
    qid: str = "atelier",
    kind: str = "choix_unique",
    options: str = "\n    options:\n    - Un\n    - Deux",
    extra: str = "",
) -> str:
    return f"  - id: {qid}\n    intitule: Une question\n    type: {kind}{options}{extra}\n"


def assert_names_file_and_key(error: ContentError, path: Path, key: str) -> None:
    assert error.key == key
    assert error.path == str(path)
    message = str(error)
    assert str(path) in message and f"« {key} »" in message


# --- Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("---\ntitle: [unclosed\n---\n", "front matter"),
        ("Pas de front matter\n", "front matter"),
        ("---\nevent_start_date: 2024-03-01 09:30:00 +01:00\n---\n", "title"),
        ("---\ntitle: '  '\nevent_start_date: 2024-03-01 09:30:00 +01:00\n---\n", "title"),
        ("---\ntitle: [a, b]\nevent_start_date: 2024-03-01 09:30:00 +01:00\n---\n", "title"),
        ("---\ntitle: Essai\n---\n", "event_start_date"),
        ("---\ntitle: Essai\nevent_start_date: le 3 mars\n---\n", "event_start_date"),
        ("---\ntitle: Essai\nevent_start_date: [2024]\n---\n", "event_start_date"),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01 10:00:00 +01:00\n"
            "event_end_date: 2024-03-01 09:00:00 +01:00\n---\n",
            "event_end_date",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\ninscription:\n"
            "  places: beaucoup\n---\n",
            "inscription.places",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\ninscription:\n  places: 0\n---\n",
            "inscription.places",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\ninscription:\n  places: true\n---\n",
            "inscription.places",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\ninscription:\n"
            "  date_limite: bientôt\n---\n",
            "inscription.date_limite",
        ),
        ("---\ntitle: Essai\nevent_start_date: 2024-03-01\ninscription: oui\n---\n", "inscription"),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\npublished: peut-être\n---\n",
            "published",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\nchamps_informations:\n"
            "- contenu: sans intitulé\n---\n",
            "champs_informations[0]",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\ninscription:\n"
            "  domaines_supplementaires: paris.fr\n---\n",
            "inscription.domaines_supplementaires",
        ),
    ],
)
def test_broken_files_name_the_file_and_the_key(tmp_path, text, key):
    path = write(tmp_path, "2024-03-01-essai.md", text)
    with pytest.raises(ContentError) as error:
        load(path)
    assert_names_file_and_key(error.value, path, key)


def test_a_file_not_in_utf8_names_the_file(tmp_path):
    path = write(tmp_path, "2024-03-01-essai.md", "")
    path.write_bytes(HEAD.encode() + "lieu: Hôtel\n---\n".encode("latin-1"))
    with pytest.raises(ContentError) as error:
        load(path)
    assert error.value.path == str(path) and "UTF-8" in str(error.value)


def test_a_missing_file_names_the_file(tmp_path):
    path = tmp_path / "agenda" / "2024-03-01-absent.md"
    with pytest.raises(ContentError) as error:
        load(path)
    assert error.value.path == str(path) and "illisible" in str(error.value)


@pytest.mark.parametrize(
    ("block", "key", "problem"),
    [
        (questions_block(question(qid="Départements")), "inscription.questions[0].id", "minus"),
        (questions_block(question(qid="1er")), "inscription.questions[0].id", "minus"),
        (questions_block(question(qid="''")), "inscription.questions[0].id", "minus"),
        (questions_block(question(kind="case_a_cocher")), "inscription.questions[0].type", "l’un"),
        (
            questions_block(question(kind="choix_unique", options="")),
            "inscription.questions[0].options",
            "au moins une option",
        ),
        (
            questions_block(question(kind="choix_multiple", options="\n    options: []")),
            "inscription.questions[0].options",
            "au moins une option",
        ),
        (
            questions_block(question(kind="texte_court")),
            "inscription.questions[0].options",
            "texte_court",
        ),
        (
            questions_block(question(), question(kind="texte_court", options="")),
            "inscription.questions",
            "même id",
        ),
        (
            questions_block(question(options="\n    options:\n    - Un\n    - Un")),
            "inscription.questions[0].options",
            "même texte",
        ),
        (
            questions_block(question(options="\n    options: [Un, 2]")),
            "inscription.questions[0].options",
            "liste de textes",
        ),
        (
            questions_block(question(extra="\n    obligatoire: oui")),
            "inscription.questions[0].obligatoire",
            "true ou false",
        ),
        (
            questions_block(question(extra="\n    obligatoire: 1")),
            "inscription.questions[0].obligatoire",
            "true ou false",
        ),
        (
            questions_block(question(), question(qid="sujets", kind="inconnu")),
            "inscription.questions[1].type",
            "l’un",
        ),
        (questions_block("  - juste un texte\n"), "inscription.questions[0]", "bloc"),
        ("inscription:\n  questions: une seule\n", "inscription.questions", "liste"),
    ],
)
def test_broken_questions_name_the_file_and_the_key(tmp_path, block, key, problem):
    path = event_file(tmp_path, block)
    with pytest.raises(ContentError) as error:
        load(path)
    assert_names_file_and_key(error.value, path, key)
    assert problem in error.value.problem


@pytest.mark.parametrize(
    ("block", "key"),
    [
        (
            questions_block("  - id: sans_intitule\n    type: texte_court\n"),
            "inscription.questions[0].intitule",
        ),
        (
            questions_block(question(extra="\n    aide: [une, liste]")),
            "inscription.questions[0].aide",
        ),
        ("inscription:\n  contact: [a@example.gouv.fr]\n", "inscription.contact"),
        ("inscription:\n  organisateur: {nom: DINUM}\n", "inscription.organisateur"),
    ],
    ids=["question-intitule", "question-aide", "inscription-contact", "inscription-organisateur"],
)
def test_keys_inside_blocks_are_named_in_full(tmp_path, block, key):
    """A key under `inscription` is named with its path, as the other errors do: the bare
    `intitule` or `contact` does not say which question, or which block."""
    path = event_file(tmp_path, block)
    with pytest.raises(ContentError) as error:
        load(path)
    assert_names_file_and_key(error.value, path, key)


def test_mail_infos_must_name_an_information_field(tmp_path):
    path = event_file(
        tmp_path,
        "champs_informations:\n- intitule: Accès\n  contenu: Métro 10\n"
        "inscription:\n  infos_courriel:\n  - Accès\n  - Comment y aller ?\n",
    )
    with pytest.raises(ContentError) as error:
        load(path)
    assert_names_file_and_key(error.value, path, "inscription.infos_courriel")
    assert "Comment y aller ?" in str(error.value)


def test_mail_infos_must_be_a_list_of_texts(tmp_path):
    path = event_file(tmp_path, "inscription:\n  infos_courriel: Accès\n")
    with pytest.raises(ContentError) as error:
        load(path)
    assert_names_file_and_key(error.value, path, "inscription.infos_courriel")


def test_a_page_permalink_must_be_root_relative(tmp_path):
    path = write(tmp_path, "a-propos.md", "---\ntitle: À propos\npermalink: a-propos/\n---\nx\n")
    with pytest.raises(ContentError) as error:
        load(path)
    assert_names_file_and_key(error.value, path, "permalink")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("url: www.example.gouv.fr\n", "url"),
        ("url: [1, 2]\n", "url"),
        ("- une liste\n", "_config.yml"),
        ("url: [unclosed\n", None),
    ],
)
def test_a_broken_config_names_the_file_and_the_key(tmp_path, text, key):
    config = write_config(tmp_path, text)
    site = load_site(tmp_path)
    assert site.config == SiteConfig()  # the bad key, or every key, keeps its default
    ((path, found_key),) = [(p.path, p.key) for p in site.problems]
    assert (path, found_key) == (str(config), key)


def test_a_config_with_broken_yaml_says_where_on_one_line(tmp_path):
    write_config(tmp_path, "nom: DINUM\nurl: [unclosed\n")
    (problem,) = load_site(tmp_path).problems
    assert problem.message.startswith("YAML invalide (ligne 3, colonne 1) : ")
    assert "\n" not in problem.message


def test_broken_yaml_in_a_front_matter_says_where_on_one_line(tmp_path):
    path = write(tmp_path, "2024-03-01-essai.md", "---\ntitle: Essai\nlieu: [Paris\n---\nx\n")
    with pytest.raises(ContentError) as error:
        load(path)
    assert error.value.key == "front matter"
    assert error.value.problem.startswith("YAML invalide (ligne 4, colonne 1) : ")
    assert "\n" not in str(error.value)


# --- Every problem of a file ---------------------------------------------------------------


def test_every_problem_of_a_file_is_listed_not_only_the_first(tmp_path):
    path = write(
        tmp_path,
        "2024-03-01-essai.md",
        "---\nevent_start_date: demain\npublished: peut-être\ncategories: 3\n"
        "champs_informations:\n- contenu: sans intitulé\n"
        "inscription:\n  places: 0\n  date_limite: bientôt\n  contact: [a]\n"
        "  verification_manuelle: non\n  infos_courriel: [Accès]\n"
        "  questions:\n  - id: X\n    type: autre\n  - juste un texte\n"
        "  - id: ok\n    intitule: Bonne question\n    type: texte_court\n---\n",
    )
    with pytest.raises(ContentError) as error:
        load(path)
    assert [p.key for p in error.value.problems] == [
        "title",
        "event_start_date",
        "published",
        "categories",
        "champs_informations[0]",
        "inscription.date_limite",
        "inscription.places",
        "inscription.contact",
        "inscription.questions[0].id",
        "inscription.questions[0].type",
        "inscription.questions[0].intitule",
        "inscription.questions[1]",
        "inscription.verification_manuelle",
        "inscription.infos_courriel",
    ]
    assert all(p.path == str(path) for p in error.value.problems)
    # The first problem is the error's own, and its message lists them all, one a line.
    assert (error.value.key, error.value.path) == ("title", str(path))
    assert str(error.value).splitlines() == [str(p) for p in error.value.problems]


def test_an_end_before_a_bad_start_is_not_a_second_problem(tmp_path):
    path = write(
        tmp_path,
        "2024-03-01-essai.md",
        "---\ntitle: Essai\nevent_start_date: demain\nevent_end_date: 2024-03-01\n---\n",
    )
    with pytest.raises(ContentError) as error:
        load(path)
    assert [p.key for p in error.value.problems] == ["event_start_date"]


def test_every_problem_of_a_page_is_listed(tmp_path):
    path = write(tmp_path, "a-propos.md", "---\npermalink: a-propos/\npublished: 1\n---\nx\n")
    with pytest.raises(ContentError) as error:
        load(path)
    assert [p.key for p in error.value.problems] == ["permalink", "title", "published"]


# --- What a valid file gives ---------------------------------------------------------------


def test_dates_keep_their_offset_and_default_to_paris_time(tmp_path):
    path = write(
        tmp_path,
        "2024-03-01-essai.md",
        "---\ntitle: Essai\nevent_start_date: 2024-07-01 09:30:00 +00:00\n"
        "event_end_date: 2024-07-01 12:00:00\ninscription:\n  date_limite: 2024-06-28\n---\n",
    )
    event = parsed(path)
    assert event.start == datetime(2024, 7, 1, 9, 30, tzinfo=UTC)
    assert event.start.utcoffset() == timedelta(0)
    # Without an offset, Jekyll reads the site's time zone: Paris, summer time here.
    assert event.end == datetime(2024, 7, 1, 12, 0, tzinfo=PARIS)
    assert event.end.utcoffset() == timedelta(hours=2)
    # A date alone is midnight in Paris.
    assert event.deadline == datetime(2024, 6, 28, 0, 0, tzinfo=PARIS)


def test_iso_strings_are_read_as_dates(tmp_path):
    path = event_file(tmp_path, "inscription:\n  date_limite: '2024-02-20T18:00:00+01:00'\n")
    assert parsed(path).deadline == datetime(2024, 2, 20, 17, 0, tzinfo=UTC)


def test_the_deadline_defaults_to_the_start_and_places_to_unlimited(tmp_path):
    event = parsed(event_file(tmp_path))
    assert event.deadline == event.start
    assert event.capacity is None
    assert event.end is None
    assert event.questions == () and event.infos == () and event.mail_infos == ()
    assert event.extra_domains == ()
    assert event.published  # published unless the file says otherwise


def test_event_fields(tmp_path):
    path = event_file(
        tmp_path,
        "chapeau-text: Un chapeau.\nsous-titre: Un sous-titre\nlieu: Bercy\n"
        "adresse: 139 rue de Bercy\ncategories: Évènement Atelier\npublished: false\n"
        "champs_informations:\n- intitule: Accès\n  contenu: ' Métro 14 '\n"
        "- intitule: Inscription\n  contenu: lien à ajouter\n"
        "inscription:\n  places: 40\n  infos_courriel:\n  - Accès\n",
    )
    event = parsed(path)
    assert (event.title, event.chapeau, event.subtitle) == ("Essai", "Un chapeau.", "Un sous-titre")
    assert (event.place, event.address) == ("Bercy", "139 rue de Bercy")
    assert event.categories == ("Évènement", "Atelier")
    assert not event.published
    assert event.capacity == 40
    assert [(i.label, i.text, i.is_registration_link) for i in event.infos] == [
        ("Accès", "Métro 14", False),
        ("Inscription", "lien à ajouter", True),
    ]
    assert event.mail_infos == (event.infos[0],)
    assert event.path == str(path)


def test_the_slug_comes_from_the_jekyll_file_name(tmp_path):
    event = parsed(event_file(tmp_path, name="2024-03-01-forum-des-communs.md"))
    assert event.slug == "forum-des-communs"
    assert event.url == "/agenda/forum-des-communs/"
    assert event.registration_url == "/agenda/forum-des-communs/inscription"
    assert slug_of(Path("agenda/sans-date.md")) == "sans-date"


def test_questions_are_parsed_in_order(tmp_path):
    path = event_file(
        tmp_path,
        questions_block(
            question(
                extra="\n    obligatoire: true\n    aide: Un seul choix.\n    colonne: Atelier"
            ),
            question(qid="sujets", kind="choix_multiple", options="\n    options: [' A ', B]"),
            question(qid="regime_2", kind="texte_court", options=""),
        ),
    )
    event = parsed(path)
    assert event.questions == (
        Question(
            id="atelier",
            label="Une question",
            kind=QuestionKind.SINGLE,
            options=("Un", "Deux"),
            required=True,
            hint="Un seul choix.",
            column="Atelier",
        ),
        Question(
            id="sujets",
            label="Une question",
            kind=QuestionKind.MULTIPLE,
            options=("A", "B"),
        ),
        Question(id="regime_2", label="Une question", kind=QuestionKind.TEXT),
    )
    atelier, sujets, regime = event.questions
    assert event.question("sujets") is sujets and event.question("inconnue") is None
    assert atelier.is_choice and sujets.is_choice and not regime.is_choice
    assert atelier.short_label == "Atelier" and sujets.short_label == "Une question"


@pytest.mark.parametrize(
    ("answer", "chosen"),
    [(None, ()), ("", ()), ("Un", ("Un",)), (["Un", "Deux"], ("Un", "Deux")), ([], ())],
)
def test_an_answer_reads_as_a_tuple(answer, chosen):
    assert Question("q", "Q", QuestionKind.MULTIPLE, ("Un", "Deux")).chosen(answer) == chosen


def test_contact_and_organiser_fall_back_to_the_site_config(tmp_path):
    write_config(
        tmp_path,
        "url: https://www.example.gouv.fr/\ncontact: site@example.gouv.fr\n"
        "organisateur: la mission du site\n",
    )
    event_file(tmp_path, name="2024-03-01-sans-contact.md")
    event_file(
        tmp_path,
        "inscription:\n  contact: ' moi@example.gouv.fr '\n  organisateur: l’équipe de l’atelier\n",
        name="2024-03-02-avec-contact.md",
    )
    site = load_site(tmp_path)
    assert site.config == SiteConfig(
        url="https://www.example.gouv.fr",
        contact="site@example.gouv.fr",
        organiser="la mission du site",
    )
    plain, own = site.event("sans-contact"), site.event("avec-contact")
    assert plain is not None and own is not None
    assert (plain.contact, plain.organiser) == ("site@example.gouv.fr", "la mission du site")
    assert (own.contact, own.organiser) == ("moi@example.gouv.fr", "l’équipe de l’atelier")


def test_without_a_site_config_there_is_no_default_contact(tmp_path):
    event_file(tmp_path)
    site = load_site(tmp_path)
    assert site.config == SiteConfig()
    essai = site.event("essai")
    assert essai is not None and (essai.contact, essai.organiser) == ("", "")


def test_extra_domains_are_normalised(tmp_path):
    path = event_file(
        tmp_path,
        "inscription:\n  domaines_supplementaires:\n  - ' .Paris.FR '\n  - Mairie-Lyon.fr\n"
        "  - ''\n",
    )
    assert parsed(path).extra_domains == ("paris.fr", "mairie-lyon.fr")


def test_a_page_gets_its_permalink_or_its_file_name(tmp_path):
    with_link = load(write(tmp_path, "qui.md", "---\ntitle: Qui\npermalink: /equipe/\n---\nx\n"))
    without = load(write(tmp_path, "contact.md", "---\ntitle: Contact\n---\nx\n"))
    assert not isinstance(with_link, Event) and with_link.url == "/equipe/"
    assert without.url == "/contact/" and without.title == "Contact"
