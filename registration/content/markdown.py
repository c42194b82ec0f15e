"""Markdown with inline HTML, as kramdown reads it, to HTML that only keeps what is safe."""

from __future__ import annotations

import re
from collections.abc import Callable

import nh3
from markdown_it import MarkdownIt

from .model import PLACEHOLDER_LINK

__all__ = ["PLACEHOLDER_LINK", "render_markdown"]

_markdown = MarkdownIt(
    "commonmark",
    # kramdown-like typography: curly apostrophes, French quotation marks.
    {"html": True, "typographer": True, "quotes": ["«\u202f", "\u202f»", "‘", "’"]},
).enable(["replacements", "smartquotes"])

# `**Forum : **`: kramdown closes the bold after a space, CommonMark does not. Move the space out.
_LOOSE_STRONG = re.compile(r"\*\*(?=[^\s*])([^*\n]*?[^\s*])([ \t]+)\*\*")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "button", "code", "dd", "details", "div", "dl", "dt",
    "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "section", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u",
    "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang"},
    "a": {"href"},
    "button": {"aria-controls", "aria-expanded", "type"},
    "th": {"scope"},
}
# The legacy site's classes, mapped to the design system's; any other class is dropped.
_CLASS_MAP = {
    "button": "fr-btn",
    "h2": "fr-h2",
    "h3": "fr-h3",
    "h4": "fr-h4",
    "accordion": "fr-accordions-group",
    "accordion-item": "fr-accordion",
    "accordion-title": "fr-accordion__btn",
    "accordion-content": "fr-collapse",
    "encadre": "fr-callout",
}


def _attribute_filter(
    registration_url: str | None, local_urls: frozenset[str], origin: str
) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "class":
            classes = [_CLASS_MAP[c] for c in value.split() if c in _CLASS_MAP]
            return " ".join(classes) or None
        if tag == "a" and attribute == "href":
            if value.strip() == PLACEHOLDER_LINK:
                return registration_url or None
            # Root-relative links point at the original site, unless this service serves them.
            if (
                origin
                and value.startswith("/")
                and not value.startswith("//")
                and value not in local_urls
            ):
                return origin + value
        return value

    return keep


def render_markdown(
    text: str,
    registration_url: str | None = None,
    local_urls: frozenset[str] = frozenset(),
    origin: str = "",
) -> str:
    """Markdown (with inline HTML) -> sanitised HTML. The page title is the only <h1>."""
    html = _markdown.render(_LOOSE_STRONG.sub(r"**\1**\2", text))
    html = re.sub(r"<(/?)h1\b", r"<\1h2", html)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter(registration_url, local_urls, origin.rstrip("/")),
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
    )
