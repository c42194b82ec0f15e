"""load_site: every content file under a folder, cached until it changes; what an event says
about its end; broken files left out, listed and logged once; start-up with one; drafts.

(What the pages of a broken file answer: tests/views/test_content_errors.py.)"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from registration.content import Event, Problem, SiteConfig, load, load_site
from registration.content.model import DEFAULT_DURATION
from registration.dates import PARIS

from ..factories import signed_in_client

FIXTURE_CONTENT = Path(__file__).resolve().parent.parent / "fixtures" / "content"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def event_text(title: str, start: str, published: str = "true") -> str:
    return f"---\ntitle: {title}\nevent_start_date: {start}\npublished: {published}\n---\nBonjour\n"


def touch_later(path: Path) -> None:
    """Move the modification time on, as an edit a second later would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


# --- The fixture site ----------------------------------------------------------------------


def test_the_fixture_site_has_its_events_page_and_config():
    site = load_site(FIXTURE_CONTENT)
    assert [e.slug for e in site.events] == ["atelier-des-communs", "rencontre-des-achats"]
    assert [p.url for p in site.pages] == ["/a-propos/"]
    assert site.config == SiteConfig(
        name="Communs",
        url="https://www.example.gouv.fr",
        contact="contact@example.gouv.fr",
        organiser="la mission des communs numériques",
    )
    assert site.event("inconnu") is None and site.page("/inconnue/") is None
    page = site.page("/a-propos/")
    assert page is not None and page.title == "À propos"
    assert page.chapeau == "Qui organise ces événements."
    assert not isinstance(page, Event)


def test_load_site_accepts_a_string(tmp_path):
    assert load_site(str(FIXTURE_CONTENT)).event("atelier-des-communs") is not None


def test_events_are_sorted_by_start_whatever_their_file_names(tmp_path):
    write(tmp_path / "agenda" / "2024-01-01-b.md", event_text("B", "2024-05-01 10:00:00 +02:00"))
    write(tmp_path / "agenda" / "2024-02-01-a.md", event_text("A", "2024-03-01 10:00:00 +01:00"))
    # Same local time in Paris, earlier in UTC: the offset counts.
    write(tmp_path / "agenda" / "2024-03-01-c.md", event_text("C", "2024-05-01 10:00:00 +04:00"))
    write(tmp_path / "agenda" / "notes.txt", "pas un événement")
    site = load_site(tmp_path)
    assert [e.slug for e in site.events] == ["a", "c", "b"]
    assert site.pages == ()
    assert site.config == SiteConfig()


def test_an_empty_folder_is_an_empty_site(tmp_path):
    site = load_site(tmp_path)
    assert (site.events, site.pages, site.config) == ((), (), SiteConfig())


def test_pages_are_read_from_the_pages_folder(tmp_path):
    write(tmp_path / "pages" / "b.md", "---\ntitle: B\npermalink: /equipe/b/\n---\nx\n")
    write(tmp_path / "pages" / "a.md", "---\ntitle: A\n---\n[b](/equipe/b/)\n")
    site = load_site(tmp_path)
    assert [p.url for p in site.pages] == ["/a/", "/equipe/b/"]
    page = site.page("/a/")
    assert page is not None and page.title == "A"
    assert '<a href="/equipe/b/">b</a>' in page.body_html


def test_a_broken_file_is_left_out_and_listed_with_its_problems(tmp_path):
    write(tmp_path / "agenda" / "2024-01-01-bon.md", event_text("Bon", "2024-01-01"))
    broken = write(tmp_path / "agenda" / "2024-02-01-casse.md", "---\ntitle: Cassé\n---\n")
    site = load_site(tmp_path)
    assert [e.slug for e in site.events] == ["bon"]
    assert site.event("casse") is None
    (file,) = site.broken
    assert (file.path, file.name, file.url, file.slug) == (
        str(broken),
        "agenda/2024-02-01-casse.md",
        "/agenda/casse/",
        "casse",
    )
    assert file.published
    assert file.problems == (Problem(str(broken), "event_start_date", "obligatoire, absente"),)
    assert site.broken_event("casse") is file and site.broken_event("bon") is None
    assert site.broken_page("/agenda/casse/") is None  # an event is not a page
    assert site.problems == file.problems


def test_a_broken_page_is_found_by_its_permalink(tmp_path):
    write(tmp_path / "pages" / "b.md", "---\ntitle: B\n---\nx\n")
    write(tmp_path / "pages" / "dinum.md", "---\npermalink: /la-dinum/\npublished: oui\n---\n")
    site = load_site(tmp_path)
    assert [p.url for p in site.pages] == ["/b/"]
    file = site.broken_page("/la-dinum/")
    assert file is not None and file.slug == "" and file.name == "pages/dinum.md"
    assert [p.key for p in file.problems] == ["title", "published"]
    assert site.broken_page("/dinum/") is None


