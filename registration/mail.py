"""The outbox: every message is written in the transaction that causes it, sent by a worker.

`queue()` writes a message into the outbox table, in the caller's transaction: its kind and
the parameters of its templates, nothing rendered (no template, no .ics while the caller
holds its locks). The deliverer renders it from templates/email/ when it sends it. No web
request talks to SMTP: `flask outbox worker`, a long-running process, sends each message
within about a second of its commit (woken by LISTEN/NOTIFY on PostgreSQL, polling on
SQLite), and `flask outbox deliver` sends whatever is due once, for cron.

Delivery is at least once. A message is claimed (FOR UPDATE SKIP LOCKED on PostgreSQL, under
BEGIN IMMEDIATE on SQLite), sent, then marked sent. A worker that dies in between leaves its
claim behind; another worker takes it back after STALE_CLAIM and sends the message again,
with the same Message-ID, fixed when queued, so that a duplicate can be recognised. A live
worker renews the claims it holds, so that they never go stale.
"""

from __future__ import annotations

import email.policy
import functools
import logging
import smtplib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import idna
from flask import current_app, render_template
from flask_mail import Connection
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    bindparam,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection as DBConnection
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from . import clock, content, links
from .checkin import codes as checkin_codes
from .content import Event
from .dates import PARIS
from .db import transaction
from .extensions import db
from .models import ACTIVE, OutboxMessage, OutboxStatus, Registration, Status, StatusChange

if TYPE_CHECKING:  # imported where used: a web worker's start-up need not pay for them
    import psycopg
    from icalendar import Timezone
    from psycopg.rows import TupleRow

SUBJECTS = {
    "confirm_address": "Confirmez votre inscription : {title}",
    "confirmed": "Inscription confirmée : {title}",
    "waitlisted": "Vous êtes sur liste d’attente : {title}",
    "promoted": "Une place s’est libérée pour vous : {title}",
    "cancelled": "Inscription annulée : {title}",
    "cancelled_by_organiser": "Inscription annulée par l’équipe organisatrice : {title}",
    "duplicate": "Rappel de votre inscription : {title}",
    "reminder": "Rappel : {title}, bientôt",
    "review_received": "Votre demande sera vérifiée : {title}",
    "review_accepted": "Votre demande d’inscription est acceptée : {title}",
    "review_refused": "Votre demande d’inscription n’est pas acceptée : {title}",
}
STALE_CLAIM = timedelta(minutes=1)
# A worker renews its claims this often, so a send that runs into MAIL_TIMEOUT a few times
# still ends well before its claim could be taken back.
RENEW_CLAIM = timedelta(seconds=15)
CHANNEL = "outbox"
WORKER_BATCH = 20
SQLITE_POLL = 0.5  # seconds between two looks at the outbox on SQLite
LISTEN_TIMEOUT = 2.0  # on PostgreSQL, the longest wait for a NOTIFY before looking anyway
SMTPUTF8_REFUSED = (
    "Adresse avec des caractères non ASCII avant le « @ » : le serveur SMTP ne propose pas "
    "SMTPUTF8, ce message ne peut pas lui être remis."
)

log = logging.getLogger(__name__)


def external_url(endpoint: str, **values: object) -> str:
    """An absolute link on the public address the service answers at, with or without a
    request (the reminders run from the command line)."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def _sender_domain() -> str:
    return _domain_of(current_app.config["MAIL_DEFAULT_SENDER"])


@functools.lru_cache(maxsize=8)
def _domain_of(sender: str) -> str:
    """The domain of a sender's address (parsed once: every queued message asks)."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def new_calendar_uid(public_id: str) -> str:
    """A registration's calendar UID, chosen when its first calendar message is queued and
    kept for good (see `_calendar_uid`): on the host of the service's public address."""
    return f"{public_id}@{urlsplit(current_app.config['PUBLIC_BASE_URL']).hostname or 'localhost'}"


def legacy_calendar_uid(public_id: str) -> str:
    """The UID of a message queued before the UID was stored in its parameters: computed, as
    it always was, with the sender's domain when it is sent."""
    return f"{public_id}@{_sender_domain()}"


