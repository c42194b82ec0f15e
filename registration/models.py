"""SQLAlchemy 2 typed models. Constraints are the last line of defence behind the services."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    object_session,
    registry,
    relationship,
    validates,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes, stored in UTC; SQLite hands them back naive, so they are re-tagged."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Surrogate keys and the foreign keys to them: BIGINT, so that no sequence runs out at
# 2^31 (one spent by a failed INSERT is never given back). SQLite keeps INTEGER, the
# rowid alias that autoincrements.
BigKey = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(
            naming_convention={
                "ix": "ix_%(column_0_label)s",
                "uq": "uq_%(table_name)s_%(column_0_name)s",
                "ck": "ck_%(table_name)s_%(constraint_name)s",
                "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
                "pk": "pk_%(table_name)s",
            }
        ),
        type_annotation_map={datetime: UTCDateTime},
    )


class Status(enum.StrEnum):
    PENDING = "pending"  # address not yet confirmed: no seat until it is
    CONFIRMED = "confirmed"  # address confirmed, holds a seat
    WAITLISTED = "waitlisted"  # address confirmed, no seat yet
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # address not confirmed in time
    REVIEW = "review"  # address outside the public-sector list: an organiser decides
    REFUSED = "refused"  # the organiser refused the request

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    Status.PENDING: "En attente de confirmation",
    Status.CONFIRMED: "Confirmée",
    Status.WAITLISTED: "Liste d’attente",
    Status.CANCELLED: "Annulée",
    Status.EXPIRED: "Expirée",
    Status.REVIEW: "À vérifier",
    Status.REFUSED: "Refusée",
}
# Only a proven mailbox holds a seat: invented addresses cannot empty an event.
SEAT_HOLDING = (Status.CONFIRMED,)
# Unconfirmed registrations that expire at the end of their hold time (a waiting-list row
# is unconfirmed only if it dates from before seats went to proven mailboxes).
AWAITING_ADDRESS = (Status.PENDING, Status.WAITLISTED, Status.REVIEW)
# Registrations still alive: a new submission for the same address is a duplicate.
ACTIVE = (Status.PENDING, Status.CONFIRMED, Status.WAITLISTED, Status.REVIEW)
# The rows of the expiry index: unconfirmed, in AWAITING_ADDRESS (kept in step with it).
AWAITING_EXPIRY = text(
    "email_confirmed_at IS NULL AND expires_at IS NOT NULL"
    " AND status IN ('pending', 'waitlisted', 'review')"
)

# The rows of the arrivals' index: those checked in at the door.
CHECKED_IN = text("checked_in_at IS NOT NULL")


def _str_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """Stored as VARCHAR with a CHECK constraint: portable, and no ALTER TYPE to add a value."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


def overdue(
    status: Status, email_confirmed_at: datetime | None, expires_at: datetime | None, now: datetime
) -> bool:
    """A registration still waiting for its address past its hold time: expired, even
    before anything recorded it."""
    return (
        status in AWAITING_ADDRESS
        and email_confirmed_at is None
        and expires_at is not None
        and expires_at <= now
    )


class AsShown:
    """What the pages read of a registration held as a plain value (a read-only view):
    its name and the status it has now. The dataclass using it declares the fields."""

    first_name: str
    last_name: str
    status: Status
    email_confirmed_at: datetime | None
    expires_at: datetime | None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def status_at(self, now: datetime) -> Status:
        """Expired once past its hold time unconfirmed, before the job records it."""
        expired = overdue(self.status, self.email_confirmed_at, self.expires_at, now)
        return Status.EXPIRED if expired else self.status


def new_public_id() -> str:
    """The registration's id in its links: random, never its row number."""
    return secrets.token_hex(16)


