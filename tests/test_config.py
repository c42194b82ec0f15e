"""Settings from the environment, and the template a newcomer copies (.env.example)."""

from __future__ import annotations

from dotenv import dotenv_values

from registration.config import ROOT, load


def test_the_env_example_works_as_it_is():
    """`cp .env.example .env` then `make run`: the SQLite path is the project's instance/."""
    env = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    config = load(env)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{ROOT / 'instance/inscriptions.db'}"
    assert config["APP_ENV"] == "development"
    assert config["SESSION_COOKIE_SECURE"] is False  # the demo is served over http


def test_a_relative_sqlite_path_is_relative_to_the_project_folder():
    config = load({"APP_ENV": "test", "DATABASE_URL": "sqlite:///var/data.db"})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{ROOT / 'var/data.db'}"


def test_absolute_memory_and_server_urls_are_kept():
    for url in ("sqlite:////srv/x.db", "sqlite:///:memory:", "sqlite://"):
        assert load({"APP_ENV": "test", "DATABASE_URL": url})["SQLALCHEMY_DATABASE_URI"] == url
    server = load({"APP_ENV": "test", "DATABASE_URL": "postgresql://u@h/db"})
    assert server["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
