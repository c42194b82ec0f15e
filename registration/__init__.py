"""inscriptions: event registration for French public-sector events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as settings
from . import content, http, logs
from .db import configure_sqlite, count_commits, ping_when_idle, read_in_autocommit
from .extensions import csrf, db, limiter, login_manager
from .extensions import mail as flask_mail
from .models import render_item

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """The application factory. `overrides` win over the environment (tests use it).

    The factory reads only the environment; `.env` is read by the entry points (`flask`
    and wsgi.py), so that the tests never see a developer's `.env`.
    """
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

    logs.init_app(app)
    check_content(app)
    register_extensions(app)
    register_blueprints(app)
    http.init_app(app)
    register_template_helpers(app)
    register_commands(app)
    from .views.event_page import PlainVisits

    app.wsgi_app = PlainVisits(app, app.wsgi_app)  # type: ignore[method-assign]
    proxies = int(app.config.get("TRUSTED_PROXIES", 0) or 0)
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    return app


def check_content(app: Flask) -> None:
    """Read the content once at start-up. A malformed file is logged, naming the file and the
    key, and only its own page fails: start-up goes on, as do `flask content check` and the
    other commands, which all build the app."""
    content.current_site(app.config["CONTENT_DIR"], cache_dir=app.instance_path)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        count_commits(db.engine)
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        else:
            read_in_autocommit(db.engine)
            if not app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("pool_pre_ping"):
                ping_when_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE"])
    app.extensions["migrate"] = _Migrations(app)
    app.cli.add_command(_MigrationCommands(app))
    flask_mail.init_app(app)
    csrf.init_app(app)
    check_csrf_only_where_it_applies(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"


def init_migrations(app: Flask) -> Any:
    """Flask-Migrate, set up for `app`: its settings (app.extensions["migrate"])."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(ROOT / "migrations"), compare_type=True, render_item=render_item)
    return app.extensions["migrate"]


class _Migrations:
    """Stands for Flask-Migrate's settings until something reads them (`flask db …`, the
    tests' `flask_migrate.upgrade()`): Alembic costs 70 ms of imports, which serving pages
    never needs."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        if name == "app":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(init_migrations(self.app), name)


class _MigrationCommands(click.Command):
    """`flask db`: Flask-Migrate's command group, loaded when the command runs."""

    def __init__(self, app: Flask) -> None:
        super().__init__("db", help="Perform database migrations.")
        self.app = app

    def _commands(self) -> click.Command:
        init_migrations(self.app)  # registers Flask-Migrate's own group in our place
        return self.app.cli.commands["db"]

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self._commands().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return ctx.command.invoke(ctx)


def check_csrf_only_where_it_applies(app: Flask) -> None:
    """Flask-WTF's hook looks up the view's exemptions before it looks at the method: a GET
    (every page view) skips it altogether. The same check, cheaper."""
    hooks = app.before_request_funcs[None]
    (position,) = [i for i, hook in enumerate(hooks) if hook.__name__ == "csrf_protect"]
    protect = hooks[position]

    def csrf_protect() -> None:
        if request.method in app.config["WTF_CSRF_METHODS"]:
            protect()

    hooks[position] = csrf_protect


def register_blueprints(app: Flask) -> None:
    from .views import admin, auth, health, organiser, proconnect, public

    dsfr = Blueprint(
        "dsfr", __name__, static_folder=app.config["DSFR_DIST"], static_url_path="/static/dsfr"
    )
    app.register_blueprint(dsfr)
    for blueprint in (health.bp, auth.bp, organiser.bp, admin.bp, proconnect.bp, public.bp):
        app.register_blueprint(blueprint)
    from .views import checkin  # check-in at the door: the Accueil page, the ticket

    checkin.init_app(app)


def _site_config(app: Flask) -> content.SiteConfig:
    """The site's name and contact, for every page (a broken key keeps its default)."""
    from .views import site

    return site().config


def register_template_helpers(app: Flask) -> None:
    from . import clock, dates
    from .views import layout

    app.add_template_global(layout.fixed, "fixed")

    app.jinja_env.filters.update(
        date_fr=dates.date_fr,
        time_fr=dates.time_fr,
        datetime_fr=dates.datetime_fr,
        short_datetime_fr=dates.short_datetime_fr,
    )

    @app.context_processor
    def site_and_clock() -> dict[str, Any]:
        return {
            "site": _site_config(app),
            "frozen_now": clock.frozen(),
            "mail_backend": app.config["MAIL_BACKEND"],
        }


def register_commands(app: Flask) -> None:
    from . import cli

    cli.register(app)
