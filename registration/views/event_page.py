"""The event page at the speed of static bytes: the page around the registration state is
rendered once per version of the event's file (and of the site's settings and the clock),
and once more while registration is closed, its links to the form replaced by why; the state
is rendered once per value it takes; the view joins them.

Only a plain visit gets these bytes: without a session or remember-me cookie nobody is
signed in and no message waits to be flashed, so the page is the same for every visitor.
Staff, and anyone with a session, get the page rendered in full, as every other page.

`PlainVisits`, in front of Flask, goes one step further: it answers a plain visit with the
very answer (status, headers, body) Flask last gave for that URL, while everything that
answer was made from stays true: the content files, the seats left read less than a second
ago (`STATE_MAX_AGE`), the simulated clock. It writes the request's own id and log line, as
Flask's hooks would. Anything else goes to Flask.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, render_template, request
from jinja2 import Template
from markupsafe import Markup

from .. import content, logs
from ..content import Event, Site, SiteConfig
from ..registrations import queries
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
# The seats left shown by a page are read again after this many seconds (each process).
STATE_MAX_AGE = 1.0
ROUTE = "/agenda/<slug>/"
# Answers kept in front of Flask: one per event page, host and scheme it is asked under.
MAX_ANSWERS = 256
# Set by the view on the environ of a plain visit it answered from the static parts.
ANSWERED = "inscriptions.event_page"


@dataclass
class _Parts:
    event: Event
    config: SiteConfig
    frozen_now: datetime | None
    script_root: str
    closed: Availability | None
    head: str
    tail: str
    pages: dict[Availability, bytes] = field(default_factory=dict)

    def serves(
        self,
        event: Event,
        config: SiteConfig,
        frozen_now: datetime | None,
        script_root: str,
        closed: Availability | None,
    ) -> bool:
        return (
            self.event is event
            and self.config is config
            and self.frozen_now == frozen_now
            and self.script_root == script_root
            and self.closed == closed
        )


def closed_reason(state: Availability) -> Availability | None:
    """What the page outside the registration box shows of the state: nothing while
    registration is open; why it is closed otherwise (the links to the form give way to it)."""
    if state.is_open:
        return None
    return Availability(False, state.message, None, state.notice)


def body_html(event: Event, closed: Availability | None) -> Markup:
    """The event's body; when registration is closed, its links to the form replaced by why."""
    if closed is None:
        return Markup(event.body_html)
    from ..content.markdown import replace_registration_links

    reason = render_template("public/_registration_closed.html", closed=closed)
    return Markup(replace_registration_links(event.body_html, event.registration_url, reason))


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
    closed = closed_reason(state)
    return render_template(
        TEMPLATE,
        event=event,
        registration=state,
        closed=closed,
        body_html=body_html(event, closed),
    )


def response(event: Event, state: Availability, site: Site) -> Response:
    """The page for a plain visit, from its static parts; `site` is the content the page is
    rendered from."""
    app = current_app
    config = site.config
    if app.jinja_env.auto_reload:  # development: templates are read again when edited
        page = render(event, state).encode()
    else:
        # Nothing else changes the page: PlainVisits may give this answer again.
        request.environ[ANSWERED] = _Made(site, event, state, app.config.get("FROZEN_NOW"))
        cache: dict[str, _Parts] = app.extensions.setdefault(_CACHE, {})
        frozen_now = app.config.get("FROZEN_NOW")
        script_root = request.script_root
        closed = closed_reason(state)
        # open and closed pages differ outside the registration box: one set of parts each
        key = f"{event.slug}{'' if closed is None else ' (closed)'}"
        parts = cache.get(key)
        if parts is None or not parts.serves(event, config, frozen_now, script_root, closed):
            parts = cache[key] = _static_parts(event, config, frozen_now, script_root, closed)
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
    event: Event,
    config: SiteConfig,
    frozen_now: datetime | None,
    script_root: str,
    closed: Availability | None,
) -> _Parts:
    template: Template = current_app.jinja_env.from_string(STATIC_PARTS)
    # registration=None: the block that shows it is left out
    page = render_template(
        template,
        event=event,
        registration=None,
        closed=closed,
        body_html=body_html(event, closed),
    )
    head, mark, tail = page.partition(MARK)
    if not mark or MARK in tail:
        raise RuntimeError(f"{TEMPLATE} must show the registration state once")
    return _Parts(event, config, frozen_now, script_root, closed, head, tail)


# --- In front of Flask ----------------------------------------------------------------------

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class _Made:
    """What an answer was made from."""

    site: Site
    event: Event
    state: Availability
    frozen_now: datetime | None


@dataclass(frozen=True)
class _Answer:
    made: _Made
    status: str
    headers: list[tuple[str, str]]  # without the request id
    body: bytes


class PlainVisits:
    """WSGI middleware: a plain visit of an event page gets the last answer Flask gave for
    that URL while it stays true (see the module's docstring); anything else goes to Flask."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.answers: dict[tuple[str, str, str, str], _Answer] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_COOKIE" in environ
            or environ.get("QUERY_STRING")
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        key = (
            environ.get("PATH_INFO", ""),
            environ.get("SCRIPT_NAME", ""),
            environ.get("HTTP_HOST", ""),
            environ.get("wsgi.url_scheme", ""),
        )
        answer = self.answers.get(key)
        if answer is not None and self._still_true(answer.made):
            request_id = logs.request_id(environ)
            start_response(answer.status, [*answer.headers, (logs.REQUEST_ID_HEADER, request_id)])
            logs.log_request_line(
                "GET", ROUTE, 200, started, slug=answer.made.event.slug, request_id=request_id
            )
            return [answer.body]
        return self._from_flask(key, environ, start_response)

    def _still_true(self, made: _Made) -> bool:
        config = self.app.config
        frozen_now = config.get("FROZEN_NOW")
        now = (frozen_now or datetime.now(UTC)).astimezone(UTC)
        return (
            frozen_now == made.frozen_now
            and (made.event.published or config["SHOW_UNPUBLISHED"])
            and content.is_current(config["CONTENT_DIR"], made.site)
            and queries.fresh_availability(
                self.app.extensions.get(queries._CACHE, {}), made.event, now, STATE_MAX_AGE
            )
            is made.state
        )

    def _from_flask(
        self, key: tuple[str, str, str, str], environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        seen: list[Any] = []

        def keep_and_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            seen[:] = [status, headers]
            return start_response(status, headers, *rest)

        chunks = self.wsgi_app(environ, keep_and_start)
        made = environ.get(ANSWERED)
        if not isinstance(made, _Made) or not seen or not seen[0].startswith("200 "):
            return chunks
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers = [(k, v) for k, v in seen[1] if k.lower() != logs.REQUEST_ID_HEADER.lower()]
        if len(self.answers) >= MAX_ANSWERS:  # the Host header is the client's to choose
            self.answers.clear()
        self.answers[key] = _Answer(made, seen[0], headers, body)
        return [body]
