"""Markdown with inline HTML -> safe HTML: typography, sanitising, classes, links."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from registration.content import PLACEHOLDER_LINK, load_site, render_markdown

FIXTURE_CONTENT = Path(__file__).resolve().parent.parent / "fixtures" / "content"
NNBSP = "\u202f"  # the narrow no-break space French puts inside « »


# --- Typography ----------------------------------------------------------------------------


def test_typography_uses_curly_apostrophes():
    assert render_markdown("L'objectif de l'État") == "<p>L’objectif de l’État</p>\n"


def test_dashes_and_ellipses():
    assert render_markdown("Avant -- après...") == "<p>Avant – après…</p>\n"


def test_double_quotes_become_french_quotation_marks():
    """kramdown writes « » with narrow no-break spaces inside."""
    assert render_markdown('Il a dit "bonjour".') == f"<p>Il a dit «{NNBSP}bonjour{NNBSP}».</p>\n"


def test_bold_closes_after_a_trailing_space_as_kramdown_does():
    html = render_markdown("* **Forum : **\n  <br>« Etalab »")
    assert "<strong>Forum :</strong>" in html
    assert "**" not in html


def test_bold_and_italic_nest():
    assert render_markdown("***Invité* :** Audran") == (
        "<p><strong><em>Invité</em> :</strong> Audran</p>\n"
    )


def test_the_page_title_is_the_only_h1():
    html = render_markdown('# Programme\n\n<h1 class="h2">Notre ambition</h1>')
    assert "<h1" not in html and "</h1>" not in html
    assert html == '<h2>Programme</h2>\n<h2 class="fr-h2">Notre ambition</h2>'


# --- Sanitising ----------------------------------------------------------------------------


def test_scripts_and_event_handlers_are_stripped():
    html = render_markdown(
        '<script>alert(1)</script>\n\n<button onclick="steal()" id="b">x</button>'
        '\n\n<a href="javascript:alert(1)">y</a><img src=x onerror=alert(1)>'
    )
    assert "<script" not in html and "alert" not in html
    assert "onclick" not in html and "javascript:" not in html and "onerror" not in html
    assert '<button id="b">x</button>' in html


@pytest.mark.parametrize(
    "dangerous",
    [
        '<iframe src="https://evil.example"></iframe>',
        '<div style="background:url(x)">x</div>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<form action="https://evil.example"><input name="mot_de_passe"></form>',
        "<style>body{display:none}</style>",
    ],
)
def test_anything_outside_the_allowlist_is_dropped(dangerous):
    html = render_markdown(dangerous)
    for word in ("iframe", "style", "data:", "<form", "<input", "evil.example"):
        assert word not in html


def test_allowed_markup_is_kept():
    html = render_markdown(
        '<details><summary>Plus</summary><table><tr><th scope="col">A</th></tr></table>'
        '</details>\n\n<span lang="en" title="t">Hello</span>'
    )
    assert '<th scope="col">A</th>' in html and "<summary>Plus</summary>" in html
    assert '<span lang="en" title="t">Hello</span>' in html


def test_links_get_no_rel_added_and_keep_mailto():
    html = render_markdown("[écrire](mailto:evenements@numerique.gouv.fr)")
    assert html == '<p><a href="mailto:evenements@numerique.gouv.fr">écrire</a></p>\n'


# --- Classes -------------------------------------------------------------------------------


def test_legacy_classes_map_to_the_design_system():
    html = render_markdown(
        '<div class="margin-bottom-3 accordion no-bullet" data-allow-all-closed="true">'
        '<div class="accordion-item"><button class="accordion-title" aria-controls="o" '
        'aria-expanded="false" onclick="f()">t</button>'
        '<div class="accordion-content" id="o">c</div></div></div>'
        '<div class="encadre"><a href="/x/" class="button">y</a></div>'
    )
    assert html == (
        '<div class="fr-accordions-group"><div class="fr-accordion">'
        '<button class="fr-accordion__btn" aria-controls="o" aria-expanded="false">t</button>'
        '<div class="fr-collapse" id="o">c</div></div></div>'
        '<div class="fr-callout"><a href="/x/" class="fr-btn">y</a></div>'
    )


def test_unknown_classes_are_dropped_with_their_attribute():
    assert render_markdown('<span class="rouge gros">x</span>') == "<p><span>x</span></p>\n"


@pytest.mark.parametrize(("legacy", "dsfr"), [("h2", "fr-h2"), ("h3", "fr-h3"), ("h4", "fr-h4")])
def test_heading_classes(legacy, dsfr):
    assert f'class="{dsfr}"' in render_markdown(f'<p class="{legacy}">Titre</p>')


# --- The placeholder link ------------------------------------------------------------------


def test_placeholder_link_becomes_the_registration_link_styled_as_a_button():
    html = render_markdown(
        f'<a href="{PLACEHOLDER_LINK}" class="button"><b>S\'inscrire</b></a>',
        "/agenda/essai/inscription",
    )
    assert PLACEHOLDER_LINK not in html
    assert '<a href="/agenda/essai/inscription" class="fr-btn"><b>S’inscrire</b></a>' in html


def test_placeholder_link_with_surrounding_spaces_is_recognised():
    html = render_markdown(f'<a href=" {PLACEHOLDER_LINK} ">x</a>', "/agenda/essai/inscription")
    assert 'href="/agenda/essai/inscription"' in html


def test_placeholder_link_outside_an_event_loses_its_href():
    html = render_markdown(f'<a href="{PLACEHOLDER_LINK}" class="button">x</a>')
    assert html == '<p><a class="fr-btn">x</a></p>\n'


# --- Root-relative links -------------------------------------------------------------------


def test_root_relative_links_go_to_the_origin_unless_served_here():
    html = render_markdown(
        "[a](/publications/) [b](/a-propos/) [c](//cdn.example.com/x) [d](https://autre.fr/y) "
        "[e](#programme) [f](relatif/)",
        None,
        frozenset({"/a-propos/"}),
        "https://www.numerique.gouv.fr/",
    )
    assert '<a href="https://www.numerique.gouv.fr/publications/">a</a>' in html
    assert '<a href="/a-propos/">b</a>' in html
    assert '<a href="//cdn.example.com/x">c</a>' in html
    assert '<a href="https://autre.fr/y">d</a>' in html
    assert '<a href="#programme">e</a>' in html
    assert '<a href="relatif/">f</a>' in html


def test_root_relative_links_stay_relative_without_an_origin():
    assert render_markdown("[a](/publications/)") == '<p><a href="/publications/">a</a></p>\n'


def test_links_in_content_files_go_to_the_config_url_unless_served_here(event):
    # The fixture _config.yml says url: https://www.example.gouv.fr
    html = event.body_html
    assert '<a href="https://www.example.gouv.fr/communs/">la page des communs</a>' in html
    assert '<a href="/a-propos/">la page à propos</a>' in html  # served by this service
    page = load_site(FIXTURE_CONTENT).page("/a-propos/")
    assert page is not None
    assert '<a href="https://www.example.gouv.fr/equipes/">les équipes</a>' in page.body_html
    # an event page of this service stays local
    assert '<a href="/agenda/atelier-des-communs/">l’agenda</a>' in page.body_html


def test_links_in_content_files_stay_relative_without_a_config_url(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    (content / "_config.yml").unlink()
    site = load_site(content)
    event = site.event("atelier-des-communs")
    page = site.page("/a-propos/")
    assert event is not None and page is not None
    assert '<a href="/communs/">la page des communs</a>' in event.body_html
    assert '<a href="/equipes/">les équipes</a>' in page.body_html
    assert "example.gouv.fr" not in event.body_html + page.body_html


def test_links_in_content_files_stay_relative_with_a_config_without_url(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    (content / "_config.yml").write_text("contact: contact@example.gouv.fr\n", encoding="utf-8")
    event = load_site(content).event("atelier-des-communs")
    assert event is not None
    assert '<a href="/communs/">la page des communs</a>' in event.body_html


# --- Registration closed: the links to the form give way to why ------------------------------

FORM = "/agenda/x/inscription"


def closed(markdown: str) -> str:
    from registration.content.markdown import replace_registration_links

    return replace_registration_links(render_markdown(markdown, FORM), FORM, "<b>Closes</b>")


def test_the_legacy_button_block_goes_with_its_deadline_line():
    html = closed(
        'Avant.\n\n<div align="center">\n<a href="lien à ajouter" class="button"><b>S\'inscrire'
        "</b></a>\n<br>Jusqu’au 26 mai 2023, 18h\n</div>\n"
    )
    assert html == "<p>Avant.</p>\n<div><b>Closes</b></div>\n"


def test_a_paragraph_with_the_link_is_replaced_and_its_neighbours_kept():
    html = closed('Un.\n\nTexte <a href="lien à ajouter">ici</a> fin.\n\nDeux.')
    assert html == "<p>Un.</p>\n<p><b>Closes</b></p>\n<p>Deux.</p>\n"


def test_a_block_that_holds_other_blocks_loses_the_link_alone():
    html = closed('* a <a href="lien à ajouter">x</a>\n  * nested\n* b')
    assert "<li>a <b>Closes</b>\n<ul>\n<li>nested</li>" in html


def test_other_links_stay():
    markdown = "[Ailleurs](https://example.gouv.fr/) et [ici](/agenda/autre/inscription)"
    assert closed(markdown) == render_markdown(markdown, FORM)