class EventRecord(Base):
    """The database side of an event: the seat counter, and what admins changed.

    The content file gives the initial number of places; `capacity_override` replaces it
    only once an admin set it (`capacity_overridden`), so that editing the file still works.
    """

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("seats_taken >= 0", name="seats_taken_non_negative"),
        CheckConstraint(
            "capacity_override IS NULL OR capacity_override >= 0", name="capacity_non_negative"
        ),
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    capacity_override: Mapped[int | None] = mapped_column(Integer)
    capacity_overridden: Mapped[bool] = mapped_column(default=False)
    seats_taken: Mapped[int] = mapped_column(default=0)
    is_open: Mapped[bool] = mapped_column(default=True)
    public_notice: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


# What the attendee list's search reads first: every field it searches, lower-cased, in one
# text (with "first last" as it is searched). On PostgreSQL, revision d8e2f4a6b1c3 puts it in
# a trigram index, `ix_attendees_search_trgm`, where pg_trgm can be created: the index is in
# no model, since whether it exists depends on the server.
SEARCH_TEXT = "lower(first_name || ' ' || last_name || ' ' || email || ' ' || employer)"


class Registration(Base):
    """One agent's registration to one event, whatever its status, cancelled and expired too.

    The table keeps the name of the first schema (`attendees`).
    """

    __tablename__ = "attendees"
    __table_args__ = (
        UniqueConstraint("event_id", "email", name="uq_attendees_event_email"),
        # With the address's confirmation: the confirmed waiting list, counted from the index.
        Index("ix_attendees_event_status", "event_id", "status", "email_confirmed_at"),
        # The exports' and the attendee list's order; the dashboard's counts per
        # administration and per day, read from the indexes alone.
        Index("ix_attendees_event_name", "event_id", "last_name", "first_name", "id"),
        Index("ix_attendees_event_employer", "event_id", "employer", "status"),
        Index("ix_attendees_event_created", "event_id", "created_at"),
        # SQLite: the dashboard counts the answers from this index alone, in its order
        # (GROUP BY answers, status), without reading the rows; status comes after answers
        # so that the counts per status keep ix_attendees_event_status. PostgreSQL cannot
        # put `json` in a B-tree, and reads its table as fast (measured): it has none.
        Index("ix_attendees_event_answers", "event_id", "answers", "status").ddl_if(
            dialect="sqlite"
        ),
        # The arrivals at the door, counted from the index alone (the dashboard, live), the
        # confirmed ones only: with status in it, SQLite takes this index for that count
        # rather than (event, status), which read every confirmed row (+20 ms at 100,000).
        # Partial: a new registration (not arrived) costs the sign-up no index write.
        Index(
            "ix_attendees_event_checked_in",
            "event_id",
            "status",
            postgresql_where=CHECKED_IN,
            sqlite_where=CHECKED_IN,
        ),
        # What `flask registrations expire` looks for: only the unconfirmed registrations
        # still waiting for their address, so its size follows them, not the whole table.
        Index(
            "ix_attendees_awaiting_expiry",
            "event_id",
            "expires_at",
            postgresql_where=AWAITING_EXPIRY,
            sqlite_where=AWAITING_EXPIRY,
        ),
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    event_id: Mapped[int] = mapped_column(BigKey, ForeignKey("events.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    employer: Mapped[str] = mapped_column(String(200))
    job_title: Mapped[str] = mapped_column(String(200))
    # Answers to the event's questions, by question id: a text, or a list for multiple choice.
    answers: Mapped[dict[str, str | list[str]]] = mapped_column(JSON, default=dict)
    accessibility_needs: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(_str_enum(Status, "attendee_status"))
    # Manual verification: the agent's justification, the organiser's decision.
    justification: Mapped[str] = mapped_column(Text, default="")
    review_message: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str] = mapped_column(String(254), default="")
    reviewed_at: Mapped[datetime | None]
    # When the last "you are already registered" notice went out: one a day at most.
    duplicate_notice_at: Mapped[datetime | None]
    email_confirmed_at: Mapped[datetime | None]
    # Registered through ProConnect: a public agent by its `roles`, the address verified.
    via_proconnect: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The arrival at the door (check-in): when, and which staff account recorded it.
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[int | None] = mapped_column(
        BigKey, ForeignKey("users.id", ondelete="SET NULL")
    )

    event: Mapped[EventRecord] = relationship()
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="registration", order_by="StatusChange.id", cascade="all, delete-orphan"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def move_to(self, status: Status, reason: str, now: datetime) -> StatusChange:
        """Change status, and say why in the history."""
        self.status = status
        self.updated_at = now
        return self.record(status, reason, now)

    def record(self, status: Status, reason: str, now: datetime) -> StatusChange:
        """Add a line to the history. Its rows are added without reading the earlier ones
        (appending to the collection would load it first)."""
        change = StatusChange(status=status, reason=reason, at=now)
        session = object_session(self)
        if session is None or "history" not in inspect(self).unloaded:
            self.history.append(change)
        else:
            change.registration = self
            session.add(change)
        return change

    def is_overdue(self, now: datetime) -> bool:
        """Unconfirmed past its hold time: expired, even before anything recorded it."""
        return overdue(self.status, self.email_confirmed_at, self.expires_at, now)

    def status_at(self, now: datetime) -> Status:
        return Status.EXPIRED if self.is_overdue(now) else self.status


class StatusChange(Base):
    __tablename__ = "attendee_status_changes"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    attendee_id: Mapped[int] = mapped_column(
        BigKey, ForeignKey("attendees.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[Status] = mapped_column(_str_enum(Status, "status_change_status"))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]

    registration: Mapped[Registration] = relationship(back_populates="history")


class EventDomain(Base):
    """A domain an organiser accepted for one event, while accepting a verification request."""

    __tablename__ = "event_domains"
    __table_args__ = (UniqueConstraint("event_id", "domain", name="uq_event_domains_event_domain"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigKey, ForeignKey("events.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    added_by: Mapped[str] = mapped_column(String(254))
    added_at: Mapped[datetime]


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """A message owed to someone, written in the transaction that causes it.

    It holds its kind and the parameters of its templates (`params`: the event's slug, what
    the templates read of the registration, the links' tokens); the deliverer renders it.
    Rows queued before revision b5d0f3a9c1e7 hold their rendering instead (`body_text`,
    `body_html`, `ics`), and go out as they are.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    attendee_id: Mapped[int | None] = mapped_column(
        BigKey, ForeignKey("attendees.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        _str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class Role(enum.StrEnum):
    ORGANISER = "organiser"  # reads attendees, exports
    ADMIN = "admin"  # everything, plus closing, capacity and accounts

    @property
    def label(self) -> str:
        return {"organiser": "Organisateur", "admin": "Administrateur"}[self.value]


class User(Base):
    """An organiser or admin account (Flask-Login user)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[Role] = mapped_column(_str_enum(Role, "user_role"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime | None]
    # Part of every session's id: moving it on ends every session and remember-me cookie
    # opened before (sign-out, a new password, a disabled account).
    session_version: Mapped[int] = mapped_column(default=0)

    # Flask-Login's interface
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """What the session and the remember-me cookie hold: "id:version" (Flask-Login's
        alternative tokens); the user loader refuses a version that has moved on."""
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Every session and remember-me cookie of this account stops working."""
        self.session_version = (self.session_version or 0) + 1

    @validates("password_hash", "active")
    def _end_sessions_on_change(self, key: str, value: object) -> object:
        # A new password or a disabled account ends every session, whichever code path
        # sets it, in the same transaction. Setting the first password ends nothing.
        replacing_password = key == "password_hash" and self.password_hash not in (None, value)
        disabling = key == "active" and value is False and self.active is not False
        if replacing_password or disabling:
            self.end_sessions()
        return value

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class AuditEntry(Base):
    """Who did what, when: every admin action and every export. Kept."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    event_slug: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[str] = mapped_column(Text, default="")


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Alembic autogenerate: UTCDateTime is a plain timezone-aware DateTime in the schema."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
