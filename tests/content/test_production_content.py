"""The production content in content/: the only test file that reads it.

The event file is the seed from numerique.gouv.fr plus the keys this service reads; the
/dinum/ page is the site's page as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registration.content import Event, Page, QuestionKind, SiteConfig, load_site
from registration.dates import PARIS

ROOT = Path(__file__).resolve().parent.parent.parent
CONTENT = ROOT / "content"
SLUG = "la-dinum-en-action"
EVENT_FILE = CONTENT / "agenda" / "2023-06-01-la-dinum-en-action.md"
PAGE_FILE = CONTENT / "pages" / "dinum.md"
SEEDS = ROOT.parent / "shared" / "seeds"
EVENT_SEED = SEEDS / "000_3d3d16fa57607eea.txt"
PAGE_SEED = SEEDS / "003_53cbfb284b1d2b82.txt"
FORUM = (
    "Appui, conseil et expertise",
    "Incubateur de services numériques",
    "Etalab",
    "Infrastructures et services opérés",
    "Opérateur de produits interministériels",
    "RH de la filière numérique de l’État",
)


@pytest.fixture(scope="module")
def dinum_event() -> Event:
    event = load_site(CONTENT).event(SLUG)
    assert event is not None
    return event


@pytest.fixture(scope="module")
def dinum_page() -> Page:
    page = load_site(CONTENT).page("/dinum/")
    assert page is not None
    return page


def test_the_production_site_has_one_event_and_one_page():
    site = load_site(CONTENT)
    assert [e.slug for e in site.events] == [SLUG]
    assert [p.url for p in site.pages] == ["/dinum/"]
    assert site.broken == ()  # as `flask content check` would say


def test_the_site_config_points_at_numerique_gouv_fr():
    config = load_site(CONTENT).config
    assert config == SiteConfig(
        name="DINUM",
        url="https://www.numerique.gouv.fr",
        contact="evenements@numerique.gouv.fr",
        organiser="la direction interministérielle du numérique",
    )


def test_event_front_matter_is_parsed_with_its_offset(dinum_event):
    event = dinum_event
    assert event.title == "La Dinum en action : lancement de la feuille de route"
    assert event.start == datetime(2023, 6, 1, 12, 0, tzinfo=UTC)
    assert event.start.utcoffset() == timedelta(hours=2)
    assert event.end == datetime(2023, 6, 1, 19, 0, tzinfo=PARIS)
    assert event.place == "Cité Internationale Universitaire de Paris"
    assert event.address == "17 Bd Jourdan, 75014 Paris"
    assert event.categories == ("Évènement",)
    assert [i.label for i in event.infos] == ["Comment y aller ?", "Modalités", "Inscription"]
    assert event.infos[2].is_registration_link
    assert event.url == f"/agenda/{SLUG}/"
    assert event.published


def test_registration_closes_on_26_may_2023_at_18h_paris_time(dinum_event):
    assert dinum_event.deadline == datetime(2023, 5, 26, 18, 0, tzinfo=PARIS)
    assert dinum_event.deadline == datetime(2023, 5, 26, 16, 0, tzinfo=UTC)


def test_the_event_has_300_places_and_its_contact(dinum_event):
    assert dinum_event.capacity == 300
    assert dinum_event.contact == "evenements@numerique.gouv.fr"
    assert dinum_event.organiser == "la direction interministérielle du numérique"
    assert dinum_event.extra_domains == ()


def test_the_forum_question_lists_the_six_departments(dinum_event):
    [question] = dinum_event.questions
    assert question.id == "departements"
    assert question.kind is QuestionKind.MULTIPLE
    assert question.options == FORUM
    assert not question.required
    assert question.short_label == "Forum"


def test_the_mails_repeat_how_to_get_there(dinum_event):
    [info] = dinum_event.mail_infos
    assert info.label == "Comment y aller ?"
    assert info.text == "RER B, RER C, M4, T3a, Bus21"


@pytest.mark.skipif(not EVENT_SEED.exists(), reason="the shared seeds sit beside the repository")
def test_content_file_keeps_every_seed_byte_but_added_keys():
    ours = EVENT_FILE.read_text("utf-8").splitlines(keepends=True)
    seed = EVENT_SEED.read_text("utf-8").replace("published: false", "published: true")
    # Remove our added block (between the seed's last key and the closing ---): same bytes.
    start = ours.index("event_end_date: 2023-06-01 19:00:00 +02:00\n")
    end = ours.index("---\n", start)
    assert "".join(ours[:start] + ours[end:]) == seed
    # ...and the added block holds only keys the seed does not have.
    top_keys = [line.split(":")[0] for line in ours[start:end] if not line[0].isspace()]
    assert top_keys == ["event_end_date", "inscription"]
    assert all(f"\n{key}:" not in "\n" + seed for key in top_keys)


@pytest.mark.skipif(not PAGE_SEED.exists(), reason="the shared seeds sit beside the repository")
def test_the_dinum_page_is_the_seed_as_it_is():
    assert PAGE_FILE.read_bytes() == PAGE_SEED.read_bytes()


def test_body_renders_bold_without_stray_asterisks(dinum_event):
    html = dinum_event.body_html
    assert (
        "<strong>17h00 – 19h00 : Forum composé des nouveaux départements de la DINUM :</strong>"
        in html
    )
    assert "**" not in html
    assert "<h3>Programme</h3>" in html
    assert "<br>" in html


def test_placeholder_link_becomes_the_registration_link_styled_as_a_button(dinum_event):
    html = dinum_event.body_html
    assert "lien à ajouter" not in html
    assert f'<a href="/agenda/{SLUG}/inscription" class="fr-btn"><b>S\'inscrire</b></a>' in html


def test_dinum_page_keeps_an_accordion_made_of_dsfr_parts(dinum_page):
    assert dinum_page.title == "La DINUM"
    assert dinum_page.subtitle == "Le numérique au service de l'efficacité de l'action publique"
    html = dinum_page.body_html
    assert "<script" not in html and "onclick" not in html and "myFunction" not in html
    assert 'class="fr-accordion__btn"' in html and 'aria-controls="organigramme"' in html
    assert 'class="fr-collapse" id="organigramme"' in html
    assert "<h1" not in html  # the page title is the only h1
    # Links the service does not serve point at the original site.
    assert 'href="https://www.numerique.gouv.fr/publications/feuille-de-route-dinum/"' in html
    assert (
        'href="https://www.numerique.gouv.fr/uploads/Organigramme%20DINUM%20Aout%202023.pdf"'
        in (html)
    )
