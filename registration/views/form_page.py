"""The registration form, empty, rendered once per version of what it shows: the event's file,
the site's settings, the simulated clock and the registration state (open or closed and why,
full or not: templates/public/register.html shows nothing else of it). Each request splices in
its own CSRF token.

Only a plain request gets these bytes: a GET without a query string, from nobody signed in,
whose session holds nothing but the CSRF token and Flask-Login's bookkeeping. A flashed
message, a remember-me cookie or any other session key (a prefill, say) renders the page in
full, as before.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g, render_template, request, session
from flask_wtf.csrf import generate_csrf

from ..content import Event, SiteConfig
from ..forms import RegistrationForm, registration_form
from ..registrations.exceptions import NotEligible
from ..registrations.rules import Availability

TEMPLATE = "public/register.html"
# What the page holds in place of the token while it is rendered once for everyone.
MARK = f"csrf-token-{secrets.token_hex(16)}"
# Session keys that change nothing on the page: the CSRF token's secret, and what
# Flask-Login keeps for an anonymous visitor (who is signed in is "_user_id": not here).
NEUTRAL_SESSION_KEYS = frozenset({"_fresh", "_id", "_remember", "_remember_seconds"})
# The versions kept: one per event, version of its file and registration state shown.
MAX_PAGES = 256
_CACHE = "inscriptions.form_page"


@dataclass(frozen=True)
class _Version:
    event: Event
    config: SiteConfig
    frozen_now: datetime | None
    script_root: str
    # What the page shows of the state: not the number of seats left, only whether it is 0.
    is_open: bool
    message: str
    notice: str
    full: bool


def is_plain_request() -> bool:
    """An empty form for an anonymous visitor, nothing flashed, nothing else in the session."""
    if request.method != "GET" or request.query_string:
        return False
    app = current_app
    if app.jinja_env.auto_reload:  # development: templates are read again when edited
        return False
    if "HTTP_COOKIE" not in request.environ:
        return True
    if app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        return False  # Flask-Login would sign its holder in
    neutral = NEUTRAL_SESSION_KEYS | {app.config["WTF_CSRF_FIELD_NAME"]}
    return neutral.issuperset(session.keys())


def page(event: Event, state: Availability, config: SiteConfig) -> str:
    """The empty form's page, its CSRF token this request's; `config` is the site's settings
    the page is rendered with."""
    version = _Version(
        event,
        config,
        current_app.config.get("FROZEN_NOW"),
        request.script_root,
        state.is_open,
        state.message,
        state.notice,
        state.full,
    )
    pages: dict[_Version, list[str]] = current_app.extensions.setdefault(_CACHE, {})
    parts = pages.get(version)
    if parts is None:
        if len(pages) >= MAX_PAGES:  # old versions of the files go too
            pages.clear()
        parts = pages[version] = _render_parts(event, state)
    # Read as Flask-Login reads it on the page rendered in full: the answer varies with the
    # Cookie header, and says so (Vary: Cookie).
    session.get("_user_id")
    if len(parts) == 1:  # closed: no form, so no token (and no session) either
        return parts[0]
    token: str = generate_csrf()
    return token.join(parts)


def render(
    event: Event,
    state: Availability,
    form: RegistrationForm,
    refused: str = "",
    not_eligible: NotEligible | None = None,
) -> str:
    """The registration page rendered in full."""
    return render_template(
        TEMPLATE,
        event=event,
        form=form,
        registration=state,
        refused=refused,
        not_eligible=not_eligible,
        submitted=request.method == "POST",
    )


def _render_parts(event: Event, state: Availability) -> list[str]:
    """The page around each place its token goes, rendered with a mark for the token."""
    field_name = current_app.config["WTF_CSRF_FIELD_NAME"]
    token = g.pop(field_name, None)
    setattr(g, field_name, MARK)  # generate_csrf() gives what g holds
    try:
        html = render(event, state, registration_form(event))
    finally:
        g.pop(field_name, None)
        if token is not None:
            setattr(g, field_name, token)
    return html.split(MARK)
