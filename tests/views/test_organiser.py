"""Organiser pages (registration.views.organiser): dashboard, attendee list and detail,
exports parsed back, sign-in sheet, failed e-mails."""

from __future__ import annotations

import csv
import html
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa

from registration import links, mail
from registration.db import transaction
from registration.extensions import db
from registration.models import AuditEntry, OutboxMessage, OutboxStatus, Registration, Status
from registration.registrations import api as registrations_api

from ..factories import (
    make_record,
    make_registration,
    make_user,
    outbox,
    registrations,
    set_now,
    sign_in,
)

SLUG = "atelier-des-communs"
BASE = f"/organisation/{SLUG}"
TITLE = "Atelier des communs numériques"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def registered(app, event):
    """Three agents: one confirmed, one pending, one with would-be formulas in every field."""
    make_registration(
        app,
        event,
        email="camille.durand@numerique.gouv.fr",
        answers={"atelier": "Logiciels libres", "sujets": ["Gouvernance"]},
    )
    make_registration(
        app,
        event,
        Status.PENDING,
        first_name="Zoé",
        last_name="Abadie",
        email="zoe@interieur.gouv.fr",
        employer="Intérieur",
        answers={"atelier": "Accessibilité"},
    )
    make_registration(
        app,
        event,
        Status.PENDING,
        first_name='=HYPERLINK("http://evil")',
        last_name="+33 malin",
        email="malin@numerique.gouv.fr",
        employer="@SUM(A1:A9)",
        job_title="-2+3",
        accessibility_needs="=cmd|' /C calc'!A0",
        answers={
            "atelier": "Données ouvertes",
            "sujets": ["Gouvernance", "Communauté"],
            "regime": "=1+1",
        },
    )
    return app


def table(text: str, table_id: str) -> dict[str, str]:
    """The two-column rows of the table with this id, unescaped."""
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', text, re.S)
    assert match, f"no table {table_id}"
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>", match[1])
    return {html.unescape(k): v for k, v in rows}


# --- Dashboard ------------------------------------------------------------------------------


def test_dashboard_counts_places_time_left_and_breakdowns(registered, organiser_client, event):
    make_record(registered, event, capacity=10)
    text = organiser_client.get(f"{BASE}/").get_data(as_text=True)
    assert table(text, "compteurs") == {
        "Confirmée": "1",
        "En attente de confirmation": "2",
        "Liste d’attente": "0",
        "Annulée": "0",
        "Expirée": "0",
        "À vérifier": "0",
        "Refusée": "0",
    }
    assert "9 places restantes sur 10" in text  # the pending addresses hold no seat
    assert "Temps restant avant la date limite : 23 jours et 8 heures" in text
    assert '<svg role="img"' in text and "2023-05-20 : 3" in text  # chart with its text
    assert table(text, "par-administration") == {"DINUM": "1", "Intérieur": "1", "@SUM(A1:A9)": "1"}


def test_dashboard_has_a_table_per_choice_question(registered, organiser_client):
    text = organiser_client.get(f"{BASE}/").get_data(as_text=True)
    assert table(text, "question-atelier") == {
        "Données ouvertes": "1",
        "Logiciels libres": "1",
        "Accessibilité": "1",
    }
    assert table(text, "question-sujets") == {
        "Gouvernance": "2",
        "Financement": "0",
        "Communauté": "1",
    }
    assert "<h2>Sujets qui vous intéressent</h2>" in text
    assert 'id="question-regime"' not in text  # short text: nothing to count


def test_dashboard_of_an_event_without_questions_nor_limit(app, organiser_client, plain_event):
    make_registration(app, plain_event)
    text = organiser_client.get(f"/organisation/{plain_event.slug}/").get_data(as_text=True)
    assert 'id="question-' not in text
    assert "Places illimitées (1 prises)." in text


def test_dashboard_of_an_event_without_registrations(organiser_client):
    text = organiser_client.get(f"{BASE}/").get_data(as_text=True)
    main = text[text.index('<main id="contenu"') : text.index("</main>")]  # no chart
    assert "Aucune inscription pour le moment." in main and "<svg" not in main
    assert "100 places restantes sur 100" in text