def calendar_invite(
    event: Event,
    public_id: str,
    *,
    sequence: int = 0,
    cancel: bool = False,
    uid: str | None = None,
    attendee: tuple[str, str] | None = None,
) -> str:
    """An .ics with a VTIMEZONE and a UID stable for the registration: the invitation
    (METHOD:REQUEST), or its cancellation (METHOD:CANCEL, same UID, a higher SEQUENCE), which
    takes the event out of the agent's calendar. Both name the ORGANIZER and the agent as
    ATTENDEE (`attendee`: their address and name), which iTIP requires and Gmail needs to
    honour the cancellation."""
    from icalendar import Calendar, vCalAddress
    from icalendar import Event as CalendarEvent

    cal = Calendar()
    cal.add("prodid", "-//inscriptions//FR")
    cal.add("version", "2.0")
    # REQUEST, not PUBLISH: Google Calendar removes an event on a CANCEL only if it came as
    # a REQUEST, and RFC 5546 allows no ATTENDEE in a PUBLISH.
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    entry = CalendarEvent()
    entry.add("uid", uid or legacy_calendar_uid(public_id))
    entry.add("sequence", sequence)
    entry.add("dtstamp", clock.now())
    entry.add("dtstart", event.start.astimezone(PARIS))
    entry.add("dtend", event.ends_at.astimezone(PARIS))
    entry.add("summary", event.title)
    entry.add("location", ", ".join(p for p in (event.place, event.address) if p))
    entry.add("description", event.chapeau)
    entry.add("url", external_url("public.event", slug=event.slug))
    entry.add("organizer", _organizer(event))
    if attendee is not None:
        address, name = attendee
        guest = vCalAddress(f"mailto:{_ascii_domain(address)}")
        if name:
            guest.params["CN"] = name
        guest.params["ROLE"] = "REQ-PARTICIPANT"
        # Registered already: nothing to answer (no RSVP buttons to press, no reply expected).
        guest.params["PARTSTAT"] = "ACCEPTED"
        guest.params["RSVP"] = "FALSE"
        entry.add("attendee", guest)
    if cancel:
        entry.add("status", "CANCELLED")
        entry.add("comment", "Votre inscription à cet événement est annulée.")
    cal.add_component(entry)
    # What add_missing_timezones() does, with each VTIMEZONE built once per process: building
    # Europe/Paris's took most of the invitation's time.
    for tzid in sorted(cal.get_missing_tzids()):
        cal.subcomponents.insert(len(cal.timezones), _vtimezone(tzid))
    return str(cal.to_ical().decode("utf-8"))


def _organizer(event: Event) -> Any:
    """The event's contact, else the sender's address; named after the organiser."""
    from icalendar import vCalAddress

    sender_name, sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    organizer = vCalAddress(f"mailto:{_ascii_domain(event.contact or sender)}")
    name = event.organiser or sender_name
    if name:
        organizer.params["CN"] = name[:1].upper() + name[1:]
    return organizer


def calendar_method(ics: str) -> str:
    """The iTIP method an .ics declares (PUBLISH when it says none), for its MIME part."""
    for line in ics.splitlines():
        if line.upper().startswith("METHOD:"):
            return line.partition(":")[2].strip().upper()
    return "PUBLISH"


# The span of the VTIMEZONE's rules: the calendar says it, in French.
TZ_FIRST, TZ_LAST = date(1970, 1, 1), date(2038, 1, 1)


@functools.lru_cache(maxsize=8)
def _vtimezone(tzid: str) -> Timezone:
    from icalendar import Timezone

    timezone = Timezone.from_tzid(tzid, first_date=TZ_FIRST, last_date=TZ_LAST)
    # icalendar writes its COMMENT in English
    timezone.pop("COMMENT", None)
    timezone.add(
        "comment",
        f"Ce fuseau horaire n’est décrit que du {TZ_FIRST:%d/%m/%Y} au {TZ_LAST:%d/%m/%Y}.",
    )
    return timezone