def test_a_page_with_unreadable_yaml_is_found_by_its_file_name(tmp_path):
    write(tmp_path / "pages" / "dinum.md", "---\npermalink: [/la-dinum/\n---\n")
    file = load_site(tmp_path).broken_page("/dinum/")
    assert file is not None and file.published  # unknown: the error page, not a 404
    assert [p.key for p in file.problems] == ["front matter"]


def test_a_broken_draft_stays_a_draft(tmp_path):
    write(tmp_path / "agenda" / "2024-01-01-projet.md", "---\ntitle: X\npublished: false\n---\n")
    file = load_site(tmp_path).broken_event("projet")
    assert file is not None and not file.published


def test_a_missing_folder_is_a_problem_not_a_crash(tmp_path):
    site = load_site(tmp_path / "absent")
    assert (site.events, site.pages, site.config) == ((), (), SiteConfig())
    assert site.problems == (Problem(str(tmp_path / "absent"), None, "dossier introuvable"),)


def test_a_broken_config_keeps_the_good_keys_and_defaults_the_bad_ones(tmp_path):
    config = write(tmp_path / "_config.yml", "url: www.x.gouv.fr\nnom: [a]\ncontact: c@x.gouv.fr\n")
    write(tmp_path / "agenda" / "2024-01-01-bon.md", event_text("Bon", "2024-01-01"))
    site = load_site(tmp_path)
    assert site.config == SiteConfig(contact="c@x.gouv.fr")
    event = site.event("bon")
    assert event is not None and event.contact == "c@x.gouv.fr"  # the site still serves
    (file,) = site.broken
    assert (file.name, file.url, file.slug, file.published) == ("_config.yml", "", "", False)
    assert [(p.path, p.key) for p in file.problems] == [(str(config), "nom"), (str(config), "url")]


# --- Logged once per change ----------------------------------------------------------------


@pytest.fixture
def content_logs(caplog, monkeypatch):
    """What registration.content logged, as (level, message)."""
    logger = logging.getLogger("registration.content")
    # Alembic's fileConfig (migrations/env.py), run by other tests of this process, disables
    # the loggers that exist then.
    monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.INFO, logger=logger.name)

    def records() -> list[tuple[int, str]]:
        return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger.name]

    return records


def test_problems_are_logged_once_per_change_of_the_file(tmp_path, caplog, content_logs):
    path = write(tmp_path / "agenda" / "2024-02-01-casse.md", "---\ntitle: Cassé\n---\n")
    for _ in range(3):
        load_site(tmp_path)
    ((level, message),) = content_logs()
    assert level == logging.ERROR
    assert message == (
        "Contenu invalide, /agenda/casse/ répond « momentanément indisponible » : "
        f"{path} : clé « event_start_date » : obligatoire, absente"
    )
    caplog.clear()
    touch_later(path)  # saved again, still broken: said again, once
    load_site(tmp_path)
    load_site(tmp_path)
    assert len(content_logs()) == 1
    caplog.clear()
    path.write_text(event_text("Réparé", "2024-02-01"), encoding="utf-8")
    touch_later(path)
    load_site(tmp_path)
    load_site(tmp_path)
    assert content_logs() == [(logging.WARNING, f"Contenu de nouveau valide, ou retiré : {path}")]


def test_a_broken_config_is_logged_with_its_consequence(tmp_path, content_logs):
    config = write(tmp_path / "_config.yml", "url: [1]\n")
    load_site(tmp_path)
    assert content_logs() == [
        (
            logging.ERROR,
            "Contenu invalide, valeurs par défaut à la place : "
            f"{config} : clé « url » : doit être un texte",
        )
    ]


def test_load_site_can_be_quiet(tmp_path, content_logs):
    write(tmp_path / "agenda" / "2024-02-01-casse.md", "---\ntitle: Cassé\n---\n")
    assert load_site(tmp_path, log=False).broken
    assert content_logs() == []


def test_a_broken_file_is_parsed_once_until_it_changes(tmp_path, monkeypatch):
    from registration.content import parse

    write(tmp_path / "agenda" / "2024-02-01-casse.md", "---\ntitle: Cassé\n---\n")
    calls = []
    original = parse.event
    monkeypatch.setattr(parse, "event", lambda *args: calls.append(1) or original(*args))
    load_site(tmp_path)
    load_site(tmp_path)
    assert len(calls) == 1


# --- The cache -----------------------------------------------------------------------------


def test_parsing_is_cached_until_the_file_changes(tmp_path):
    path = write(tmp_path / "agenda" / "2024-03-01-essai.md", event_text("Essai", "2024-03-01"))
    first = load(path)
    assert load(path) is first
    path.write_text(event_text("Modifié", "2024-03-01"), encoding="utf-8")
    touch_later(path)
    assert load(path).title == "Modifié"


