"""Entry point for gunicorn (`gunicorn -c gunicorn.conf.py wsgi:app`) and `flask run`.

`.env`, when present, fills in what the environment does not set, as the `flask` command
does; FLASK_SKIP_DOTENV=1 turns that off for both.
"""

import os
from pathlib import Path

from dotenv import load_dotenv

from registration import create_app

if not os.environ.get("FLASK_SKIP_DOTENV"):
    load_dotenv(Path(__file__).resolve().parent / ".env")

app = create_app()
