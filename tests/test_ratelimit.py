"""Rate limits with Redis (registration.config, RATELIMIT_*): Redis down stops neither
registrations nor sign-ins; Redis up, the limits hold across instances."""

from __future__ import annotations

import logging
import secrets

import pytest
import redis

from registration.extensions import limiter
from registration.models import Status

from .conftest import REDIS_URL, unavailable
from .factories import form_data, make_user, register_url, registrations, sign_in

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def fresh_limiter(monkeypatch):
    """The one Limiter of the process remembers a dead storage, and the first key prefix it
    was given: start each test from neither, and put them back afterwards."""
    monkeypatch.setattr(limiter, "_storage_dead", False)
    monkeypatch.setattr(limiter, "_key_prefix", "")
    return limiter


def fallback_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "flask-limiter" and r.levelno == logging.WARNING
    ]


def test_registration_goes_through_with_redis_down(make_app, event, fresh_limiter, caplog):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=DEAD_REDIS)
    client = app.test_client()
    response = client.post(register_url(event), data=form_data())
    assert response.status_code == 302
    assert [r.status for r in registrations(app)] == [Status.PENDING]
    assert fallback_warnings(caplog) == [
        "Rate limit storage unreachable - falling back to in-memory storage"
    ]


def test_sign_in_goes_through_with_redis_down(make_app, fresh_limiter, caplog):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=DEAD_REDIS)
    make_user(app, "orga@numerique.gouv.fr")
    # a failed attempt is counted after the response: that counting must not fail either
    assert sign_in(app.test_client(), "orga@numerique.gouv.fr", "faux").status_code == 200
    response = sign_in(app.test_client(), "orga@numerique.gouv.fr")
    assert response.status_code == 302 and response.headers["Location"] == "/organisation/"
    assert fallback_warnings(caplog)


def test_with_redis_down_each_process_still_counts_on_its_own(make_app, event, fresh_limiter):
    """Fails open as far as sharing goes, not further: the limit holds within a process."""
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=DEAD_REDIS,
        REGISTRATION_RATE_LIMIT="2 per minute",
    )
    client = app.test_client()
    codes = [
        client.post(register_url(event), data=form_data(email=f"a{i}@numerique.gouv.fr"))
        for i in range(3)
    ]
    assert [response.status_code for response in codes] == [302, 302, 429]


def test_a_dead_redis_is_given_up_on_quickly(make_app, fresh_limiter):
    """A Redis that never answers (a lost host, not a refused port) costs half a second."""
    make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=DEAD_REDIS)
    options = limiter.storage.storage.connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] == 0.5 and options["socket_timeout"] == 0.5


def live_redis() -> redis.Redis:
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        store.ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    return store


def test_with_redis_up_the_limits_hold_across_instances(make_app, event, fresh_limiter, caplog):
    """Two app instances stand for two gunicorn workers; the counters live under a prefix of
    this test's own, removed afterwards (the Redis database is shared: nothing else is
    touched, nothing is flushed)."""
    store = live_redis()
    prefix = f"test-inscriptions-{secrets.token_hex(8)}"
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "REGISTRATION_RATE_LIMIT": "2 per minute",
        "SIGNIN_RATE_LIMIT": "2 per minute",
    }
    try:
        first, second = make_app(**settings), make_app(**settings)
        make_user(first, "orga@numerique.gouv.fr")
        clients = [first.test_client(), second.test_client(), first.test_client()]
        registering = [
            client.post(register_url(event), data=form_data(email=f"r{i}@numerique.gouv.fr"))
            for i, client in enumerate(clients)
        ]
        assert [r.status_code for r in registering] == [302, 302, 429]
        signing_in = [sign_in(client, "orga@numerique.gouv.fr", "faux") for client in clients]
        assert [r.status_code for r in signing_in] == [200, 200, 429]
        assert list(store.scan_iter(match=f"*{prefix}*")), "the counters are under our prefix"
        assert not fallback_warnings(caplog)
    finally:
        for key in store.scan_iter(match=f"*{prefix}*"):
            store.delete(key)
        store.close()