def test_load_site_sees_an_edited_event_file(tmp_path):
    path = write(tmp_path / "agenda" / "2024-03-01-essai.md", event_text("Essai", "2024-03-01"))
    before = load_site(tmp_path).event("essai")
    assert load_site(tmp_path).event("essai") is before  # cached
    path.write_text(event_text("Modifié", "2024-03-01"), encoding="utf-8")
    touch_later(path)
    after = load_site(tmp_path).event("essai")
    assert after is not None and after.title == "Modifié"


def test_load_site_sees_an_edited_config(tmp_path):
    config = write(tmp_path / "_config.yml", "url: https://avant.gouv.fr\n")
    write(tmp_path / "agenda" / "2024-03-01-essai.md", event_text("Essai", "2024-03-01"))
    write(tmp_path / "pages" / "a.md", "---\ntitle: A\n---\n[x](/publications/)\n")
    assert load_site(tmp_path).config.url == "https://avant.gouv.fr"
    config.write_text("url: https://apres.gouv.fr/\ncontact: c@apres.gouv.fr\n", "utf-8")
    touch_later(config)
    site = load_site(tmp_path)
    assert site.config == SiteConfig(url="https://apres.gouv.fr", contact="c@apres.gouv.fr")
    # The pages are rendered again with the new origin, and the event takes the new contact.
    page, event = site.page("/a/"), site.event("essai")
    assert page is not None and event is not None
    assert 'href="https://apres.gouv.fr/publications/"' in page.body_html
    assert event.contact == "c@apres.gouv.fr"


def test_a_new_page_makes_links_to_it_local(tmp_path):
    write(tmp_path / "_config.yml", "url: https://www.example.gouv.fr\n")
    write(tmp_path / "pages" / "a.md", "---\ntitle: A\n---\n[b](/b/)\n")
    page = load_site(tmp_path).page("/a/")
    assert page is not None and 'href="https://www.example.gouv.fr/b/"' in page.body_html
    write(tmp_path / "pages" / "b.md", "---\ntitle: B\n---\nx\n")
    page = load_site(tmp_path).page("/a/")
    assert page is not None and 'href="/b/"' in page.body_html


# --- When an event ends --------------------------------------------------------------------


def test_an_event_ends_at_its_end_date(event):
    assert event.end == datetime(2023, 6, 15, 12, 30, tzinfo=PARIS)
    assert event.ends_at == event.end
    assert not event.has_ended(event.end - timedelta(seconds=1))
    assert event.has_ended(event.end)
    assert event.has_ended(event.end + timedelta(days=1))


def test_an_event_without_an_end_lasts_the_default_duration(plain_event):
    assert plain_event.end is None
    assert plain_event.ends_at == datetime(2023, 9, 20, 16, 0, tzinfo=PARIS)
    assert plain_event.ends_at == plain_event.start + DEFAULT_DURATION
    assert not plain_event.has_ended(datetime(2023, 9, 20, 15, 59, tzinfo=PARIS))
    assert plain_event.has_ended(datetime(2023, 9, 20, 16, 0, tzinfo=PARIS))


def test_an_event_has_not_ended_while_it_runs(event):
    assert not event.has_ended(event.start)
    assert not event.has_ended(event.start - timedelta(days=30))


# --- Broken content in the running service -------------------------------------------------


def test_a_broken_file_does_not_stop_start_up_it_is_logged(make_app, tmp_path, content_logs):
    content = tmp_path / "content"
    write(content / "agenda" / "2024-03-01-bon.md", event_text("Bon", "2030-03-01"))
    write(content / "agenda" / "2024-03-01-essai.md", "---\ntitle: Essai\n---\n")
    app = make_app(CONTENT_DIR=str(content))
    ((level, message),) = content_logs()
    assert level == logging.ERROR
    assert "2024-03-01-essai.md" in message and "event_start_date" in message
    client = app.test_client()
    assert client.get("/agenda/bon/").status_code == 200
    assert client.get("/agenda/essai/").status_code == 503
    assert len(content_logs()) == 1  # not again on each request


@pytest.fixture
def drafts(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    write(
        content / "agenda" / "2030-03-01-brouillon.md",
        event_text("Brouillon", "2030-03-01 09:30:00 +01:00", published="false"),
    )
    return content


def test_drafts_are_404_for_the_public(make_app, drafts):
    client = make_app(CONTENT_DIR=str(drafts)).test_client()
    assert client.get("/agenda/brouillon/").status_code == 404
    assert client.get("/agenda/brouillon/inscription").status_code == 404


def test_drafts_show_with_the_unpublished_setting(make_app, drafts):
    client = make_app(CONTENT_DIR=str(drafts), SHOW_UNPUBLISHED=True).test_client()
    response = client.get("/agenda/brouillon/")
    assert response.status_code == 200
    assert "Brouillon" in response.get_data(as_text=True)


def test_drafts_show_to_signed_in_staff(make_app, drafts):
    app = make_app(CONTENT_DIR=str(drafts))
    client = signed_in_client(app, "orga@numerique.gouv.fr", "organiser")
    response = client.get("/agenda/brouillon/")
    assert response.status_code == 200
    assert "Brouillon" in response.get_data(as_text=True)
