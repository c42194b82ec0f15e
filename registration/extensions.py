"""Bare extension instances; the application factory initialises them."""

from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Connection, Engine

from .models import Base

# Set on an engine by db.read_in_autocommit: the engine the session reads through.
READS = "inscriptions_reads"
# In the session's info while db.transaction() runs: the session uses the engine itself.
TRANSACTIONAL = "inscriptions_transactional"


class Session(FlaskSession):
    """Flask-SQLAlchemy's session, reading through the engine's autocommit twin where it has
    one (PostgreSQL: db.read_in_autocommit), except inside `transaction()`."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        engine = super().get_bind(mapper, clause, bind, **kwargs)
        if bind is not None or self.info.get(TRANSACTIONAL):
            return engine
        reads: Engine | Connection = getattr(engine, READS, engine)
        return reads


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
mail = Mail()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address)
