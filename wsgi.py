"""Entry point for gunicorn (`gunicorn -c gunicorn.conf.py wsgi:app`) and `flask run`.

`.env`, when present, fills in what the environment does not set, as the `flask` command
does; FLASK_SKIP_DOTENV=1 turns that off for both.
"""

import gc
import os
from pathlib import Path

# Start-up creates many objects and frees almost none: the cyclic garbage collector would
# walk them again and again for nothing (about 15 ms). It runs again once the app is built.
gc.disable()
try:
    from registration import create_app

    if not os.environ.get("FLASK_SKIP_DOTENV"):
        from dotenv import load_dotenv  # imported only where it is used

        load_dotenv(Path(__file__).resolve().parent / ".env")

    app = create_app()
    # What start-up built (modules, classes, the app) lives as long as the process: frozen,
    # the collector never walks it again, neither in the full collections of a worker at
    # work nor in the one at exit (about 100 ms of CPU, which `flask` commands paid too).
    gc.freeze()
finally:
    gc.enable()
