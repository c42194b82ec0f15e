"""The layout's fixed parts (registration/views/layout.py): rendered once per version of what
they show, and never shown for another."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask, template_rendered

from ..conftest import CONTENT, WITH_QUESTIONS
from .test_content_errors import edit

PAGE = f"/agenda/{WITH_QUESTIONS}/inscription/envoyee"  # rendered in full on every visit
FOOTER = "layout/footer.html"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    return folder


@contextmanager
def rendered(app: Flask) -> Iterator[list[str]]:
    """The names of the templates rendered meanwhile."""
    names: list[str] = []

    def record(sender: Flask, template, context) -> None:  # type: ignore[no-untyped-def]
        names.append(template.name)

    template_rendered.connect(record, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(record, app)


def test_the_footer_is_rendered_once_then_given_as_it_is(make_app):
    app = make_app()
    client = app.test_client()
    with rendered(app) as names:
        first = client.get(PAGE).get_data(as_text=True)
        second = client.get("/accessibilite").get_data(as_text=True)
    assert names.count(FOOTER) == 1 and names.count("layout/head.html") == 1
    assert "public/registered.html" in names and "public/legal/accessibilite.html" in names
    for page in (first, second):
        assert 'id="pied-de-page"' in page and 'id="fr-theme-modal"' in page
        assert '<link rel="stylesheet" href="/static/dsfr/dsfr.min.css">' in page


def test_where_templates_are_read_again_each_page_renders_it(make_app):
    app = make_app(TEMPLATES_AUTO_RELOAD=True)  # development
    client = app.test_client()
    with rendered(app) as names:
        client.get(PAGE)
        client.get(PAGE)
    assert names.count(FOOTER) == 2


def test_the_footer_follows_the_sites_settings(make_app, content):
    app = make_app(CONTENT_DIR=str(content))
    client = app.test_client()
    assert "de la mission des communs numériques (Communs)" in client.get(PAGE).get_data(
        as_text=True
    )
    edit(content / "_config.yml", "organisateur: la mission", "organisateur: la direction")
    page = client.get(PAGE).get_data(as_text=True)
    assert "de la direction des communs numériques (Communs)" in page
    assert "la mission des communs" not in page


def test_each_script_root_gets_its_own_links(make_app):
    client = make_app().test_client()
    mounted = client.get(PAGE, environ_overrides={"SCRIPT_NAME": "/inscriptions"})
    assert 'href="/inscriptions/static/dsfr/dsfr.min.css"' in mounted.get_data(as_text=True)
    assert 'href="/inscriptions/accessibilite"' in mounted.get_data(as_text=True)
    page = client.get(PAGE).get_data(as_text=True)
    assert 'href="/static/dsfr/dsfr.min.css"' in page and "/inscriptions/" not in page
