"""Markdown with inline HTML, as kramdown reads it, to HTML that only keeps what is safe."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import nh3
from markdown_it import MarkdownIt

from .model import PLACEHOLDER_LINK

__all__ = ["PLACEHOLDER_LINK", "render_markdown", "replace_registration_links"]

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


# Where a link to the registration form is replaced, when registration is closed: the
# smallest of these around it that holds no other block (the link's paragraph, list item or
# `<div>`, with the « Jusqu'au … » line beside it), else the link alone.
_BLOCKS = frozenset({"p", "li", "div", "dd", "dt", "td", "th", "section", "blockquote"})
_ALL_BLOCKS = _BLOCKS | {"h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "hr"}
_VOID = frozenset({"br", "hr", "img", "wbr"})


class _Spans(HTMLParser):
    """The spans of sanitised HTML to replace: see `replace_registration_links`."""

    def __init__(self, html: str, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.line_starts = [0]
        for line in html.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        # open elements: [tag, where its content starts, holds another block, links inside]
        self.stack: list[list[Any]] = []
        self.link_start: int | None = None
        self.spans: list[tuple[int, int]] = []

    def position(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self.position()
        if tag in _ALL_BLOCKS:
            for element in self.stack:
                element[2] = True
        if tag in _VOID:
            return
        if tag == "a" and dict(attrs).get("href") == self.url:
            self.link_start = start
        self.stack.append([tag, start + len(self.get_starttag_text() or ""), False, []])

    def handle_endtag(self, tag: str) -> None:
        end_tag = self.position()
        if not self.stack or self.stack[-1][0] != tag:
            return  # sanitised HTML is well formed: nothing to recover from
        name, inner, holds_block, links = self.stack.pop()
        if name == "a" and self.link_start is not None:
            links = [(self.link_start, end_tag + len("</a>"))]
            self.link_start = None
        if not links:
            return
        if name in _BLOCKS and not holds_block:
            self.spans.append((inner, end_tag))  # the block stays, its content goes
        elif self.stack and self.stack[-1][0] not in _BLOCKS:
            self.stack[-1][3].extend(links)  # an inline element: its block may still hold it
        elif self.stack and not self.stack[-1][2]:
            self.stack[-1][3].extend(links)
        else:
            self.spans.extend(links)

    def close(self) -> None:
        super().close()
        for element in self.stack:
            self.spans.extend(element[3])


def replace_registration_links(html: str, registration_url: str, replacement: str) -> str:
    """`html` (sanitised by `render_markdown`) with each link to `registration_url`, and what
    stands beside it in its block, replaced by `replacement` (inline HTML): for a closed
    registration."""
    if f'href="{registration_url}"' not in html:
        return html
    parser = _Spans(html, registration_url)
    parser.feed(html)
    parser.close()
    out, position = [], 0
    for start, end in sorted(parser.spans):
        if start < position:
            continue
        out += [html[position:start], replacement]
        position = end
    out.append(html[position:])
    return "".join(out)
