"""Logs: one line per request with a request id; JSON in production, text in development.

Every line goes to stderr through one handler on the root logger, so the lines of libraries
(SQLAlchemy, Flask-Limiter, gunicorn) get the request id and the masking too. Nothing logged
may carry a password, a token or a full e-mail address: the request line names the route
(`/agenda/<slug>/mon-inscription/<token>`), never the path nor the query string, and a filter
masks every e-mail address (`p***@numerique.gouv.fr`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
# What a proxy's id looks like (nginx's $request_id, a UUID): anything else is replaced.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,127}")
# The local part as people write it (letters, digits, . _ + -; any script); %40 is an
# encoded @. What an exotic character leaves before the match is never the whole address.
EMAIL = re.compile(r"(?P<first>[\w+-])[\w.+-]*(?:@|%40)(?P<domain>[\w-]+(?:\.[\w-]+)+)")
# Outside the application (gunicorn's "Error handling request <uri>"), a path may still
# carry a token or a query string.
TOKEN_IN_PATH = re.compile(r"/(confirmer|mon-inscription)/[\w.-]+")
QUERY_STRING = re.compile(r"(/[^\s?\"']*)\?[^\s\"']+")
# The attributes every LogRecord has: the others are the `extra` fields of a line.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
REQUEST_LOGGER = logging.getLogger("registration.request")


def mask_emails(text: str) -> str:
    """`prenom.nom@numerique.gouv.fr` -> `p***@numerique.gouv.fr`."""
    return EMAIL.sub(lambda m: f"{m['first']}***@{m['domain']}", text)


def mask(text: str) -> str:
    """E-mail addresses masked; tokens in paths and query strings taken out."""
    text = TOKEN_IN_PATH.sub(r"/\1/<token>", text)
    return mask_emails(QUERY_STRING.sub(r"\1?<query>", text))


def use_json(app_env: str, log_format: str = "") -> bool:
    """JSON with LOG_FORMAT=json, text with LOG_FORMAT=text; otherwise JSON in production."""
    return log_format == "json" or (not log_format and app_env == "production")


class RequestContextFilter(logging.Filter):
    """Adds the request id to each record, and takes addresses and tokens out of its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        message = record.getMessage()
        rule = request.url_rule.rule if has_request_context() and request.url_rule else ""
        if "<token>" in rule:
            # Flask's own "Exception on <path>" names the path, which holds the token.
            message = message.replace(request.path, rule)
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # A database error quotes the row it refused, an address included.
            record.exc_text = mask(record.exc_text)
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in STANDARD_ATTRIBUTES and key != "request_id" and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        line.update(_extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A readable line for development: time, level, logger, [request id], message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(rid)s] %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.rid = getattr(record, "request_id", None) or "-"
        return super().format(record)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to the sys.stderr of the moment (as logging's last resort does), so that a
    replaced stderr (pytest's capture, a daemon's redirection) is followed."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)
        self.inscriptions = True  # ours: replaced, never duplicated, on each set-up

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass  # always the stderr of the moment


def make_handler(json_lines: bool) -> logging.Handler:
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RequestContextFilter())
    return handler


def _drop_access_lines(record: logging.LogRecord) -> bool:
    # werkzeug's development server logs each request line with its query string:
    # the application writes its own line instead.
    return not (record.name == "werkzeug" and str(record.msg).endswith('"%s" %s %s'))


def configure(json_lines: bool, level: str = "INFO") -> None:
    """Send every log line to stderr through our one handler on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "inscriptions", False):
            root.removeHandler(handler)
    root.addHandler(make_handler(json_lines))
    root.setLevel(level.upper())
    werkzeug = logging.getLogger("werkzeug")
    if _drop_access_lines not in werkzeug.filters:
        werkzeug.addFilter(_drop_access_lines)
    # Alembic's fileConfig (`flask db upgrade` in the same process, as in the tests) disables
    # every logger that existed before it (ours, Flask-Limiter's, werkzeug's): wake them up.
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


def request_id(environ: dict[str, Any] | None = None) -> str:
    """The request id: the proxy's, when it looks like one; a new one otherwise."""
    incoming = (request.environ if environ is None else environ).get(REQUEST_ID_ENVIRON, "")
    return incoming if VALID_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()


def log_request_line(
    method: str, route: str | None, status: int, started: float | None, **fields: Any
) -> None:
    """The one line of a request: method, route (never the path), status, duration, and the
    slug, user id or request id when given."""
    if not REQUEST_LOGGER.isEnabledFor(logging.INFO):
        return
    duration = round((time.perf_counter() - started) * 1000, 1) if started else None
    REQUEST_LOGGER.info(
        "%s %s %s",
        method,
        route or "-",
        status,
        extra={"method": method, "route": route, "status": status, "duration_ms": duration}
        | fields,
    )


def _signed_in_user_id() -> int | None:
    # Only a user the request already loaded: logging must not query the database.
    user = g.get("_login_user")
    return getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None


def init_app(app: Flask) -> None:
    """Configure logging from the settings, and log one line per request."""
    configure(use_json(app.config["APP_ENV"], app.config["LOG_FORMAT"]), app.config["LOG_LEVEL"])
    app.logger.removeHandler(default_handler)

    @app.before_request
    def start() -> None:
        g.request_id = request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        if "request_id" not in g:  # a request that failed before ours began
            g.request_id = request_id()
        response.headers[REQUEST_ID_HEADER] = g.request_id
        if not REQUEST_LOGGER.isEnabledFor(logging.INFO):
            return response
        rule = request.url_rule
        fields: dict[str, Any] = {}
        if g.get("slug"):
            fields["slug"] = g.slug
        user_id = _signed_in_user_id()
        if user_id is not None:
            fields["user_id"] = user_id
        log_request_line(
            request.method,
            rule.rule if rule is not None else None,
            response.status_code,
            g.get("request_started"),
            **fields,
        )
        return response
