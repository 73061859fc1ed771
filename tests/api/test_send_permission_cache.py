"""Send permission is answered from the cache, and never stale: every restriction change and every key revocation
invalidates it when its transaction commits."""

import datetime as dt
import os
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money
from rest_framework.test import APIClient

from api.keys import api_key_create, api_key_revoke
from api.platform import SendPermissionFastPath
from billing import send_permission as permissions
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid
from billing.ledger import ledger_post
from billing.models import EntryKind, Restriction
from billing.restrictions import restriction_lift
from billing.tasks import restrictions_sweep_task
from tests.factories import HubFactory, UserFactory

pytestmark = pytest.mark.postgres
FORGOTTEN_FOR = dt.timedelta(seconds=permissions.FORGOTTEN_SECONDS + 1)

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
BLOCKED = {
    "allowed": False,
    "reasons": [
        {"reason": "CREDIT_BALANCE_DEPLETED", "detail": "Credit balance 0.00 EUR", "since": "2026-11-22T12:00:00+00:00"}
    ],
}


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def key():
    return api_key_create(name="Messaging platform")


@pytest.fixture
def platform(key):
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {key[1]}")


def ask(platform, hub):
    response = platform.get(f"/api/v1/hubs/{hub.hub_id}/send-permission")
    assert response.status_code == 200
    return response.json()


def fund(hub, amount, key):
    return ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money(amount, "EUR"), key=key)


def spend(hub, amount, key):
    return ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money(-amount, "EUR"), key=key)


@pytest.mark.django_db
def test_the_second_answer_comes_from_the_cache_without_a_query(platform, django_assert_num_queries):
    hub = HubFactory()
    with django_assert_num_queries(4):  # the key (and its last use), the hub's id, its restrictions
        assert ask(platform, hub) == BLOCKED

    with django_assert_num_queries(0):
        assert ask(platform, hub) == BLOCKED
        assert ask(platform, hub) == BLOCKED


@pytest.mark.django_db
def test_a_revoked_key_stops_working_at_once(key, platform, django_capture_on_commit_callbacks):
    hub = HubFactory()
    ask(platform, hub)  # the key's lookup is cached now

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(key=key[0])
    response = platform.get(f"/api/v1/hubs/{hub.hub_id}/send-permission")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Unknown or revoked API key."


@pytest.mark.django_db(transaction=True)
def test_a_payment_that_lifts_the_block_is_answered_by_the_very_next_request(
    now, platform, django_assert_num_queries
):
    hub = HubFactory()
    now.shift(FORGOTTEN_FOR)  # the block started when the hub was created: its answer is cached again after this
    assert ask(platform, hub) == BLOCKED
    with django_assert_num_queries(0):
        assert ask(platform, hub) == BLOCKED  # cached

    invoice = topup_issue(hub=hub, amount=Decimal("20.00"), request_key="top-up")
    invoice_mark_paid(invoice=invoice)  # commits: the credit balance crosses 0.00 and the block is lifted

    assert ask(platform, hub) == {"allowed": True}
    now.shift(FORGOTTEN_FOR)
    assert ask(platform, hub) == {"allowed": True}
    with django_assert_num_queries(0):
        assert ask(platform, hub) == {"allowed": True}


@pytest.mark.django_db(transaction=True)
def test_a_block_that_starts_is_answered_by_the_very_next_request(now, platform, django_assert_num_queries):
    hub = HubFactory()
    fund(hub, "1.00", "funds")
    now.shift(FORGOTTEN_FOR)
    assert ask(platform, hub) == {"allowed": True}
    with django_assert_num_queries(0):
        assert ask(platform, hub) == {"allowed": True}  # cached

    spend(hub, Decimal("1.000000"), "usage")

    (reason,) = ask(platform, hub)["reasons"]
    assert reason == {**BLOCKED["reasons"][0], "since": "2026-11-22T12:00:11+00:00"}  # since the new block