def test_unknown_event_is_not_found(organiser_client):
    assert organiser_client.get("/organisation/inconnu/").status_code == 404
    assert organiser_client.get("/organisation/inconnu/export.csv").status_code == 404


# --- Attendee list and detail ---------------------------------------------------------------


def test_attendee_list_searches_filters_and_links_to_history(registered, organiser_client):
    text = organiser_client.get(f"{BASE}/inscrits?q=abadie").get_data(as_text=True)
    assert "Abadie Zoé" in text and "Durand" not in text
    text = organiser_client.get(f"{BASE}/inscrits?q=intérieur").get_data(as_text=True)
    assert "1 inscription." in text
    text = organiser_client.get(f"{BASE}/inscrits?statut=confirmed").get_data(as_text=True)
    assert "Durand Camille" in text and "Abadie" not in text
    detail = re.search(r'href="(/organisation/[^"]+/inscrits/[0-9a-f]{32})">Durand', text)[1]
    page = organiser_client.get(detail).get_data(as_text=True)
    assert "créée par le test" in page  # the history, with its reasons


def test_attendee_list_keeps_the_filters_in_the_export_links(registered, organiser_client):
    text = organiser_client.get(f"{BASE}/inscrits?q=abadie&statut=pending").get_data(as_text=True)
    assert f'href="{BASE}/export.csv?q=abadie&amp;statut=pending"' in text
    assert f'href="{BASE}/export.xlsx?q=abadie&amp;statut=pending"' in text
    assert 'value="abadie"' in text and '<option value="pending" selected>' in text


def test_attendee_list_ignores_an_unknown_status(registered, organiser_client):
    text = organiser_client.get(f"{BASE}/inscrits?statut=nimporte").get_data(as_text=True)
    assert "3 inscriptions." in text


def test_attendee_list_is_paginated(app, organiser_client, event):
    for i in range(55):
        make_registration(app, event, email=f"a{i:02d}@numerique.gouv.fr")
    first = organiser_client.get(f"{BASE}/inscrits").get_data(as_text=True)
    assert "55 inscriptions." in first and first.count("<tr>") == 51  # header + 50 rows
    second = organiser_client.get(f"{BASE}/inscrits?page=2").get_data(as_text=True)
    assert second.count("<tr>") == 6
    assert organiser_client.get(f"{BASE}/inscrits?page=9").status_code == 200  # empty page


def test_attendee_detail_shows_each_answer_and_the_history(app, organiser_client, event):
    found = make_registration(
        app,
        event,
        answers={"atelier": "Logiciels libres", "sujets": ["Gouvernance", "Communauté"]},
        accessibility_needs="Boucle magnétique",
    )
    with app.test_request_context():
        registrations_api.cancel(event, links.manage_token(found))
    text = organiser_client.get(f"{BASE}/inscrits/{found.public_id}").get_data(as_text=True)
    answers = dict(re.findall(r'<dt class="fr-text--bold">([^<]+)</dt><dd[^>]*>([^<]*)</dd>', text))
    status = re.search(r'<dd id="statut"><p class="fr-badge fr-badge--sm">([^<]*)</p></dd>', text)
    assert answers["Atelier du matin"] == "Logiciels libres"
    assert answers["Sujets qui vous intéressent"] == "Gouvernance, Communauté"
    assert answers["Régime alimentaire"] == "Sans réponse"
    assert answers["Besoins d’accessibilité"] == "Boucle magnétique"
    assert status[1] == "Annulée"
    assert 'id="actions"' not in text  # nothing left to do on a cancelled registration
    history = re.search(r'<table id="historique"[^>]*>(.*?)</table>', text, re.S)[1]
    assert history.index("créée par le test") < history.index("annulée par l’agent")


def test_attendee_detail_of_an_event_without_questions(app, organiser_client, plain_event):
    found = make_registration(app, plain_event)
    url = f"/organisation/{plain_event.slug}/inscrits/{found.public_id}"
    text = organiser_client.get(url).get_data(as_text=True)
    assert "Atelier du matin" not in text and "Aucun" in text  # no accessibility need


