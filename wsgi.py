"""Entry point for gunicorn (`gunicorn wsgi:app`) and `flask run`."""

from registration import create_app

app = create_app()
