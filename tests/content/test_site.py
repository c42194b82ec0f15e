"""load_site: every content file under a folder, cached until it changes; what an event says
about its end; broken content at start-up and after it; drafts."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from registration.content import ContentError, Event, SiteConfig, load, load_site
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


def test_a_broken_file_stops_load_site_with_its_name(tmp_path):
    write(tmp_path / "agenda" / "2024-01-01-bon.md", event_text("Bon", "2024-01-01"))
    broken = write(tmp_path / "agenda" / "2024-02-01-casse.md", "---\ntitle: Cassé\n---\n")
    with pytest.raises(ContentError) as error:
        load_site(tmp_path)
    assert error.value.path == str(broken) and error.value.key == "event_start_date"


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


def test_a_broken_file_stops_start_up_with_a_message_not_a_traceback(make_app, tmp_path):
    content = tmp_path / "content"
    write(content / "agenda" / "2024-03-01-essai.md", "---\ntitle: Essai\n---\n")
    with pytest.raises(SystemExit) as stop:
        make_app(CONTENT_DIR=str(content))
    assert "2024-03-01-essai.md" in str(stop.value.code)
    assert "event_start_date" in str(stop.value.code)


def test_a_file_broken_after_start_up_fails_the_page_with_the_file_and_key(make_app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    app = make_app(CONTENT_DIR=str(content))
    path = content / "agenda" / "2023-06-15-atelier-des-communs.md"
    path.write_text(
        path.read_text("utf-8").replace("event_start_date: 2023", "event_start_date: x2023"),
        encoding="utf-8",
    )
    touch_later(path)
    response = app.test_client().get("/agenda/atelier-des-communs/")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Contenu invalide" in text and "event_start_date" in text and path.name in text


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
