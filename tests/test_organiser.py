"""Organisers: dashboard, attendee list, exports parsed back, sign-in sheet, failed e-mails."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from registration.models import OutboxStatus

from .conftest import SLUG, form_data, link_from, outbox, register_url, set_capacity, set_now

BASE = f"/organisation/{SLUG}"


@pytest.fixture
def registered(app):
    """Three agents: one confirmed, one pending, one with would-be formulas in every field."""
    public = app.test_client()
    public.post(register_url(), data=form_data(departments=["Etalab"]))
    public.post(
        register_url(),
        data=form_data(
            first_name="Zoé",
            last_name="Abadie",
            email="zoe@interieur.gouv.fr",
            employer="Intérieur",
        ),
    )
    public.post(
        register_url(),
        data=form_data(
            first_name='=HYPERLINK("http://evil")',
            last_name="+33 malin",
            email="malin@numerique.gouv.fr",
            employer="@SUM(A1:A9)",
            job_title="-2+3",
            accessibility_needs="=cmd|' /C calc'!A0",
            departments=["Etalab", "RH de la filière numérique de l’État"],
        ),
    )
    [first] = [m for m in outbox(app, "confirm_address") if m.recipient.startswith("camille")]
    public.post(link_from(first, "/confirmer/"))
    return app


def test_dashboard_counts_places_time_left_and_breakdowns(registered, organiser_client):
    set_capacity(registered, 10)
    text = organiser_client.get(f"{BASE}/").get_data(as_text=True)
    counts = dict(re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>", text))
    assert counts["Confirmée"] == "1" and counts["En attente de confirmation"] == "2"
    assert (
        counts["Liste d’attente"] == "0" and counts["Annulée"] == "0" and counts["Expirée"] == "0"
    )
    assert "7 places restantes sur 10" in text
    assert "Temps restant avant la date limite : 6 jours et 8 heures" in text
    assert '<svg role="img"' in text and "2023-05-20 : 3" in text  # chart with its text
    assert counts["Etalab"] == "2" and counts["Intérieur"] == "1"


def test_attendee_list_searches_filters_and_links_to_history(registered, organiser_client):
    text = organiser_client.get(f"{BASE}/inscrits?q=abadie").get_data(as_text=True)
    assert "Abadie Zoé" in text and "Durand" not in text
    text = organiser_client.get(f"{BASE}/inscrits?q=intérieur").get_data(as_text=True)
    assert "1 inscription." in text
    text = organiser_client.get(f"{BASE}/inscrits?statut=confirmed").get_data(as_text=True)
    assert "Durand Camille" in text and "Abadie" not in text
    detail = re.search(r'href="(/organisation/[^"]+/inscrits/[0-9a-f]{32})">Durand', text)[1]
    page = organiser_client.get(detail).get_data(as_text=True)
    assert "inscription reçue" in page and "adresse confirmée" in page


def test_attendee_list_is_paginated(app, organiser_client):
    client = app.test_client()
    for i in range(55):
        client.post(register_url(), data=form_data(email=f"a{i:02d}@numerique.gouv.fr"))
    first = organiser_client.get(f"{BASE}/inscrits").get_data(as_text=True)
    assert "55 inscriptions." in first and first.count("<tr>") == 51  # header + 50 rows
    second = organiser_client.get(f"{BASE}/inscrits?page=2").get_data(as_text=True)
    assert second.count("<tr>") == 6


def read_csv(response, delimiter=";"):
    body = response.get_data()
    return body, list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))


def test_csv_export_opens_in_french_excel(registered, organiser_client):
    response = organiser_client.get(f"{BASE}/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="inscrits-{SLUG}-20230520-1000\.csv"', disposition)
    body, rows = read_csv(response)
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    header, *data = rows
    assert header[:6] == ["Nom", "Prénom", "Adresse e-mail", "Administration", "Fonction", "Statut"]
    assert "Forum : Etalab" in header and len(header) == 9 + 6
    by_email = {row[2]: dict(zip(header, row, strict=True)) for row in data}
    camille = by_email["camille.durand@numerique.gouv.fr"]
    assert camille["Statut"] == "Confirmée"
    assert camille["Inscription le"] == "20/05/2023 10:00"  # Paris time, not UTC
    assert (
        camille["Forum : Etalab"] == "oui"
        and camille["Forum : Incubateur de services numériques"] == ""
    )
    malin = by_email["malin@numerique.gouv.fr"]
    assert malin["Prénom"] == '\'=HYPERLINK("http://evil")'
    assert malin["Nom"] == "'+33 malin"
    assert malin["Administration"] == "'@SUM(A1:A9)"
    assert malin["Fonction"] == "'-2+3"
    assert malin["Besoins d’accessibilité"] == "'=cmd|' /C calc'!A0"
    for row in data:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_csv_export_follows_the_filter_and_has_an_rfc4180_variant(registered, organiser_client):
    _, rows = read_csv(organiser_client.get(f"{BASE}/export.csv?statut=confirmed"))
    assert [r[2] for r in rows[1:]] == ["camille.durand@numerique.gouv.fr"]
    response = organiser_client.get(f"{BASE}/export.csv?dialect=rfc4180&q=abadie")
    body, rows = read_csv(response, delimiter=",")
    assert not body.startswith(b"\xef\xbb\xbf")
    assert rows[0][0] == "Nom" and [r[0] for r in rows[1:]] == ["Abadie"]


def test_xlsx_export_has_the_same_columns_and_protections(registered, organiser_client):
    response = organiser_client.get(f"{BASE}/export.xlsx")
    assert response.status_code == 200
    assert f"inscrits-{SLUG}-" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    _, csv_rows = read_csv(organiser_client.get(f"{BASE}/export.csv"))
    assert rows == csv_rows
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_exports_are_audited(registered, admin_client):
    admin_client.get(f"{BASE}/export.csv?statut=confirmed")
    admin_client.get(f"{BASE}/export.xlsx")
    text = admin_client.get("/administration/journal").get_data(as_text=True)
    assert "export-csv" in text and "export-xlsx" in text and "admin@numerique.gouv.fr" in text


def test_sign_in_sheet_lists_confirmed_attendees_alphabetically(app, organiser_client):
    client = app.test_client()
    for first, last in (
        ("Bea", "Zola"),
        ("Ali", "martin"),
        ("Chloé", "Bernard"),
        ("Dan", "Pending"),
    ):
        client.post(
            register_url(),
            data=form_data(
                first_name=first, last_name=last, email=f"{first.lower()}@numerique.gouv.fr"
            ),
        )
    for message in outbox(app, "confirm_address"):
        if not message.recipient.startswith("dan"):
            client.post(link_from(message, "/confirmer/"))
    text = organiser_client.get(f"{BASE}/emargement").get_data(as_text=True)
    names = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", text)
    assert names == [("Bernard", "Chloé"), ("martin", "Ali"), ("Zola", "Bea")]
    assert "Signature" in text and "size: A4" in text


def test_failed_messages_show_with_their_error_and_can_be_retried(make_app, smtp, smtp_config):
    app = make_app(**smtp_config, OUTBOX_MAX_ATTEMPTS=1)
    smtp.stop()
    app.test_client().post(register_url(), data=form_data())
    [message] = outbox(app)
    assert message.status == OutboxStatus.FAILED
    from .conftest import make_user, sign_in

    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    sign_in(client, "orga@numerique.gouv.fr")
    text = client.get("/organisation/courriels").get_data(as_text=True)
    assert "camille.durand@numerique.gouv.fr" in text and "Connection refused" in text
    smtp.start()
    set_now(app, "2023-05-20T10:01:00+02:00")
    response = client.post(f"/organisation/courriels/{message.id}/renvoyer")
    assert response.status_code == 302
    assert outbox(app)[0].status == OutboxStatus.SENT
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Durand", "Durand"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_follows_owasp(value, safe):
    from registration.exports import neutralise

    assert neutralise(value) == safe
