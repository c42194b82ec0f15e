"""Blueprints by who uses them: public, organiser, admin, auth. Each view is thin: load the
event once (`g.event`), validate the form, make one service or query call, render or redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    has_request_context,
    make_response,
    render_template,
    request,
)
from flask_login import current_user

from .. import content

# A broken content file is the editors' to fix, and then the page is back: "unavailable for
# now" (503) rather than a server fault (500); crawlers keep the page and come back later.
UNAVAILABLE = 503


# Where a request keeps the content it read (its WSGI environ: g may outlive the request).
SITE_KEY = "inscriptions.site"


def site() -> content.Site:
    """The content, read once per request (and parsed once per change of a file)."""
    if has_request_context():
        found = request.environ.get(SITE_KEY)
        if found is None:
            found = request.environ[SITE_KEY] = content.current_site(
                current_app.config["CONTENT_DIR"]
            )
        return found
    return content.current_site(current_app.config["CONTENT_DIR"])


def fail_if_broken(broken: content.BrokenFile | None, drafts_visible: bool) -> None:
    """When the URL's own content file is malformed, stop with the French « momentanément
    indisponible » page; signed-in staff also see the file's problems. A broken draft stays
    a 404 for whoever may not see drafts."""
    if broken is None or not (broken.published or drafts_visible):
        return
    page = render_template(
        "errors/content_unavailable.html",
        broken=broken if current_user.is_authenticated else None,
    )
    abort(make_response(page, UNAVAILABLE))


def staff_event(slug: str) -> content.Event:
    """Any event, drafts included: staff prepare them."""
    current = site()
    event = current.event(slug)
    if event is None:
        fail_if_broken(current.broken_event(slug), drafts_visible=True)
        abort(404)
    return event


def load_event_from_slug(bp: Blueprint, find: Callable[[str], content.Event]) -> None:
    """Routes with a <slug> get `g.event`, loaded once, after the blueprint's access checks
    (register this after them); url_for fills the slug in from it."""

    @bp.url_value_preprocessor
    def pop_slug(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values and "slug" in values:
            g.slug = values.pop("slug")

    @bp.before_request
    def load_event() -> None:
        if "slug" in g:
            g.event = find(g.slug)

    @bp.url_defaults
    def add_slug(endpoint: str, values: dict[str, Any]) -> None:
        if (
            "event" in g
            and "slug" not in values
            and current_app.url_map.is_endpoint_expecting(endpoint, "slug")
        ):
            values["slug"] = g.event.slug