@pytest.mark.django_db
def test_a_staff_lift_is_answered_by_the_very_next_request(platform, django_capture_on_commit_callbacks):
    hub = HubFactory()
    assert ask(platform, hub) == BLOCKED  # cached from here on

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        restriction_lift(
            restriction=Restriction.objects.get(hub=hub), user_id=UserFactory(is_staff=True).id, reason="Bank transfer"
        )

    assert len(callbacks) == 1
    assert ask(platform, hub) == {"allowed": True}


@pytest.mark.django_db
def test_the_sweep_blocks_again_when_a_staff_lift_expires(now, platform, django_capture_on_commit_callbacks):
    hub = HubFactory()
    with django_capture_on_commit_callbacks(execute=True):
        restriction_lift(
            restriction=Restriction.objects.get(hub=hub),
            user_id=UserFactory(is_staff=True).id,
            reason="Bank transfer",
            hold_until=NOW + dt.timedelta(hours=1),
        )
    assert ask(platform, hub) == {"allowed": True}  # cached from here on

    now.move_to(NOW + dt.timedelta(hours=2))
    assert ask(platform, hub) == {"allowed": True}  # nothing changed yet: the sweep has not run
    with django_capture_on_commit_callbacks(execute=True):
        restrictions_sweep_task()

    assert ask(platform, hub)["allowed"] is False


@pytest.mark.django_db
def test_an_answer_read_before_a_change_is_never_cached_after_it(monkeypatch, django_assert_num_queries):
    """A request reads the restrictions, a change commits (and forgets the answer), then the request stores what it
    read: that old answer must not be served to the next request."""
    hub = HubFactory()
    read = permissions.send_permission

    def read_then_change_commits(*, hub_pk):
        answer = read(hub_pk=hub_pk)
        permissions.send_permission_forget(hub_ids=[hub_pk])
        return answer

    monkeypatch.setattr(permissions, "send_permission", read_then_change_commits)
    assert permissions.send_permission_cached(hub_pk=hub.pk).allowed is False
    monkeypatch.setattr(permissions, "send_permission", read)

    with django_assert_num_queries(1):  # not the cache: the database
        assert permissions.send_permission_cached(hub_pk=hub.pk).allowed is False


def _redis_url() -> str | None:
    import redis

    url = os.environ.get("REDIS_URL")
    try:
        return url if url and redis.Redis.from_url(url, socket_connect_timeout=2).ping() else None
    except redis.RedisError:
        return None


@pytest.fixture
def redis_cache(settings):
    """The production cache backend (Redis), under a key prefix of this test's own, removed afterwards."""
    url = _redis_url()
    if url is None:
        pytest.skip("needs Redis: set REDIS_URL (CI uses this machine's Redis on 127.0.0.1:6379)")
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    }
    yield
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def redis_commands(monkeypatch) -> list[str]:
    """The names of the commands sent to Redis from now on, by a redis-py client or packed on a connection."""
    from redis import Redis
    from redis.connection import AbstractConnection

    commands = []
    execute, send_packed = Redis.execute_command, AbstractConnection.send_packed_command
    monkeypatch.setattr(Redis, "execute_command", lambda self, *args, **kw: commands.append(args[0]) or execute(
        self, *args, **kw
    ))  # fmt: skip

    def packed(self, command, check_health=True):
        if isinstance(command, list | tuple) and command and isinstance(command[0], bytes) and command[0][:1] == b"*":
            commands.extend(part.split(b"\r\n")[2].decode() for part in command)
        return send_packed(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", packed)
    return commands


@pytest.mark.django_db
def test_on_redis_the_key_and_the_answer_come_from_one_round_trip(
    redis_cache, key, platform, monkeypatch, django_capture_on_commit_callbacks
):
    hub = HubFactory()
    assert ask(platform, hub) == BLOCKED
    commands = redis_commands(monkeypatch)

    with CaptureQueriesContext(connection) as queries:
        assert ask(platform, hub) == BLOCKED

    assert (len(queries), commands) == (0, ["MGET"])
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(key=key[0])
    assert platform.get(f"/api/v1/hubs/{hub.hub_id}/send-permission").status_code == 401


class Django:
    """The application behind the fast path: records the requests it is handed."""

    def __init__(self):
        self.paths = []

    def __call__(self, environ, start_response):
        self.paths.append(environ["PATH_INFO"])
        start_response("418 I'm a teapot", [])
        return [b"django"]


def fast_get(fast_path, path, *, key, host="127.0.0.1:8000"):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "HTTP_HOST": host}
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    started = []
    body = b"".join(fast_path(environ, lambda status, headers: started.append((status, dict(headers)))))
    return started[0][0], started[0][1], body


