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


class Session(FlaskSession):
    """Flask-SQLAlchemy's session, reading through the engine's autocommit twin where it has
    one (PostgreSQL: db.read_in_autocommit); `transaction()` writes through the same twin,
    its connection set back to READ COMMITTED."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        engine = super().get_bind(mapper, clause, bind, **kwargs)
        reads: Engine | Connection = getattr(engine, READS, engine)
        return reads


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
mail = Mail()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address)