def test_attendee_detail_is_found_only_under_its_own_event(
    app, organiser_client, event, plain_event
):
    other = make_registration(app, plain_event)
    assert organiser_client.get(f"{BASE}/inscrits/{other.public_id}").status_code == 404
    assert organiser_client.get(f"{BASE}/inscrits/{'0' * 32}").status_code == 404


# --- Actions on one registration -------------------------------------------------------------


def test_the_attendee_page_offers_what_each_status_allows(app, organiser_client, event):
    def actions(registration) -> list[str]:
        text = organiser_client.get(f"{BASE}/inscrits/{registration.public_id}")
        found = re.search(r'<ul[^>]*id="actions">(.*?)</ul>', text.get_data(as_text=True), re.S)
        return re.findall(r">([^<>]+)</(?:button|a)>", found[1]) if found else []

    cancel = "Annuler l’inscription"
    assert actions(make_registration(app, event, Status.PENDING)) == [
        "Renvoyer le lien de confirmation",
        cancel,
    ]
    assert actions(make_registration(app, event, Status.CONFIRMED)) == [cancel]
    assert actions(make_registration(app, event, Status.WAITLISTED)) == [
        "Sortir de la liste d’attente",
        cancel,
    ]
    assert actions(make_registration(app, event, Status.EXPIRED)) == []


def test_cancelling_asks_first_then_cancels_with_a_message(app, organiser_client, event):
    seated = make_registration(app, event, email="a@numerique.gouv.fr")
    step = organiser_client.get(f"{BASE}/inscrits/{seated.public_id}/annuler")
    assert "Confirmer : annuler l’inscription" in step.get_data(as_text=True)
    assert [r.status for r in registrations(app)] == [Status.CONFIRMED]  # nothing on GET
    response = organiser_client.post(f"{BASE}/inscrits/{seated.public_id}/annuler")
    assert response.headers["Location"] == f"{BASE}/inscrits/{seated.public_id}"
    page = organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "L’inscription de Camille Durand est annulée ; un e-mail le lui annonce." in page
    assert [r.status for r in registrations(app)] == [Status.CANCELLED]
    assert len(outbox(app, "cancelled_by_organiser")) == 1 and outbox(app, "cancelled") == []
    again = organiser_client.post(
        f"{BASE}/inscrits/{seated.public_id}/annuler", follow_redirects=True
    )
    assert "Cette inscription est déjà annulée : il n’y a rien à annuler." in again.get_data(
        as_text=True
    )
    step = organiser_client.get(f"{BASE}/inscrits/{seated.public_id}/annuler")
    assert step.headers["Location"] == f"{BASE}/inscrits/{seated.public_id}"


def test_moving_up_on_a_full_event_says_so_in_french(app, organiser_client, event):
    make_record(app, event, capacity=1)
    make_registration(app, event)
    waiting = make_registration(app, event, Status.WAITLISTED)
    response = organiser_client.post(
        f"{BASE}/inscrits/{waiting.public_id}/confirmer-place", follow_redirects=True
    )
    assert "Aucune place libre : toutes les places sont prises." in response.get_data(as_text=True)


def test_moving_up_when_a_seat_is_free_announces_it_and_emails_the_agent(
    app, organiser_client, event
):
    make_record(app, event, capacity=1)
    make_registration(app, event, email="assis@numerique.gouv.fr")
    waiting = make_registration(
        app, event, Status.WAITLISTED, email="second@numerique.gouv.fr", last_name="Second"
    )
    make_record(app, event, capacity=2)  # the file's places raised: nobody moved up yet
    response = organiser_client.post(f"{BASE}/inscrits/{waiting.public_id}/confirmer-place")
    assert response.headers["Location"] == f"{BASE}/inscrits/{waiting.public_id}"
    text = organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    assert (
        "Camille Second sort de la liste d’attente et obtient une place ; "
        "un e-mail le lui annonce." in text
    )
    assert [r.status for r in registrations(app)] == [Status.CONFIRMED, Status.CONFIRMED]
    assert [m.recipient for m in outbox(app, "promoted")] == ["second@numerique.gouv.fr"]
    with app.app_context():
        audited = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert audited.count("promote-registration") == 1