@dataclass(frozen=True)
class MailRegistration:
    """What the templates read of a registration, as it was when the message was queued:
    a message says what happened then, whatever happened since."""

    public_id: str
    first_name: str
    last_name: str
    status: Status
    review_message: str
    email_confirmed_at: datetime | None

    @classmethod
    def of(cls, registration: Registration) -> MailRegistration:
        return cls(
            public_id=registration.public_id,
            first_name=registration.first_name,
            last_name=registration.last_name,
            status=registration.status,
            review_message=registration.review_message or "",
            email_confirmed_at=registration.email_confirmed_at,
        )

    def as_json(self) -> dict[str, str | None]:
        confirmed = self.email_confirmed_at
        return {
            "public_id": self.public_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "status": self.status.value,
            "review_message": self.review_message,
            "email_confirmed_at": confirmed.isoformat() if confirmed else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MailRegistration:
        confirmed = data["email_confirmed_at"]
        return cls(
            public_id=data["public_id"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            status=Status(data["status"]),
            review_message=data["review_message"],
            email_confirmed_at=datetime.fromisoformat(confirmed) if confirmed else None,
        )


# Only a held seat comes with an invitation for the agenda; the cancellation of a
# registration that had one takes it out again.
WITH_INVITE = frozenset({"confirmed", "reminder", "promoted"})
# The agent's own cancellation, and the organisers': the same .ics, different words.
CANCELLATIONS = frozenset({"cancelled", "cancelled_by_organiser"})
WITH_CALENDAR = WITH_INVITE | {"review_accepted"} | CANCELLATIONS


# Built once: the invitation's read sits in a confirmation's transaction.
def _cancellations(attendee: Any) -> Any:
    """How many times the registration `attendee` (a column or a bound id) was cancelled."""
    return (
        select(func.count())
        .where(StatusChange.attendee_id == attendee, StatusChange.status == Status.CANCELLED)
        .scalar_subquery()
    )


_HISTORY = (
    select(StatusChange.status)
    .where(StatusChange.attendee_id == bindparam("attendee"))
    .order_by(StatusChange.id)
)


def _last_calendar(column: Any, attendee: Any) -> Any:
    """`column` of the latest calendar message of the registration `attendee` (a column or a
    bound id)."""
    return (
        select(column)
        .where(
            OutboxMessage.attendee_id == attendee,
            OutboxMessage.kind.in_(sorted(WITH_CALENDAR)),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def invitation_state(attendee: Any) -> tuple[Any, Any, Any]:
    """What an invitation needs to know of the registration `attendee` (a column or a bound
    id): its cancellations, and its latest calendar message's parameters and .ics. As columns,
    so that a confirmation reads them with the registration itself, in the same round trip."""
    return (
        _cancellations(attendee).label("cancellations"),
        _last_calendar(OutboxMessage.params, attendee).label("calendar_params"),
        _last_calendar(OutboxMessage.ics, attendee).label("calendar_ics"),
    )


_ATTENDEE: BindParameter[int] = bindparam("attendee")
_LAST_CALENDAR = select(
    _last_calendar(OutboxMessage.params, _ATTENDEE), _last_calendar(OutboxMessage.ics, _ATTENDEE)
)
# An invitation's read, in one round trip (it sits in a confirmation's transaction).
_INVITATION_STATE = select(*invitation_state(_ATTENDEE))


def _calendar_uid(
    connection: DBConnection, attendee_id: int, public_id: str, last: Any = None
) -> str:
    """The UID the registration's calendar messages carry, fixed when the first is queued:
    the one its latest calendar message gave (stored in its parameters, read in its .ics if
    it was rendered when queued, or, queued before the UID was stored, the sender's domain as
    it renders it), else a new one. So neither MAIL_DEFAULT_SENDER nor PUBLIC_BASE_URL
    changing between an invitation and its cancellation breaks the match."""
    params, ics = last or connection.execute(_LAST_CALENDAR, {"attendee": attendee_id}).one()
    if params is None and ics is None:
        return new_calendar_uid(public_id)
    if ics:
        unfolded = str(ics).replace("\r\n ", "").replace("\n ", "")
        for line in unfolded.splitlines():
            if line.upper().startswith("UID:"):
                return line[4:].strip()
    stored = ((params or {}).get("calendar") or {}).get("uid")
    return str(stored) if stored else legacy_calendar_uid(public_id)


def _calendar_params(
    connection: DBConnection,
    kind: str,
    attendee_id: int,
    public_id: str,
    invitation: tuple[Any, Any, Any] | None = None,
) -> dict[str, Any]:
    """Where the registration's calendar entry stands, from its history: each round (sign-up
    to cancellation) raises the SEQUENCE by two, so an invitation after a cancellation outdoes
    it; `invited` says whether the round just cancelled held a seat, and so had an invitation;
    `uid` is the entry's UID. `invitation`: invitation_state() as the caller read it already."""
    if kind not in CANCELLATIONS:
        state = invitation or connection.execute(_INVITATION_STATE, {"attendee": attendee_id}).one()
        count, *last = state
        uid = _calendar_uid(connection, attendee_id, public_id, last)
        return {"cancellations": int(count), "invited": False, "uid": uid}
    uid = _calendar_uid(connection, attendee_id, public_id)
    cancellations, held, invited = 0, False, False
    for status in connection.execute(_HISTORY, {"attendee": attendee_id}).scalars():
        if status == Status.CONFIRMED:
            held = True
        elif status == Status.CANCELLED:
            cancellations, invited, held = cancellations + 1, held, False
    return {"cancellations": cancellations, "invited": invited, "uid": uid}


def _values(
    kind: str,
    event: Event,
    registration: MailRegistration,
    recipient: str,
    calendar: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An outbox row: the message's kind and its templates' parameters, fixed now. The
    links' tokens are signed now, as they always were (a confirmation link's age counts
    from the e-mail that carries it)."""
    now = clock.now()
    return {
        "kind": kind,
        "recipient": recipient,
        "subject": SUBJECTS[kind].format(title=event.title),
        "params": {
            "event": event.slug,
            "registration": registration.as_json(),
            "confirm_token": links.confirm_token(registration),
            "manage_token": links.manage_token(registration),
            **({"calendar": calendar} if calendar is not None else {}),
        },
        "message_id": make_msgid(domain=_sender_domain()),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "last_error": "",
        "created_at": now,
        "next_attempt_at": now,
    }


def _calendar_of(
    kind: str,
    connection: DBConnection,
    attendee_id: int,
    public_id: str,
    invitation: tuple[Any, Any, Any] | None = None,
) -> dict[str, Any] | None:
    if kind not in WITH_CALENDAR:
        return None
    return _calendar_params(connection, kind, attendee_id, public_id, invitation)


def queue(session: Session, kind: str, event: Event, registration: Registration) -> OutboxMessage:
    """Queue a message about a registration, in the caller's transaction: its kind and its
    templates' parameters. The deliverer renders it."""
    if registration.id is None or kind in WITH_CALENDAR:
        session.flush()  # a new registration's ids, or its latest history line
    calendar = _calendar_of(kind, session.connection(), registration.id, registration.public_id)
    values = _values(kind, event, MailRegistration.of(registration), registration.email, calendar)
    message = OutboxMessage(attendee_id=registration.id, **values)
    session.add(message)
    notify(session)
    return message


_INSERT = insert(OutboxMessage).returning(OutboxMessage.id)


def queue_row(
    connection: DBConnection,
    kind: str,
    event: Event,
    registration: MailRegistration,
    attendee_id: int,
    recipient: str,
    invitation: tuple[Any, Any, Any] | None = None,
) -> int:
    """`queue` for a registration written in SQL, on the caller's connection and in its
    transaction (a sign-up's hot path), after its history line. Returns the message's id.
    `invitation`: invitation_state() of the registration, if the caller read it already."""
    calendar = _calendar_of(kind, connection, attendee_id, registration.public_id, invitation)
    values = _values(kind, event, registration, recipient, calendar)
    message_id = connection.execute(_INSERT, {**values, "attendee_id": attendee_id}).scalar_one()
    wake_on_commit(connection)
    return int(message_id)


def requeue_row(
    connection: DBConnection,
    message_id: int,
    kind: str,
    event: Event,
    registration: MailRegistration,
) -> None:
    """The message queued in this transaction becomes another kind (the outcome changed
    before the commit): same row, same Message-ID."""
    calendar = None
    if kind in WITH_CALENDAR:
        attendee_id = connection.execute(
            select(OutboxMessage.attendee_id).where(OutboxMessage.id == message_id)
        ).scalar_one()
        if attendee_id is not None:
            calendar = _calendar_params(connection, kind, attendee_id, registration.public_id)
    values = _values(kind, event, registration, "", calendar)
    connection.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(kind=kind, subject=values["subject"], params=values["params"])
    )


# Set on a database connection whose transaction queued mail, then, at its commit, marked to
# wake the workers once it is back in the pool.
_QUEUED = "outbox_queued"
_WAKE = "outbox_wake"


def notify(session: Session) -> None:
    """Wake the outbox workers once this transaction commits (PostgreSQL; SQLite polls)."""
    wake_on_commit(session.connection())


def wake_on_commit(connection: DBConnection) -> None:
    """Wake the outbox workers once this connection's transaction commits.

    The NOTIFY goes after the commit, on its own: PostgreSQL serialises the commits of all
    the transactions that notified (one lock, held through the disk flush), which made every
    registration wait for every other one."""
    if connection.dialect.name == "postgresql":
        connection.info[_QUEUED] = True


@sa_event.listens_for(Engine, "commit")
def _wake_after_commit(connection: DBConnection) -> None:
    if connection.info.pop(_QUEUED, False):
        connection.info[_WAKE] = True


@sa_event.listens_for(Engine, "rollback")
def _forget_wake(connection: DBConnection) -> None:
    if connection.invalidated:  # lost (a server restart): its info went with it
        return
    connection.info.pop(_QUEUED, None)
    connection.info.pop(_WAKE, None)


# A process wakes the workers at most this often (seconds). Under a rush of sign-ups each
# commit would otherwise cost one more round trip, two a sign-up; a worker woken a moment
# ago is busy with what was committed then, and looks again when its batch is done or, at the
# latest, LISTEN_TIMEOUT later: a message committed just after a wake-up may wait that long.
WAKE_EVERY = 0.05


class _Woken:
    at = -WAKE_EVERY  # time.monotonic() of this process's last wake-up


@sa_event.listens_for(Pool, "checkin")
def _wake_workers(dbapi_connection: Any, record: Any) -> None:
    """The connection comes back to the pool, its transaction committed: NOTIFY on it, in
    one round trip, without waiting for the disk (a lost wake-up only delays the message
    to the worker's next look, LISTEN_TIMEOUT)."""
    if not record.info.pop(_WAKE, False) or dbapi_connection is None:
        return
    now = time.monotonic()
    if now - _Woken.at < WAKE_EVERY:
        return
    _Woken.at = now
    try:
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute(
                f"SET LOCAL synchronous_commit TO OFF; SELECT pg_notify('{CHANNEL}', '')"
            )
        finally:
            dbapi_connection.autocommit = False
    except Exception as exc:  # what was committed stands; the worker looks anyway
        log.warning("réveil du worker impossible : %s", describe(exc).splitlines()[0])


# --- Rendering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A message as it reads: what the deliverer sends."""

    subject: str
    body_text: str
    body_html: str
    ics: str | None
    reply_to: str = ""  # the event's contact; none for a row rendered before it was added


class EventNotFound(Exception):
    """The message's event is not in the content (removed, or its file is broken for now):
    the message waits and is tried again."""


def render(kind: str, subject: str, params: dict[str, Any], recipient: str = "") -> Rendered:
    """Render a queued message from templates/email/, with the event as the content says now;
    `recipient` is the agent's address, the ATTENDEE of its .ics."""
    slug = params["event"]
    event = content.current_site(current_app.config["CONTENT_DIR"]).event(slug)
    if event is None:
        raise EventNotFound(f"événement « {slug} » absent du contenu ou invalide")
    registration = MailRegistration.from_json(params["registration"])
    context: dict[str, Any] = {
        "event": event,
        "registration": registration,
        "event_url": external_url("public.event", slug=slug),
        # No way back to a registration that is over (cancelled, refused, expired).
        "manage_url": external_url("public.manage", slug=slug, token=params["manage_token"])
        if registration.status in ACTIVE
        else None,
        "confirm_url": external_url("public.confirm", slug=slug, token=params["confirm_token"]),
        **checkin_codes.mail_context(kind, params),  # check-in: the code, where it is due
    }
    ics = _calendar_part(kind, event, registration, params.get("calendar"), recipient)
    context["with_calendar"] = ics is not None
    return Rendered(
        subject=subject,
        body_text=render_template(f"email/{kind}.txt", **context),
        body_html=render_template(f"email/{kind}.html", **context),
        ics=ics,
        reply_to=event.contact,
    )


def _calendar_part(
    kind: str,
    event: Event,
    registration: MailRegistration,
    calendar: dict[str, Any] | None,
    recipient: str,
) -> str | None:
    """The invitation for a held seat, or the cancellation of the one sent before. A row
    queued before the calendar parameters existed is the first round: SEQUENCE 0, then 1;
    one queued before the UID was stored gets the UID it always had."""
    cancellations = (calendar or {}).get("cancellations", 0)
    name = f"{registration.first_name} {registration.last_name}".strip()
    common: dict[str, Any] = {
        "uid": (calendar or {}).get("uid"),
        "attendee": (recipient, name) if recipient else None,
    }
    if kind in WITH_INVITE or (
        kind == "review_accepted" and registration.status == Status.CONFIRMED
    ):
        return calendar_invite(event, registration.public_id, sequence=2 * cancellations, **common)
    if kind in CANCELLATIONS and (calendar is None or calendar["invited"]):
        return calendar_invite(
            event,
            registration.public_id,
            sequence=2 * max(cancellations, 1) - 1,
            cancel=True,
            **common,
        )
    return None


def rendered(message: OutboxMessage) -> Rendered:
    """The message as it goes out: its stored rendering if it was queued before rendering
    moved to the deliverer, rendered from its parameters otherwise."""
    return _rendering(
        message.kind,
        message.subject,
        message.params,
        message.body_text,
        message.body_html,
        message.ics,
        message.recipient,
    )


def _rendering(
    kind: str,
    subject: str,
    params: dict[str, Any] | None,
    body_text: str | None,
    body_html: str | None,
    ics: str | None,
    recipient: str,
) -> Rendered:
    if body_text is not None or params is None:
        return Rendered(subject, body_text or "", body_html or "", ics)
    return render(kind, subject, params, recipient)


# --- Delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A message this deliverer holds: (id, attempts) tells its claim from a later one."""

    id: int
    attempts: int
    kind: str
    recipient: str
    subject: str
    params: dict[str, Any] | None
    body_text: str | None  # rows queued before rendering moved here hold their rendering
    body_html: str | None
    ics: str | None
    message_id: str
    created_at: datetime

    @classmethod
    def of(cls, row: OutboxMessage) -> Claim:
        return cls(
            id=row.id,
            attempts=row.attempts,
            kind=row.kind,
            recipient=row.recipient,
            subject=row.subject,
            params=row.params,
            body_text=row.body_text,
            body_html=row.body_html,
            ics=row.ics,
            message_id=row.message_id,
            created_at=row.created_at,
        )

    def rendered(self) -> Rendered:
        return _rendering(
            self.kind,
            self.subject,
            self.params,
            self.body_text,
            self.body_html,
            self.ics,
            self.recipient,
        )


class Undeliverable(Exception):
    """This message can never be sent as it is: it fails at once, with this French reason."""


class Unreachable(Exception):
    """The SMTP server could not be reached: nothing more is sent in this batch."""


def as_email(claim: Claim) -> EmailMessage:
    """The message as it leaves, rendered now: the Message-ID is the one fixed when it was
    queued."""
    rendering = claim.rendered()
    message = EmailMessage()
    message["Subject"] = rendering.subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = _ascii_domain(claim.recipient)
    message["Date"] = format_datetime(clock.now().astimezone(PARIS))
    message["Message-ID"] = claim.message_id
    if rendering.reply_to:
        message["Reply-To"] = _ascii_domain(rendering.reply_to)
    message.set_content(rendering.body_text)
    if rendering.body_html:
        message.add_alternative(rendering.body_html, subtype="html")
        checkin_codes.attach_to_email(message, claim.kind, claim.params)  # check-in: the QR
    if rendering.ics:
        method = calendar_method(rendering.ics)
        message.add_attachment(
            rendering.ics,
            subtype="calendar",
            filename="annulation.ics" if method == "CANCEL" else "invitation.ics",
            params={"method": method},
        )
    return message


def _ascii_domain(address: str) -> str:
    """An internationalised domain goes as IDNA, which every server takes."""
    local, _, domain = address.rpartition("@")
    return address if domain.isascii() else f"{local}@{idna.encode(domain, uts46=True).decode()}"


def _international(message: EmailMessage) -> bool:
    """True when an address needs SMTPUTF8: a local part beyond ASCII (a display name with
    accents does not: it is encoded in the header, as always)."""
    addresses = [*message["From"].addresses, *message["To"].addresses]
    return not all(a.addr_spec.isascii() for a in addresses)


def _write_file(message: EmailMessage, claim: Claim) -> None:
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{claim.created_at:%Y%m%d-%H%M%S}-{claim.id:06d}-{claim.kind}.eml"
    policy = email.policy.SMTPUTF8 if _international(message) else email.policy.SMTP
    # Written aside, then renamed: a reader of the folder never sees half a message.
    partial = folder / f".{name}.partial"
    partial.write_bytes(message.as_bytes(policy=policy))
    partial.replace(folder / name)


class TimeoutConnection(Connection):
    """Flask-Mail's connection to the server its settings name (MAIL_SERVER, MAIL_PORT, TLS or
    SSL, login), with what Flask-Mail leaves out: a timeout on every socket operation, so a
    silent server cannot hold the worker, and EHLO again after STARTTLS."""

    def configure_host(self) -> smtplib.SMTP:
        timeout = current_app.config["MAIL_TIMEOUT"]
        smtp_class = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp_class(self.mail.server, self.mail.port, timeout=timeout)
        host.ehlo()
        if self.mail.use_tls:
            host.starttls()
            host.ehlo()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class SMTPConnection:
    """The batch's connection: opened when first needed, and again after a message broke it.

    Flask-Mail opens it; the stdlib's send_message sends, because it speaks SMTPUTF8 when an
    address needs it (Flask-Mail's own send cannot even format such an address).
    """

    def __init__(self) -> None:
        self.host: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        try:
            return TimeoutConnection(current_app.extensions["mail"]).configure_host()
        except (smtplib.SMTPException, OSError) as exc:
            raise Unreachable(describe(exc)) from exc

    def send(self, message: EmailMessage) -> None:
        if self.host is None:
            self.host = self._open()
        if _international(message) and not self.host.has_extn("smtputf8"):
            raise Undeliverable(SMTPUTF8_REFUSED)
        self.host.send_message(message)

    def reset(self) -> None:
        """After a failed message: clear the transaction, or drop a connection that broke."""
        if self.host is None:
            return
        try:
            self.host.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            self.host.close()
        self.host = None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _due() -> ColumnElement[bool]:
    now = clock.now()
    return or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
        # a deliverer that died mid-send leaves a claim behind: take it back
        (OutboxMessage.status == OutboxStatus.SENDING)
        & (OutboxMessage.claimed_at < now - STALE_CLAIM),
    )


def _claim(limit: int) -> list[Claim]:
    now = clock.now()
    query = (
        select(OutboxMessage)
        .where(_due())
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with transaction() as session:
        rows = list(session.scalars(query))
        for row in rows:
            row.status = OutboxStatus.SENDING
            row.claimed_at = now
            row.attempts += 1
        session.flush()
        return [Claim.of(row) for row in rows]


def _ours(claims: list[Claim]) -> ColumnElement[bool]:
    """The rows still under these very claims (a claim taken back has more attempts)."""
    return (OutboxMessage.status == OutboxStatus.SENDING) & tuple_(
        OutboxMessage.id, OutboxMessage.attempts
    ).in_([(c.id, c.attempts) for c in claims])


def _renew(claims: list[Claim]) -> list[Claim]:
    """Refresh the claims still held; those another deliverer took back are dropped."""
    with transaction() as session:
        kept = set(
            session.scalars(
                update(OutboxMessage)
                .where(_ours(claims))
                .values(claimed_at=clock.now())
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
        )
    return [c for c in claims if c.id in kept]


def _release(claims: list[Claim]) -> None:
    """Give back claims not tried: they go out first, as if never claimed."""
    with transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(_ours(claims))
            .values(status=OutboxStatus.PENDING, attempts=OutboxMessage.attempts - 1)
            .execution_options(synchronize_session=False)
        )


def _settle(claim: Claim, error: str | None, final: bool = False) -> str:
    now = clock.now()
    if error is None:
        values: dict[str, object] = {
            "status": OutboxStatus.SENT,
            "sent_at": now,
            "last_error": "",
        }
    elif final or claim.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        values = {"status": OutboxStatus.FAILED, "last_error": error}
    else:
        backoff = timedelta(minutes=2 ** (claim.attempts - 1))
        values = {
            "status": OutboxStatus.PENDING,
            "last_error": error,
            "next_attempt_at": now + backoff,
        }
    with transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(_ours([claim]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if error is not None:
        # Never the address in the logs: the message id leads to it for those allowed.
        outcome = "en échec" if values["status"] == OutboxStatus.FAILED else "à réessayer"
        log.warning("message %s %s : %s", claim.id, outcome, error.split(":")[0])
    return str(values["status"])


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0  # claimed, then given back untried because the worker was stopping

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.failed + self.released


def deliver(limit: int = 200, should_stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
    """Claim up to `limit` due messages and send them, one after the other.

    Never raises for one message: an SMTP error puts it back in line with a back-off, an
    address the server cannot take fails it at once, anything unexpected is settled like an
    SMTP error, and the batch goes on. When `should_stop()` turns true, the message in hand
    is finished and the others are given back.
    """
    held = _claim(limit)
    outcomes: Counter[str] = Counter()
    to_file = current_app.config["MAIL_BACKEND"] == "file"
    connection = SMTPConnection()
    renewed_at = clock.now()
    try:
        while held:
            if should_stop():
                _release(held)
                outcomes["released"] += len(held)
                break
            if clock.now() - renewed_at >= RENEW_CLAIM:
                held, renewed_at = _renew(held), clock.now()
                if not held:
                    break
            claim = held.pop(0)
            try:
                message = as_email(claim)
                if to_file:
                    _write_file(message, claim)
                else:
                    connection.send(message)
            except Undeliverable as exc:
                outcomes[_settle(claim, str(exc), final=True)] += 1
            except Unreachable as exc:
                # The server is down: every message of the batch goes back in line.
                for each in (claim, *held):
                    outcomes[_settle(each, str(exc))] += 1
                held = []
            except Exception as exc:  # one broken message never stops the others
                outcomes[_settle(claim, describe(exc))] += 1
                connection.reset()
            else:
                outcomes[_settle(claim, None)] += 1
    finally:
        connection.close()
    return DeliveryReport(
        sent=outcomes["sent"],
        retrying=outcomes["pending"],
        failed=outcomes["failed"],
        released=outcomes["released"],
    )


def deliver_all(batch: int) -> DeliveryReport:
    """Send everything due now, batch after batch (what `flask outbox deliver` does)."""
    total = DeliveryReport()
    while (report := deliver(limit=batch)).claimed:
        total = DeliveryReport(
            sent=total.sent + report.sent,
            retrying=total.retrying + report.retrying,
            failed=total.failed + report.failed,
        )
    return total


# --- The worker -----------------------------------------------------------------------------


class StopFlag:
    """Set from a signal handler or another thread: a plain attribute, safe at any moment."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def set(self, *_: object) -> None:
        self.requested = True


class _Listener:
    """A PostgreSQL connection of its own, LISTENing on the outbox channel."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[TupleRow] | None = None

    def wait(self, timeout: float) -> None:
        """Until a NOTIFY comes (it fires when a transaction that queued mail commits), or
        `timeout` seconds pass; a lost connection is opened again at the next wait."""
        import psycopg

        try:
            if self.conn is None:
                self.conn = psycopg.connect(self.url, autocommit=True)
                self.conn.execute(f"LISTEN {CHANNEL}")
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as exc:
            log.warning("LISTEN %s interrompu (%s) : relevé toutes les %s s", CHANNEL, exc, timeout)
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def work(stop: Callable[[], bool], batch: int = WORKER_BATCH, poll: float | None = None) -> None:
    """Deliver until `stop()` turns true; the message in hand is finished first.

    On PostgreSQL a NOTIFY wakes the worker as soon as mail is committed, and it looks anyway
    every LISTEN_TIMEOUT seconds (retries fall due, a notification can be missed); on SQLite
    it looks every SQLITE_POLL seconds. A database outage is logged and waited out.
    """
    engine = db.engine
    listener = None
    if engine.dialect.name == "postgresql":
        listener = _Listener(
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
    wait = poll if poll is not None else (LISTEN_TIMEOUT if listener else SQLITE_POLL)
    log.info(
        "worker démarré (%s, lots de %s, %s)",
        engine.dialect.name,
        batch,
        f"LISTEN {CHANNEL} et relevé toutes les {wait} s"
        if listener
        else f"relevé toutes les {wait} s",
    )
    try:
        while not stop():
            try:
                report = deliver(limit=batch, should_stop=stop)
            except Exception as exc:  # the database is down, say: try again later
                # First line only: the statement's parameters may hold an address.
                log.error("envoi interrompu : %s", describe(exc).splitlines()[0])
                report = DeliveryReport()
                time.sleep(wait)
            finally:
                db.session.remove()
            if report.claimed:
                log.info(
                    "envoyés : %s, à réessayer : %s, en échec : %s, rendus : %s",
                    report.sent,
                    report.retrying,
                    report.failed,
                    report.released,
                )
            if report.claimed == batch or stop():
                continue  # more may be due at once
            if listener is not None:
                listener.wait(wait)
            else:
                time.sleep(wait)
    finally:
        if listener is not None:
            listener.close()
        log.info("worker arrêté")


def status_counts() -> tuple[dict[str, int], OutboxMessage | None]:
    """Counts by state, and the last message that met an error."""
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    last_error = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.last_error != "")
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).first()
    return {str(s): counts.get(s, 0) for s in OutboxStatus}, last_error
