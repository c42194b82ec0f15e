"""The parts of the layout that are the same on every page (the stylesheets, the footer, the
display settings, the scripts): rendered once per version of what they show, then given as
they are. They hold about two thirds of base.html's markup and of its url_for calls, which a
page otherwise renders again on every request.

A fixed part may use the site's settings and url_for, nothing of the request or the person:
no current_user, no csrf_token(), no flashed message, no frozen clock.
"""

from __future__ import annotations

from flask import current_app, render_template, request
from markupsafe import Markup

from . import site

_CACHE = "inscriptions.layout"
MAX_PARTS = 64  # versions of the site's settings, times the parts: old ones go


def fixed(template: str) -> Markup:
    """`template` rendered once per site settings and script root (its links are relative to
    it); rendered every time where templates are read again when edited (development)."""
    app = current_app
    if app.jinja_env.auto_reload:
        return Markup(render_template(template))
    key = (template, request.script_root, site().config)
    parts: dict[tuple[object, ...], Markup] = app.extensions.setdefault(_CACHE, {})
    html = parts.get(key)
    if html is None:
        if len(parts) >= MAX_PARTS:
            parts.clear()
        html = parts[key] = Markup(render_template(template))
    return html