def test_a_fresh_link_is_announced(app, organiser_client, event):
    pending = make_registration(app, event, Status.PENDING, email="p@numerique.gouv.fr")
    response = organiser_client.post(
        f"{BASE}/inscrits/{pending.public_id}/renvoyer-lien", follow_redirects=True
    )
    text = response.get_data(as_text=True)
    assert "Un nouveau lien de confirmation est envoyé à p@numerique.gouv.fr." in text
    assert [m.recipient for m in outbox(app, "confirm_address")] == ["p@numerique.gouv.fr"]


def test_actions_on_an_unknown_registration_are_not_found(organiser_client):
    for action in ("annuler", "renvoyer-lien", "confirmer-place"):
        assert organiser_client.post(f"{BASE}/inscrits/{'0' * 32}/{action}").status_code == 404
    assert organiser_client.get(f"{BASE}/inscrits/{'0' * 32}/annuler").status_code == 404


# --- Exports --------------------------------------------------------------------------------


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
    assert "Sujets : Gouvernance" in header and len(header) == 11 + 5
    by_email = {row[2]: dict(zip(header, row, strict=True)) for row in data}
    camille = by_email["camille.durand@numerique.gouv.fr"]
    assert camille["Statut"] == "Confirmée"
    assert camille["Inscription le"] == "20/05/2023 10:00"  # Paris time, not UTC
    assert camille["Arrivée"] == ""  # not arrived at the door (yet)
    assert camille["Atelier du matin"] == "Logiciels libres"
    assert camille["Sujets : Gouvernance"] == "oui" and camille["Sujets : Financement"] == ""
    malin = by_email["malin@numerique.gouv.fr"]
    assert malin["Prénom"] == '\'=HYPERLINK("http://evil")'
    assert malin["Nom"] == "'+33 malin"
    assert malin["Administration"] == "'@SUM(A1:A9)"
    assert malin["Fonction"] == "'-2+3"
    assert malin["Besoins d’accessibilité"] == "'=cmd|' /C calc'!A0"
    assert malin["Régime alimentaire"] == "'=1+1"
    for row in data:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell


def test_csv_export_is_streamed(registered, organiser_client):
    response = organiser_client.get(f"{BASE}/export.csv", buffered=False)
    try:
        assert response.is_streamed
        chunks = list(response.response)
    finally:
        response.close()
    assert b"".join(chunks).count(b"\r\n") == 4


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
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f"filename=inscrits-{SLUG}-20230520-1000.xlsx" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    _, csv_rows = read_csv(organiser_client.get(f"{BASE}/export.csv"))
    assert rows == csv_rows
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_xlsx_export_is_streamed(registered, organiser_client):
    response = organiser_client.get(f"{BASE}/export.xlsx", buffered=False)
    try:
        assert response.is_streamed
        assert response.headers["Content-Disposition"] == (
            f"attachment; filename=inscrits-{SLUG}-20230520-1000.xlsx"
        )
        chunks = list(response.response)
    finally:
        response.close()
    assert len(chunks) > 1 and chunks[0].startswith(b"PK\x03\x04")
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(chunks))).active
    assert sheet.max_row == 4


def test_xlsx_export_follows_the_filter(registered, organiser_client):
    response = organiser_client.get(f"{BASE}/export.xlsx?q=abadie")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["Nom", "Abadie"]


def test_exports_are_audited(registered, admin_client, organiser_client):
    admin_client.get(f"{BASE}/export.csv?statut=confirmed")
    admin_client.get(f"{BASE}/export.xlsx")
    organiser_client.get(f"{BASE}/export.csv?dialect=rfc4180&q=abadie")
    text = admin_client.get("/administration/journal").get_data(as_text=True)
    journal = re.findall(
        r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", text
    )
    # Latest first; the filters in words, nothing when there were none.
    assert journal == [
        ("orga@numerique.gouv.fr", "Export CSV (tableur, RFC 4180)", TITLE, "recherche : abadie"),
        ("admin@numerique.gouv.fr", "Export XLSX", TITLE, ""),
        ("admin@numerique.gouv.fr", "Export CSV (Excel)", TITLE, "statut : confirmée"),
    ]
    with registered.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.actor, e.action, e.event_slug, e.details) for e in entries] == [
            ("admin@numerique.gouv.fr", "export-csv", SLUG, "q='' statut='confirmed'"),
            ("admin@numerique.gouv.fr", "export-xlsx", SLUG, "q='' statut=''"),
            ("orga@numerique.gouv.fr", "export-csv-rfc4180", SLUG, "q='abadie' statut=''"),
        ]


