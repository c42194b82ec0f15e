"""The event page at the speed of static bytes: the page around the registration state is
rendered once per version of the event's file (and of the site's settings and the clock),
the state once per value it takes; a view joins them.

Only a plain visit gets these bytes: without a session or remember-me cookie nobody is
signed in and no message waits to be flashed, so the page is the same for every visitor.
Staff, and anyone with a session, get the page rendered in full, as every other page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask import Response, current_app, render_template, request
from jinja2 import Template

from ..content import Event, SiteConfig
from ..registrations.rules import Availability

TEMPLATE = "public/event.html"
STATE_TEMPLATE = "public/_registration_state.html"
# Where the state goes in the page's static parts: a comment no content can hold.
MARK = f"<!--registration-state-{secrets.token_hex(16)}-->"
STATIC_PARTS = (
    '{% extends "' + TEMPLATE + '" %}{% block registration_state %}' + MARK + "{% endblock %}"
)
# The states kept for one version of the page: open with n seats left, full, closed...
MAX_STATES = 128
_CACHE = "inscriptions.event_page"


@dataclass
class _Parts:
    event: Event
    config: SiteConfig
    frozen_now: datetime | None
    script_root: str
    head: str
    tail: str
    pages: dict[Availability, bytes] = field(default_factory=dict)

    def serves(
        self, event: Event, config: SiteConfig, frozen_now: datetime | None, script_root: str
    ) -> bool:
        return (
            self.event is event
            and self.config is config
            and self.frozen_now == frozen_now
            and self.script_root == script_root
        )


def is_plain_visit() -> bool:
    """No session and no remember-me cookie: an anonymous visitor with nothing flashed."""
    if "HTTP_COOKIE" not in request.environ:
        return True
    cookies = request.cookies
    config = current_app.config
    return (
        config["SESSION_COOKIE_NAME"] not in cookies
        and config.get("REMEMBER_COOKIE_NAME", "remember_token") not in cookies
    )


def render(event: Event, state: Availability) -> str:
    """The page rendered in full."""
    return render_template(TEMPLATE, event=event, registration=state)


def response(event: Event, state: Availability, config: SiteConfig) -> Response:
    """The page for a plain visit, from its static parts; `config` is the site's settings
    the page is rendered with."""
    app = current_app
    if app.jinja_env.auto_reload:  # development: templates are read again when edited
        page = render(event, state).encode()
    else:
        cache: dict[str, _Parts] = app.extensions.setdefault(_CACHE, {})
        frozen_now = app.config.get("FROZEN_NOW")
        script_root = request.script_root
        parts = cache.get(event.slug)
        if parts is None or not parts.serves(event, config, frozen_now, script_root):
            parts = cache[event.slug] = _static_parts(event, config, frozen_now, script_root)
        found = parts.pages.get(state)
        if found is None:
            if len(parts.pages) >= MAX_STATES:
                parts.pages.clear()
            state_html = render_template(STATE_TEMPLATE, event=event, registration=state)
            found = parts.pages[state] = (parts.head + state_html + parts.tail).encode()
        page = found
    served = Response(page, mimetype="text/html")
    # As on the page rendered in full (Flask-Login reads the session): the page differs
    # for a signed-in visitor, so caches must tell them apart.
    served.headers["Vary"] = "Cookie"
    return served


def _static_parts(
    event: Event, config: SiteConfig, frozen_now: datetime | None, script_root: str
) -> _Parts:
    template: Template = current_app.jinja_env.from_string(STATIC_PARTS)
    # registration=None: the block that shows it is left out
    page = render_template(template, event=event, registration=None)
    head, mark, tail = page.partition(MARK)
    if not mark or MARK in tail:
        raise RuntimeError(f"{TEMPLATE} must show the registration state once")
    return _Parts(event, config, frozen_now, script_root, head, tail)
