"""A malformed content file, added or broken while the service runs, fails only its own page:
the French « momentanément indisponible » page (503), with the file's problems for signed-in
staff; every other page, the back office and the exports keep working."""

from __future__ import annotations

import io
import logging
import os
import shutil
from pathlib import Path

import openpyxl
import pytest

from ..conftest import CONTENT, WITH_QUESTIONS, WITHOUT_QUESTIONS
from ..factories import form_data, make_registration, registrations, signed_in_client

UNAVAILABLE = "Cette page est momentanément indisponible"
ADDED = "2023-10-05-forum-casse.md"  # added after start-up, broken from the start
ADDED_SLUG = "forum-casse"
ADDED_FILE = """\
---
title: Forum cassé
event_start_date: 2023-10-05 09:00:00 +02:00
inscription:
  places: 0
---
Un forum.
"""
# A good file when the service started, broken by an edit since.
EDITED = "2023-09-20-rencontre-des-achats.md"
GOOD_START = "event_start_date: 2023-09-20 14:00:00 +02:00"


def touch_later(path: Path) -> None:
    """Move the modification time on, as an edit a second later would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    touch_later(path)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    return folder


@pytest.fixture
def content_logs(caplog, monkeypatch):
    """What registration.content logged, as (level, message)."""
    logger = logging.getLogger("registration.content")
    # Alembic's fileConfig (migrations/env.py), run by other tests of this process, disables
    # the loggers that exist then.
    monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.INFO, logger=logger.name)
    return lambda: [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger.name]


@pytest.fixture
def broken(make_app, content, event):
    """The service started on good content, with a registration; then one file was added
    broken and another, served until then, was broken by an edit."""
    app = make_app(CONTENT_DIR=str(content))
    make_registration(app, event, email="camille.durand@numerique.gouv.fr")
    client = app.test_client()
    assert client.get(f"/agenda/{WITHOUT_QUESTIONS}/").status_code == 200  # cached, good
    (content / "agenda" / ADDED).write_text(ADDED_FILE, encoding="utf-8")
    edit(content / "agenda" / EDITED, GOOD_START, "event_start_date: le 20 septembre")
    return app


def text_of(response) -> str:
    return response.get_data(as_text=True)


def assert_unavailable(response, *, details: bool = False) -> str:
    assert response.status_code == 503
    text = text_of(response)
    assert UNAVAILABLE in text
    assert '<html lang="fr"' in text and 'class="fr-header"' in text  # the design system
    assert ("contenu-invalide" in text) is details
    return text


# --- The public ----------------------------------------------------------------------------


def test_the_rest_of_the_public_site_keeps_working(broken):
    client = broken.test_client()
    # One upcoming event is left: the home page goes to it.
    home = client.get("/")
    assert home.status_code == 302 and home.location == f"/agenda/{WITH_QUESTIONS}/"
    assert client.get("/", follow_redirects=True).status_code == 200
    agenda = client.get("/agenda/")
    assert agenda.status_code == 200
    assert "Atelier des communs numériques" in text_of(agenda)
    assert "Rencontre des acheteurs" not in text_of(agenda)
    assert "Forum cassé" not in text_of(agenda)
    about = client.get("/a-propos/")  # the fixture's content page, as /dinum/ is the demo's
    assert about.status_code == 200 and "À propos" in text_of(about)
    assert client.get(f"/agenda/{WITH_QUESTIONS}/").status_code == 200
    assert client.get(f"/agenda/{WITH_QUESTIONS}/inscription").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        f"/agenda/{ADDED_SLUG}/",
        f"/agenda/{ADDED_SLUG}/inscription",
        f"/agenda/{WITHOUT_QUESTIONS}/",
        f"/agenda/{WITHOUT_QUESTIONS}/inscription",
        f"/agenda/{WITHOUT_QUESTIONS}/inscription/envoyee",
    ],
)
def test_a_broken_files_urls_answer_the_french_page_without_details(broken, content, url):
    text = assert_unavailable(broken.test_client().get(url))
    # The public learns nothing of the files: no name, no key, no folder.
    assert EDITED not in text and ADDED not in text and str(content) not in text
    assert "event_start_date" not in text and "clé «" not in text
    assert "Page momentanément indisponible – Inscriptions – Communs</title>" in text
    assert 'href="mailto:contact@example.gouv.fr"' in text


def test_a_registration_sent_to_a_broken_event_is_refused_and_kept_nowhere(broken):
    response = broken.test_client().post(
        f"/agenda/{WITHOUT_QUESTIONS}/inscription", data=form_data()
    )
    assert_unavailable(response)
    assert [r.email for r in registrations(broken)] == ["camille.durand@numerique.gouv.fr"]


def test_an_unknown_event_is_still_not_found(broken):
    assert broken.test_client().get("/agenda/inconnu/").status_code == 404


def test_a_broken_page_fails_alone(make_app, content):
    app = make_app(CONTENT_DIR=str(content))
    edit(content / "pages" / "a-propos.md", "title: À propos\n", "")
    client = app.test_client()
    assert_unavailable(client.get("/a-propos/"))
    assert client.get("/agenda/").status_code == 200
    assert client.get(f"/agenda/{WITH_QUESTIONS}/").status_code == 200
    assert client.get("/nulle-part/").status_code == 404


def test_a_broken_draft_stays_hidden_from_the_public(make_app, content):
    app = make_app(CONTENT_DIR=str(content))
    (content / "agenda" / ADDED).write_text(
        ADDED_FILE.replace("title:", "published: false\ntitle:"), encoding="utf-8"
    )
    assert app.test_client().get(f"/agenda/{ADDED_SLUG}/").status_code == 404
    staff = signed_in_client(app, "orga@numerique.gouv.fr", "organiser")
    assert_unavailable(staff.get(f"/agenda/{ADDED_SLUG}/"), details=True)


def test_the_page_comes_back_once_the_file_is_fixed(broken, content):
    client = broken.test_client()
    assert_unavailable(client.get(f"/agenda/{WITHOUT_QUESTIONS}/"))
    edit(content / "agenda" / EDITED, "event_start_date: le 20 septembre", GOOD_START)
    assert client.get(f"/agenda/{WITHOUT_QUESTIONS}/").status_code == 200
    assert "Rencontre des acheteurs" in text_of(client.get("/agenda/"))


def test_a_broken_config_key_keeps_its_default_and_the_site_serves(make_app, content):
    app = make_app(CONTENT_DIR=str(content))
    client = app.test_client()
    assert "– Communs</title>" in text_of(client.get(f"/agenda/{WITH_QUESTIONS}/"))
    edit(content / "_config.yml", "nom: Communs", "nom: [Communs]")
    response = client.get(f"/agenda/{WITH_QUESTIONS}/")
    assert response.status_code == 200
    assert "– Communs</title>" not in text_of(response)  # the bad key: its default, empty
    # The good keys still count: the organiser in the footer.
    assert "Inscriptions aux événements de la mission des communs numériques" in text_of(response)


# --- Staff ---------------------------------------------------------------------------------


@pytest.fixture
def organiser(broken):
    return signed_in_client(broken, "orga@numerique.gouv.fr", "organiser")


def test_the_back_office_and_the_exports_keep_working(organiser):
    index = organiser.get("/organisation/")
    assert index.status_code == 200
    assert "Atelier des communs numériques" in text_of(index)
    assert "Rencontre des acheteurs" not in text_of(index)
    base = f"/organisation/{WITH_QUESTIONS}"
    assert organiser.get(f"{base}/").status_code == 200
    assert organiser.get(f"{base}/inscrits").status_code == 200
    csv_export = organiser.get(f"{base}/export.csv")
    assert csv_export.status_code == 200
    assert "camille.durand@numerique.gouv.fr" in csv_export.get_data().decode("utf-8-sig")
    xlsx_export = organiser.get(f"{base}/export.xlsx")
    assert xlsx_export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_export.data)).active
    assert sheet is not None
    assert "camille.durand@numerique.gouv.fr" in [c.value for row in sheet.iter_rows() for c in row]


@pytest.mark.parametrize(
    "path",
    ["/", "/inscrits", "/export.csv", "/export.xlsx", "/emargement", "/demandes"],
)
def test_staff_pages_of_a_broken_event_say_so_with_its_problems(organiser, path):
    text = assert_unavailable(
        organiser.get(f"/organisation/{WITHOUT_QUESTIONS}{path}"), details=True
    )
    assert f"Le fichier de contenu agenda/{EDITED} est invalide" in text
    assert "clé « event_start_date » : date illisible : &#39;le 20 septembre&#39;" in text


def test_admin_pages_of_a_broken_event_say_so(broken):
    admin = signed_in_client(broken, "admin@numerique.gouv.fr", "admin")
    text = assert_unavailable(admin.get(f"/administration/{ADDED_SLUG}/"), details=True)
    assert f"agenda/{ADDED}" in text
    assert "clé « inscription.places » : nombre entier positif, pas 0" in text
    assert admin.get(f"/administration/{WITH_QUESTIONS}/").status_code == 200


def test_signed_in_staff_see_the_problems_on_the_public_url_too(organiser):
    text = assert_unavailable(organiser.get(f"/agenda/{ADDED_SLUG}/"), details=True)
    assert "clé « inscription.places »" in text


# --- The log -------------------------------------------------------------------------------


def test_each_broken_file_is_logged_once_not_on_every_request(broken, content_logs, content):
    client = broken.test_client()
    for _ in range(3):
        client.get(f"/agenda/{WITHOUT_QUESTIONS}/")
        client.get(f"/agenda/{ADDED_SLUG}/")
        client.get("/agenda/")
    logged = content_logs()
    assert [level for level, _ in logged] == [logging.ERROR, logging.ERROR]
    edited, added = (message for _, message in logged)
    assert f"/agenda/{WITHOUT_QUESTIONS}/ répond « momentanément indisponible »" in edited
    assert f"{content / 'agenda' / EDITED} : clé « event_start_date »" in edited
    assert f"/agenda/{ADDED_SLUG}/ répond" in added
    assert f"{content / 'agenda' / ADDED} : clé « inscription.places »" in added
