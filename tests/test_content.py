"""Front matter parsing, Markdown rendering and sanitising, drafts, start-up checks."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from registration import create_app
from registration.content import ContentError, load, load_site, render_markdown
from registration.dates import PARIS

from .conftest import CONTENT, SLUG, base_config

EVENT_FILE = CONTENT / "agenda" / "2023-06-01-la-dinum-en-action.md"
SEED = CONTENT.parent.parent / "shared" / "seeds" / "000_3d3d16fa57607eea.txt"


def test_event_front_matter_is_parsed_with_its_offset():
    event = load_site(CONTENT).event(SLUG)
    assert event.title == "La Dinum en action : lancement de la feuille de route"
    assert event.start == datetime(2023, 6, 1, 12, 0, tzinfo=UTC)
    assert event.start.utcoffset() == timedelta(hours=2)
    assert event.end == datetime(2023, 6, 1, 19, 0, tzinfo=PARIS)
    assert event.deadline == datetime(2023, 5, 26, 18, 0, tzinfo=PARIS)
    assert event.place == "Cité Internationale Universitaire de Paris"
    assert event.address == "17 Bd Jourdan, 75014 Paris"
    assert event.categories == ("Évènement",)
    assert [i.label for i in event.infos] == ["Comment y aller ?", "Modalités", "Inscription"]
    assert event.infos[2].is_registration_link
    assert len(event.departments) == 6
    assert event.url == f"/agenda/{SLUG}/"
    assert event.published


@pytest.mark.skipif(not SEED.exists(), reason="the shared seeds sit beside the repository")
def test_content_file_keeps_every_seed_byte_but_added_keys():
    ours = EVENT_FILE.read_text("utf-8").splitlines(keepends=True)
    seed = SEED.read_text("utf-8").replace("published: false", "published: true")
    # Remove our added block (between the seed's last key and the closing ---): same bytes.
    start = ours.index("event_end_date: 2023-06-01 19:00:00 +02:00\n")
    end = ours.index("---\n", start)
    assert "".join(ours[:start] + ours[end:]) == seed


def test_body_renders_bold_without_stray_asterisks():
    html = load_site(CONTENT).event(SLUG).body_html
    assert (
        "<strong>17h00 – 19h00 : Forum composé des nouveaux départements de la DINUM :</strong>"
        in html
    )
    assert "**" not in html
    assert "<h3>Programme</h3>" in html
    assert "<br>" in html


def test_placeholder_link_becomes_the_registration_link_styled_as_a_button():
    html = load_site(CONTENT).event(SLUG).body_html
    assert "lien à ajouter" not in html
    assert f'<a href="/agenda/{SLUG}/inscription" class="fr-btn"><b>S\'inscrire</b></a>' in html


def test_typography_uses_curly_apostrophes():
    assert render_markdown("L'objectif de l'État") == "<p>L’objectif de l’État</p>\n"


def test_scripts_and_event_handlers_are_stripped():
    html = render_markdown(
        '<script>alert(1)</script>\n\n<button onclick="steal()" id="b">x</button>'
        '\n\n<a href="javascript:alert(1)">y</a><img src=x onerror=alert(1)>'
    )
    assert "<script" not in html and "alert" not in html
    assert "onclick" not in html and "javascript:" not in html and "onerror" not in html


def test_dinum_page_keeps_an_accordion_made_of_dsfr_parts():
    page = load_site(CONTENT).page("/dinum/")
    assert page.title == "La DINUM"
    html = page.body_html
    assert "<script" not in html and "onclick" not in html and "myFunction" not in html
    assert 'class="fr-accordion__btn"' in html and 'aria-controls="organigramme"' in html
    assert 'class="fr-collapse" id="organigramme"' in html
    assert "<h1" not in html  # the page title is the only h1
    # Links the service does not serve point at the original site.
    assert 'href="https://www.numerique.gouv.fr/publications/feuille-de-route-dinum/"' in html


def write(tmp_path, name: str, text: str):
    path = tmp_path / "agenda" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """---
title: Essai
event_start_date: 2024-03-01 09:30:00 +01:00
published: {published}
---
Bonjour
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("---\ntitle: [unclosed\n---\n", "front matter"),
        ("---\nevent_start_date: 2024-03-01 09:30:00 +01:00\n---\n", "title"),
        ("---\ntitle: Essai\n---\n", "event_start_date"),
        ("---\ntitle: Essai\nevent_start_date: le 3 mars\n---\n", "event_start_date"),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\n"
            "inscription:\n  places: beaucoup\n---\n",
            "inscription.places",
        ),
        (
            "---\ntitle: Essai\nevent_start_date: 2024-03-01\npublished: peut-être\n---\n",
            "published",
        ),
    ],
)
def test_broken_files_name_the_file_and_the_key(tmp_path, text, key):
    path = write(tmp_path, "2024-03-01-essai.md", text)
    with pytest.raises(ContentError) as error:
        load(path)
    assert error.value.key == key
    assert str(path) in str(error.value) and key in str(error.value)


def test_a_broken_file_stops_start_up_with_a_message_not_a_traceback(tmp_path):
    write(tmp_path, "2024-03-01-essai.md", "---\ntitle: Essai\n---\n")
    with pytest.raises(SystemExit) as stop:
        create_app(base_config(tmp_path, CONTENT_DIR=str(tmp_path)))
    assert "2024-03-01-essai.md" in str(stop.value.code)
    assert "event_start_date" in str(stop.value.code)


def test_a_file_broken_after_start_up_fails_the_page_with_the_file_and_key(make_app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    app = make_app(CONTENT_DIR=str(content))
    path = content / "agenda" / EVENT_FILE.name
    path.write_text(
        path.read_text("utf-8").replace("event_start_date: 2023", "event_start_date: x2023")
    )
    response = app.test_client().get(f"/agenda/{SLUG}/")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Contenu invalide" in text and "event_start_date" in text and path.name in text


def test_parsing_is_cached_until_the_file_changes(tmp_path):
    path = write(tmp_path, "2024-03-01-essai.md", GOOD.format(published="true"))
    first = load(path)
    assert load(path) is first
    path.write_text(GOOD.format(published="true").replace("Essai", "Modifié"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load(path).title == "Modifié"


def test_slug_comes_from_the_jekyll_file_name(tmp_path):
    write(tmp_path, "2024-03-01-essai.md", GOOD.format(published="true"))
    site = load_site(tmp_path)
    assert site.event("essai").url == "/agenda/essai/"


@pytest.fixture
def drafts(tmp_path):
    write(tmp_path, "2030-03-01-brouillon.md", GOOD.format(published="false"))
    return tmp_path


def test_drafts_are_404_for_the_public(make_app, drafts):
    client = make_app(CONTENT_DIR=str(drafts)).test_client()
    assert client.get("/agenda/brouillon/").status_code == 404
    assert client.get("/agenda/brouillon/inscription").status_code == 404


def test_drafts_show_with_the_unpublished_setting(make_app, drafts):
    client = make_app(CONTENT_DIR=str(drafts), SHOW_UNPUBLISHED=True).test_client()
    response = client.get("/agenda/brouillon/")
    assert response.status_code == 200
    assert "Brouillon" in response.get_data(as_text=True)
