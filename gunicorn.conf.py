"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Sized for a small machine (2 cores). Each setting can be changed from the environment or
the .env file; gunicorn's own command-line options still win over this file.
"""

import multiprocessing
import os
from pathlib import Path

from dotenv import load_dotenv
from gunicorn import glogging

from registration.logs import use_json

if not os.environ.get("FLASK_SKIP_DOTENV"):  # as the flask command and wsgi.py do
    load_dotenv(Path(__file__).resolve().parent / ".env")
env = os.environ.get

# PostgreSQL's driver (psycopg, libpq and its libraries: about 40 ms of CPU) is imported by
# each worker's create_app, which builds the engine. Imported here, once, the workers find
# it loaded; importing it opens no connection, so nothing is shared across the fork.
if env("DATABASE_URL", "").startswith("postgresql"):
    import psycopg  # noqa: F401

# Sync workers: a worker waiting on PostgreSQL or Redis leaves its core to another one, so
# more workers than cores keep both busy; 2 x cores + 1 (5 on 2 cores) is gunicorn's advice.
workers = int(env("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count() + 1)
worker_class = "sync"
bind = env("GUNICORN_BIND", "127.0.0.1:8000").split(",")

# A request that takes longer is taken for stuck: its worker is killed and replaced. Pages
# answer in milliseconds; a very large CSV export is the one to watch (raise it if needed).
timeout = int(env("GUNICORN_TIMEOUT", "60"))
# On stop or reload, requests under way get this long to finish.
graceful_timeout = 30
# Replace each worker now and then, not all at once, against slow leaks. Not every thousand
# requests: a worker takes about 0.4 s of CPU to start, and the event page answers thousands
# of requests a second, so workers would spend more time starting than serving.
max_requests = 50000
max_requests_jitter = 5000

# The reverse proxy's address: only it may say the request came over HTTPS
# (X-Forwarded-Proto). The client's address for rate limits is TRUSTED_PROXIES' business.
forwarded_allow_ips = env("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# No preload: each worker builds its own app after the fork, so no database or Redis
# connection is ever shared between processes (nothing to dispose in post_fork). The master
# only imports the package (for the log handler): its modules are shared with the workers.
preload_app = False
# The heartbeat file in memory: a slow disk must not get healthy workers killed.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None
# gunicornc's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl): two
# instances on one machine would fight over it. Off, unless given a path of its own.
if env("GUNICORN_CONTROL_SOCKET"):
    control_socket = env("GUNICORN_CONTROL_SOCKET")
else:
    control_socket_disable = True
proc_name = "inscriptions"

# Logs on stderr; no access log: the application writes its own line for each request,
# without the query string. In JSON where the application logs JSON.
accesslog = None


class Logger(glogging.Logger):
    """gunicorn's logger, without its access log. With logconfig_dict set (JSON logs),
    gunicorn would gather each request's log fields (headers, environ) for an access logger
    that writes nowhere: about 4 % of a worker's CPU in the sign-up benchmark."""

    def access(self, *args: object, **kwargs: object) -> None:
        return None


logger_class = Logger
errorlog = "-"
loglevel = env("LOG_LEVEL", "info").lower()
if use_json(env("APP_ENV", "production"), env("LOG_FORMAT", "").strip().lower()):
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "handlers": {"stderr": {"()": "registration.logs.make_handler", "json_lines": True}},
        "formatters": {},
    }