@pytest.mark.django_db
def test_the_wsgi_fast_path_repeats_cached_answers_byte_for_byte_and_hands_everything_else_to_django(
    key, platform, django_assert_num_queries, django_capture_on_commit_callbacks
):
    blocked, funded = HubFactory(), HubFactory()
    fund(funded, "1.00", "funds")
    django = Django()
    fast_path = SendPermissionFastPath(django)
    path = f"/api/v1/hubs/{blocked.hub_id}/send-permission"
    assert fast_get(fast_path, path, key=key[1])[0] == "418 I'm a teapot"  # nothing cached yet: Django answers
    view = platform.get(path)  # the view caches the key, the hub's id and the answer
    platform.get(f"/api/v1/hubs/{funded.hub_id}/send-permission")

    with django_assert_num_queries(0):
        status, headers, body = fast_get(fast_path, path, key=key[1])
        allowed = fast_get(fast_path, f"/api/v1/hubs/{funded.hub_id}/send-permission", key=key[1])

    assert (status, body) == ("200 OK", view.content)
    assert (headers["Content-Type"], headers["Content-Length"]) == ("application/json", str(len(body)))
    assert allowed[2] == b'{"allowed":true}'
    for other in [
        fast_get(fast_path, path, key=None),
        fast_get(fast_path, path, key="hps_not-a-key"),
        fast_get(fast_path, path, key=key[1], host="evil.example"),
        fast_get(fast_path, f"/api/v1/hubs/{blocked.hub_id}/send-permission/x", key=key[1]),
    ]:
        assert other == ("418 I'm a teapot", {}, b"django")
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(key=key[0])
    assert fast_get(fast_path, path, key=key[1])[2] == b"django"  # revoked: Django refuses it
    assert len(django.paths) == 6


@pytest.mark.django_db
def test_on_redis_the_fast_path_repeats_the_views_bytes_in_one_round_trip_and_steps_aside_on_any_change(
    redis_cache, key, platform, monkeypatch, django_capture_on_commit_callbacks
):
    blocked, funded = HubFactory(), HubFactory()
    fund(funded, "1.00", "funds")
    django = Django()
    fast_path = SendPermissionFastPath(django)
    path = f"/api/v1/hubs/{blocked.hub_id}/send-permission"
    view = platform.get(path)
    platform.get(f"/api/v1/hubs/{funded.hub_id}/send-permission")
    commands = redis_commands(monkeypatch)

    with CaptureQueriesContext(connection) as queries:
        status, headers, body = fast_get(fast_path, path, key=key[1])
        again = fast_get(fast_path, path, key=key[1])
        allowed = fast_get(fast_path, f"/api/v1/hubs/{funded.hub_id}/send-permission", key=key[1])

    assert (len(queries), commands) == (0, ["MGET", "MGET", "MGET"])
    assert (status, body, again[2]) == ("200 OK", view.content, view.content)
    assert allowed[2] == b'{"allowed":true}' and not django.paths
    # a change of the hub's restrictions (its answer forgotten): Django answers, from the database
    with django_capture_on_commit_callbacks(execute=True):
        fund(blocked, "5.00", "more funds")
    assert fast_get(fast_path, path, key=key[1])[2] == b"django"
    assert platform.get(path).json() == {"allowed": True}
    # a revoked key: Django refuses it
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(key=key[0])
    assert fast_get(fast_path, path, key=key[1])[2] == b"django"
    assert fast_get(fast_path, path, key="hps_not-a-key")[2] == b"django"
    assert len(django.paths) == 3