# --- Sign-in sheet --------------------------------------------------------------------------


def test_sign_in_sheet_lists_confirmed_attendees_alphabetically(app, organiser_client, event):
    for first, last, status in (
        ("Bea", "Zola", Status.CONFIRMED),
        ("Ali", "martin", Status.CONFIRMED),
        ("Chloé", "Bernard", Status.CONFIRMED),
        ("Dan", "Pending", Status.PENDING),
        # Accents and case aside: « Élise » comes before « Emma », « écrin » before « Ecu ».
        ("Emma", "Durand", Status.CONFIRMED),
        ("Élise", "Durand", Status.CONFIRMED),
        ("Zoé", "écrin", Status.CONFIRMED),
        ("Anne", "Ecu", Status.CONFIRMED),
    ):
        make_registration(app, event, status, first_name=first, last_name=last)
    text = organiser_client.get(f"{BASE}/emargement").get_data(as_text=True)
    names = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", text)
    assert names == [
        ("Bernard", "Chloé"),
        ("Durand", "Élise"),
        ("Durand", "Emma"),
        ("écrin", "Zoé"),
        ("Ecu", "Anne"),
        ("martin", "Ali"),
        ("Zola", "Bea"),
    ]
    assert "Signature" in text and "/static/sign_in_sheet.css" in text
    assert "7 inscriptions confirmées, par ordre alphabétique des noms." in text
    with app.app_context():  # a read, as the attendee list: nothing in the audit log
        assert db.session.scalars(sa.select(AuditEntry)).all() == []


# --- Failed e-mails -------------------------------------------------------------------------


def failed_message(app, event) -> OutboxMessage:
    """A confirmation e-mail rendered by the real outbox, then failed for good."""
    registration = make_registration(app, event, email="camille.durand@numerique.gouv.fr")
    with app.test_request_context(), transaction() as session:
        message = mail.queue(
            session, "confirmed", event, session.get(Registration, registration.id)
        )
        message.status = OutboxStatus.FAILED
        message.attempts = 5
        message.last_error = "ConnectionRefusedError: [Errno 111] Connection refused"
        session.flush()
        session.expunge(message)
        return message


def test_failed_messages_show_with_their_error_and_can_be_retried(
    make_app, smtp, smtp_config, event
):
    app = make_app(**smtp_config)
    message = failed_message(app, event)
    make_user(app, "orga@numerique.gouv.fr")
    client = app.test_client()
    sign_in(client, "orga@numerique.gouv.fr")
    text = client.get("/organisation/courriels").get_data(as_text=True)
    assert "camille.durand@numerique.gouv.fr" in text and "Connection refused" in text
    set_now(app, "2023-05-20T10:01:00+02:00")
    response = client.post(f"/organisation/courriels/{message.id}/renvoyer")
    assert response.status_code == 302
    assert response.headers["Location"] == "/organisation/courriels"
    assert smtp.messages == []  # the request only puts it back in line
    with app.app_context():
        assert mail.deliver().sent == 1  # what the outbox worker does next
    [sent] = outbox(app)
    assert sent.status == OutboxStatus.SENT and sent.attempts == 1
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["To"] == "camille.durand@numerique.gouv.fr"
    text = client.get("/organisation/courriels").get_data(as_text=True)
    assert "Le message est remis dans la file d’envoi." in text
    assert "Aucun message en échec." in text


def test_retrying_a_message_that_did_not_fail_changes_nothing(app, organiser_client, event):
    message = failed_message(app, event)
    with app.app_context(), transaction() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(status=OutboxStatus.SENT)
        )
    response = organiser_client.post(f"/organisation/courriels/{message.id}/renvoyer")
    assert response.status_code == 302
    page = organiser_client.get("/organisation/courriels").get_data(as_text=True)
    assert "remis dans la file" not in page
    assert outbox(app)[0].status == OutboxStatus.SENT
