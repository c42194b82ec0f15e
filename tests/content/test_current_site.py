"""current_site: the content parsed once per change of a file, kept in memory for the page
views and on disk for the next process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registration import content
from registration.content import current_site


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def event_text(title: str, start: str = "2024-03-01") -> str:
    return f"---\ntitle: {title}\nevent_start_date: {start}\npublished: true\n---\nBonjour\n"


def touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    write(folder / "_config.yml", "nom: DINUM\n")
    write(folder / "agenda" / "2024-03-01-essai.md", event_text("Essai"))
    write(folder / "pages" / "a.md", "---\ntitle: A\n---\nTexte\n")
    return folder


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files parsed from now on (the in-memory caches emptied, as in a new process)."""
    from registration.content import parse

    content._loaded.clear()
    content._parse.cache_clear()
    seen: list[str] = []
    original = parse.read
    monkeypatch.setattr(parse, "read", lambda path: seen.append(path.name) or original(path))
    return seen


def test_the_same_site_while_nothing_changes(site_dir, parses):
    first = current_site(site_dir)
    assert current_site(site_dir) is first
    assert current_site(str(site_dir)).event("essai") == first.event("essai")
    assert sorted(parses) == ["2024-03-01-essai.md", "a.md", "a.md"]  # a page: 2 passes


def test_an_edit_in_place_is_seen(site_dir, parses):
    path = site_dir / "agenda" / "2024-03-01-essai.md"
    assert current_site(site_dir).event("essai").title == "Essai"  # type: ignore[union-attr]
    path.write_text(event_text("Modifié"), encoding="utf-8")
    touch_later(path)
    assert current_site(site_dir).event("essai").title == "Modifié"  # type: ignore[union-attr]


def test_a_new_and_a_removed_file_are_seen(site_dir, parses):
    assert [e.slug for e in current_site(site_dir).events] == ["essai"]
    write(site_dir / "agenda" / "2024-04-01-autre.md", event_text("Autre", "2024-04-01"))
    assert [e.slug for e in current_site(site_dir).events] == ["essai", "autre"]
    (site_dir / "agenda" / "2024-03-01-essai.md").unlink()
    assert [e.slug for e in current_site(site_dir).events] == ["autre"]


def test_a_new_config_file_is_seen(tmp_path, parses):
    folder = tmp_path / "content"
    write(folder / "agenda" / "2024-03-01-essai.md", event_text("Essai"))
    assert current_site(folder).config.name == ""
    write(folder / "_config.yml", "nom: DINUM\n")
    assert current_site(folder).config.name == "DINUM"


def test_a_new_process_reads_the_parsed_site_back(site_dir, tmp_path, parses):
    cache = tmp_path / "instance"
    first = current_site(site_dir, cache_dir=cache)
    assert (cache / content.CACHE_FILE).is_file() and parses
    parses.clear()
    content._loaded.clear()  # a new process
    again = current_site(site_dir, cache_dir=cache)
    assert parses == []
    assert again == first and again is not first


def test_a_file_changed_between_two_processes_is_parsed_again(site_dir, tmp_path, parses):
    cache = tmp_path / "instance"
    current_site(site_dir, cache_dir=cache)
    content._loaded.clear()
    path = site_dir / "agenda" / "2024-03-01-essai.md"
    path.write_text(event_text("Modifié"), encoding="utf-8")
    touch_later(path)
    assert current_site(site_dir, cache_dir=cache).event("essai").title == "Modifié"  # type: ignore[union-attr]
    content._loaded.clear()
    parses.clear()
    assert current_site(site_dir, cache_dir=cache).event("essai").title == "Modifié"  # type: ignore[union-attr]
    assert parses == []  # the new version was kept


def test_another_folder_is_never_served_from_the_cache(site_dir, tmp_path, parses):
    cache = tmp_path / "instance"
    current_site(site_dir, cache_dir=cache)
    other = tmp_path / "autre"
    write(other / "agenda" / "2024-05-01-ailleurs.md", event_text("Ailleurs", "2024-05-01"))
    assert [e.slug for e in current_site(other, cache_dir=cache).events] == ["ailleurs"]


def test_a_damaged_cache_file_is_ignored_and_replaced(site_dir, tmp_path, parses):
    cache = tmp_path / "instance"
    cache.mkdir()
    (cache / content.CACHE_FILE).write_bytes(b"not a pickle")
    assert current_site(site_dir, cache_dir=cache).event("essai") is not None
    content._loaded.clear()
    parses.clear()
    assert current_site(site_dir, cache_dir=cache).event("essai") is not None
    assert parses == []


def test_an_unwritable_cache_folder_only_costs_a_parse(site_dir, tmp_path, parses, caplog):
    blocker = tmp_path / "fichier"
    blocker.write_text("x")
    assert current_site(site_dir, cache_dir=blocker / "instance").event("essai") is not None
    assert "Contenu analysé non gardé" in caplog.text


def test_a_broken_file_read_back_is_still_logged_once(site_dir, tmp_path, parses, caplog):
    write(site_dir / "agenda" / "2024-02-01-casse.md", "---\ntitle: Cassé\n---\n")
    cache = tmp_path / "instance"
    assert current_site(site_dir, cache_dir=cache).broken
    content._loaded.clear()
    content._logged.clear()  # a new process has logged nothing yet
    caplog.clear()
    parses.clear()
    assert current_site(site_dir, cache_dir=cache).broken
    assert parses == []  # parsed by the first process only
    assert "2024-02-01-casse.md" in caplog.text


def test_start_up_keeps_the_parsed_content_in_the_instance_folder(make_app):
    app = make_app()
    assert (Path(app.instance_path) / content.CACHE_FILE).is_file()
