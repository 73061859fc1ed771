import os

import pytest
from django.db import connection

from tests.billing.stream import redis_stream  # noqa: F401 -- fixture: a clean send-permission stream on Redis
from tests.peers import smtp, webhook_receiver  # noqa: F401 -- fixtures: SMTP and a webhook receiver on loopback

POSTGRES_ONLY_REASON = (
    "needs PostgreSQL (real row locks and concurrency): set DATABASE_URL, or run `make test`, which starts a "
    "throwaway PostgreSQL cluster when the server binaries are installed"
)


REDIS_REASON = "needs a Redis broker: set REDIS_URL (CI uses this machine's Redis on 127.0.0.1:6379)"


def _redis_reachable() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def pytest_configure(config):
    """The .mo files are build output (`make` compiles them): compile any that are missing or older than their .po,
    so a plain `pytest` run sees the translations too."""
    from portal.catalogs import compile_stale

    compile_stale()


def pytest_collection_modifyitems(config, items):
    skips = {}
    if connection.vendor != "postgresql":
        skips["postgres"] = pytest.mark.skip(reason=POSTGRES_ONLY_REASON)
    if any("celery_broker" in item.keywords for item in items) and not _redis_reachable():
        skips["celery_broker"] = pytest.mark.skip(reason=REDIS_REASON)
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)


REFERENCE_DATA = [  # the data migrations' rows (plans, license tiers, exchange backends)
    ("partners.migrations.0002_plans", "create_plans"),
    ("hub.migrations.0002_license_tiers", "create_tiers"),
    ("billing.migrations.0009_brl_rate_backends", "create_backends"),
]


@pytest.fixture(autouse=True)
def _reference_rows(request):
    """A transactional test (threads, live server, a real broker) ends with a flush of every table, the data
    migrations' rows included; every database test starts with them back, whatever ran before it."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if marker is None and not names & {"db", "transactional_db", "live_server"}:
        yield
        return
    transactional = (marker is not None and marker.kwargs.get("transaction")) or names & {
        "transactional_db",
        "live_server",
    }
    request.getfixturevalue("transactional_db" if transactional else "db")
    import importlib

    from django.apps import apps

    for module, function in REFERENCE_DATA:
        getattr(importlib.import_module(module), function)(apps, None)
    yield


def pytest_report_header(config):
    return f"database: {connection.vendor} ({connection.settings_dict.get('NAME')})"
