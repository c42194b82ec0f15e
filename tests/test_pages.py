"""The public pages as the test client sees them."""

from __future__ import annotations

import pytest

from .conftest import SLUG, set_now


def test_home_redirects_to_the_event(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/agenda/{SLUG}/")


def test_event_page_shows_front_matter_and_open_registration(client):
    text = client.get(f"/agenda/{SLUG}/").get_data(as_text=True)
    assert "<title>La Dinum en action : lancement de la feuille de route – Inscriptions" in text
    assert "jeudi 1er juin 2023 à 14h00" in text
    assert "Cité Internationale Universitaire de Paris" in text and "17 Bd Jourdan" in text
    for label in ("Comment y aller ?", "Modalités", "Inscription"):
        assert f'<dt class="fr-text--bold">{label}</dt>' in text
    assert "RER B, RER C, M4, T3a, Bus21" in text
    assert "Évènement" in text
    assert "Inscriptions ouvertes jusqu’au vendredi 26 mai 2023 à 18h00" in text
    assert "Réservé aux agents publics" in text
    assert "lien à ajouter" not in text
    assert "La DINUM a lancé sa feuille de route" in text


def test_event_page_says_closed_after_the_deadline(app, client):
    set_now(app, "2023-05-26T18:00:00+02:00")
    text = client.get(f"/agenda/{SLUG}/").get_data(as_text=True)
    assert "Inscriptions closes" in text
    assert "Les inscriptions sont closes depuis le vendredi 26 mai 2023 à 18h00" in text
    assert "Inscriptions ouvertes" not in text


def test_dinum_page_is_served_at_its_permalink(client):
    response = client.get("/dinum/")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "<title>La DINUM – Inscriptions" in text
    assert "myFunction" not in text and "onclick" not in text


@pytest.mark.parametrize(
    "path", ["/accessibilite", "/mentions-legales", "/donnees-personnelles", "/gestion-des-cookies"]
)
def test_footer_pages_exist_and_are_linked(client, path):
    assert client.get(path).status_code == 200
    assert f'href="{path}"' in client.get(f"/agenda/{SLUG}/").get_data(as_text=True)


def test_personal_data_page_states_controller_purpose_retention_rights(client):
    text = client.get("/donnees-personnelles").get_data(as_text=True)
    for words in ("Responsable du traitement", "Finalité", "90 jours", "Vos droits"):
        assert words in text


def test_base_template_has_dsfr_landmarks(client):
    text = client.get(f"/agenda/{SLUG}/").get_data(as_text=True)
    assert '<html lang="fr"' in text
    assert '<p class="fr-logo">République<br>Française</p>' in text
    assert "fr-skiplinks" in text and 'href="#contenu"' in text
    assert "/static/dsfr/dsfr.min.css" in text


def test_unknown_page_is_a_french_404(client):
    response = client.get("/nulle-part/")
    assert response.status_code == 404
    assert "Page non trouvée" in response.get_data(as_text=True)


def test_dsfr_assets_are_served(client):
    response = client.get("/static/dsfr/dsfr.min.css")
    assert response.status_code == 200
    response.close()


def test_a_page_view_reads_the_event_row_once_without_locking_it(app, client):
    from sqlalchemy import event as sa_event

    from registration.extensions import db

    client.get(f"/agenda/{SLUG}/")  # the first view creates the event's row
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(f"/agenda/{SLUG}/").status_code == 200
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert not any("FOR UPDATE" in s for s in statements)
    assert sum(s.lstrip().startswith("SELECT events.") for s in statements) == 1, statements
