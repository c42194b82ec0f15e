"""inscriptions: event registration for French public-sector events."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Blueprint, Flask, render_template
from sqlalchemy import event as sa_event
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as settings
from . import content, mail
from .extensions import csrf, db, limiter, login_manager, migrate
from .extensions import mail as flask_mail
from .models import render_item

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """The application factory. `overrides` win over the environment (tests use it)."""
    load_dotenv(ROOT / ".env")
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    try:
        app.config.update(settings.load(instance_path=app.instance_path))
    except settings.ConfigError as exc:
        raise SystemExit(f"Configuration invalide : {exc}") from None
    app.config.update(overrides or {})
    Path(app.instance_path).mkdir(exist_ok=True)

    check_content(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    proxies = int(app.config.get("TRUSTED_PROXIES", 0) or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    return app


def check_content(app: Flask) -> None:
    """A malformed content file stops start-up with a message naming the file and the key."""
    try:
        content.load_site(app.config["CONTENT_DIR"])
    except content.ContentError as exc:
        logging.getLogger(__name__).error("Contenu invalide : %s", exc)
        raise SystemExit(f"Contenu invalide : {exc}") from None


def _configure_sqlite(engine) -> None:
    # pysqlite sends no BEGIN before reads: take the write lock up front (BEGIN IMMEDIATE),
    # so that lock, check and write happen in one serialised transaction. WAL lets readers in.
    @sa_event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)
    migrate.init_app(
        app, db, directory=str(ROOT / "migrations"), compare_type=True, render_item=render_item
    )
    flask_mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"
    mail.init_app(app)


def register_blueprints(app: Flask) -> None:
    from .views import admin, auth, organiser, public

    dsfr = Blueprint(
        "dsfr", __name__, static_folder=app.config["DSFR_DIST"], static_url_path="/static/dsfr"
    )
    app.register_blueprint(dsfr)
    for blueprint in (auth.bp, organiser.bp, admin.bp, public.bp):
        app.register_blueprint(blueprint)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        # Confirmation and management links carry their token in the URL: never send it away.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def register_errorhandlers(app: Flask) -> None:
    def page(code: int, template: str):
        def handler(error):
            return render_template(f"errors/{template}.html", error=error), code

        return handler

    for code in (400, 403, 404, 405, 429, 500):
        app.register_error_handler(code, page(code, str(code)))

    @app.errorhandler(content.ContentError)
    def content_error(error: content.ContentError):
        app.logger.error("Contenu invalide : %s", error)
        return render_template("errors/content.html", error=error), 500


def register_template_helpers(app: Flask) -> None:
    from . import clock, dates

    app.jinja_env.filters.update(
        date_fr=dates.date_fr,
        time_fr=dates.time_fr,
        datetime_fr=dates.datetime_fr,
        short_datetime_fr=dates.short_datetime_fr,
    )

    @app.context_processor
    def simulated_clock():
        return {"frozen_now": clock.frozen(), "mail_backend": app.config["MAIL_BACKEND"]}


def register_commands(app: Flask) -> None:
    from . import cli

    cli.register(app)
