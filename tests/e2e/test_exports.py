"""An organiser downloads the streamed exports in chromium, filtered as the list is."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from registration.models import Status

from ..conftest import WITH_QUESTIONS
from ..factories import make_registration, make_user
from .helpers import sign_in_as

pytestmark = pytest.mark.e2e


def test_organiser_downloads_the_filtered_xlsx_and_csv(live_server, page, tmp_path, event):
    make_user(live_server.app, "orga@numerique.gouv.fr", "organiser")
    make_registration(
        live_server.app,
        event,
        email="camille.durand@numerique.gouv.fr",
        answers={"atelier": "Logiciels libres", "sujets": ["Gouvernance", "Communauté"]},
    )
    make_registration(
        live_server.app,
        event,
        Status.PENDING,
        email="zoe@interieur.gouv.fr",
        first_name="=Zoé",
        last_name="Abadie; née Martin",
        accessibility_needs="ligne 1\nligne 2",
    )
    sign_in_as(page, live_server.url, WITH_QUESTIONS, "orga@numerique.gouv.fr", tmp_path)
    page.goto(f"{live_server.url}/organisation/{WITH_QUESTIONS}/inscrits")
    page.get_by_label("Statut").select_option("pending")
    page.get_by_role("button", name="Filtrer").click()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter en XLSX").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"inscrits-{WITH_QUESTIONS}-")
    assert download.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Nom", "Prénom") and len(rows) == 2
    assert rows[1][:2] == ("Abadie; née Martin", "'=Zoé")
    assert rows[1][10] == "ligne 1\nligne 2"

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV avec virgules").click()
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        [str(c) if c is not None else "" for c in row] for row in rows
    ]
