"""/healthz for the load balancer: 200 when the database, the cache and the broker answer; 503 naming what failed
when the cache or the broker is down (pointed at a closed loopback port), without URLs, hosts or secrets."""

import socket

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port():
    """A loopback port bound and never listened on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def cache_down(settings, closed_port):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://:hunter2-secret@127.0.0.1:{closed_port}/0"}}  # fmt: skip
    yield
    caches["default"].close()


@pytest.fixture
def broker_down(settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://:hunter2-secret@127.0.0.1:{closed_port}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}


def test_all_up_is_200_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok" and "failed" not in body
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "cache": True, "broker": True,
    }  # fmt: skip


def test_a_broker_down_is_503_naming_the_broker_and_no_secret(client, broker_down, closed_port):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failed"]) == ("fail", ["broker"])
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["broker"]["error"] == "OperationalError"
    assert body["checks"]["database"]["ok"] and body["checks"]["cache"]["ok"]
    text = response.content.decode()
    assert "hunter2" not in text and str(closed_port) not in text and "127.0.0.1" not in text


def test_a_cache_down_is_503_naming_the_cache(client, cache_down, closed_port):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"] and body["checks"]["cache"]["error"] == "ConnectionError"
    assert "hunter2" not in response.content.decode() and str(closed_port) not in response.content.decode()


def test_both_down_are_both_named(client, cache_down, broker_down):
    assert client.get("/healthz").json()["failed"] == ["cache", "broker"]


def test_the_probe_is_answered_for_any_host_and_sets_no_cookie(client):
    """The balancer probes by IP address, which is not in ALLOWED_HOSTS."""
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200 and not response.cookies
