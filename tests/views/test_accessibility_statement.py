"""The accessibility statement (/accessibilite) follows the RGAA model."""

from __future__ import annotations

import re
from html import unescape


def headings(html: str, level: int) -> list[str]:
    return [
        unescape(re.sub(r"<[^>]+>", "", h)).strip()
        for h in re.findall(rf"<h{level}[^>]*>(.*?)</h{level}>", html, re.S)
    ]


def test_the_statement_has_the_sections_of_the_rgaa_model(client):
    response = client.get("/accessibilite")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    html = html[html.index('<main id="contenu"') : html.index("</main>")]  # not the footer's
    assert headings(html, 1) == ["Déclaration d’accessibilité"]
    assert headings(html, 2) == [
        "État de conformité",
        "Contenus non accessibles",
        "Établissement de cette déclaration d’accessibilité",
        "Retour d’information et contact",
        "Voies de recours",
    ]
    assert headings(html, 3) == [
        "Non-conformités",
        "Dérogations pour charge disproportionnée",
        "Contenus non soumis à l’obligation d’accessibilité",
        "Technologies utilisées pour la réalisation du service",
        "Environnement de test",
        "Outils pour évaluer l’accessibilité",
        "Pages du site ayant fait l’objet de la vérification de conformité",
    ]


def test_the_statement_says_non_conforme_and_why(client):
    text = unescape(client.get("/accessibilite").get_data(as_text=True))
    assert "<strong>non conforme</strong>" in text
    assert "aucun audit de conformité n’a encore été réalisé" in text
    assert "article 47 de la loi n° 2005-102 du 11 février 2005" in text
    assert "établie le 1<sup>er</sup> décembre 2026" in text
    assert "Chromium" in text and "axe-core" in text
    assert "Aucune technologie d’assistance" in text  # none used yet: it says so
    # The site's contact, from the content's _config.yml.
    assert 'href="mailto:contact@example.gouv.fr"' in text


def test_the_remedies_give_the_four_ways_to_reach_the_defenseur_des_droits(client):
    text = unescape(client.get("/accessibilite").get_data(as_text=True))
    assert 'href="https://formulaire.defenseurdesdroits.fr/"' in text
    assert "le délégué du Défenseur des droits dans votre région" in text
    assert 'href="tel:+33969390000">09 69 39 00 00</a>' in text
    assert "Défenseur des droits<br>Libre réponse 71120<br>75342 Paris CEDEX 07" in text


def test_the_footer_links_to_it_with_the_conformity_status(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/accessibilite">Accessibilité : non conforme</a>' in html
