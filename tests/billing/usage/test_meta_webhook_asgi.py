"""config/asgi_meta.py's MetaWebhookASGI: on an event loop, a signed Meta status webhook is stored by the group
commit (psycopg's async connection) and acknowledged, and the drain rates it as through the view; everything else
is Django's ASGI handler, with the same body. Called as granian calls it (scope, receive, send), around Django's
real ASGI handler, on PostgreSQL with committed transactions."""

import asyncio
import json
import time
from decimal import Decimal

import pytest
from django.core.asgi import get_asgi_application
from django.core.cache import cache
from django.db import connection

from billing.models import CreditAccount, LedgerEntry, MessageUsage, MetaWebhookInbox
from billing.usage.meta_webhooks import DRAIN_QUEUED_KEY
from billing.webhooks_meta import group_cut
from billing.webhooks_meta_asgi import MetaWebhookASGI
from tests.billing.usage.meta import meta_signature
from tests.billing.usage.test_meta_webhooks import SECRET, number, setup, status, webhook  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class Django:
    """Django's ASGI handler, noting the requests the fast path handed to it."""

    def __init__(self):
        self.handler, self.paths = get_asgi_application(), []

    async def __call__(self, scope, receive, send):
        self.paths.append((scope["method"], scope["path"]))
        return await self.handler(scope, receive, send)


@pytest.fixture
def app():
    cache.delete(DRAIN_QUEUED_KEY)
    django = Django()
    fast = MetaWebhookASGI(django, drain_interval=0)
    yield fast, django
    if fast.writer.connection is not None:
        asyncio.run(fast.writer.connection.close())


async def request(application, *, method="POST", path="/webhooks/meta/", body=b"", signature=None, query=""):
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    if signature is not None:
        headers.append((b"x-hub-signature-256", signature.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answered = asyncio.Event()

    async def receive():
        if messages:
            return messages.pop(0)
        await answered.wait()  # the client stays until it has its answer
        return {"type": "http.disconnect"}

    answer = {"body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])
        else:
            answer["body"] += message.get("body", b"")
            if not message.get("more_body"):
                answered.set()

    await application(scope, receive, send)
    return answer


def written_groups(fast) -> list[int]:
    """The size of each INSERT the writer sends, in order (the clock is frozen here: receive times cannot tell)."""
    sizes, write = [], fast.writer._write

    async def counted(bodies):
        sizes.append(len(bodies))
        return await write(bodies)

    fast.writer._write = counted
    return sizes


def signed(payload) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, meta_signature(body, SECRET)


def rated(count: int) -> None:
    """The drain runs in the notifier's thread: wait for it (a few seconds at most)."""
    deadline = time.monotonic() + 15
    while MetaWebhookInbox.objects.filter(processed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert MessageUsage.objects.count() == count


def test_a_signed_webhook_is_stored_acknowledged_and_rated_without_django(app, number):  # noqa: F811
    fast, django = app
    body, signature = signed(webhook(status()))

    answer = asyncio.run(request(fast, body=body, signature=signature))

    row = MetaWebhookInbox.objects.get()
    assert (answer["status"], json.loads(answer["body"])) == (200, {"received": row.pk})
    assert answer["headers"][b"content-type"] == b"application/json"
    assert django.paths == []
    assert bytes(row.body) == body
    rated(1)
    assert MessageUsage.objects.get().cost == Decimal("0.025200")
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.025200")


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64])
def test_a_forged_or_unsigned_webhook_is_the_views_401_and_nothing_is_stored(app, number, signature):  # noqa: F811
    fast, django = app
    body, _ = signed(webhook(status()))

    answer = asyncio.run(request(fast, body=body, signature=signature))

    assert (answer["status"], answer["body"]) == (401, b"invalid X-Hub-Signature-256")
    assert django.paths == [("POST", "/webhooks/meta/")]
    assert (MetaWebhookInbox.objects.count(), LedgerEntry.objects.count()) == (0, 0)


def test_the_verification_get_is_djangos(app, settings):
    fast, django = app
    settings.META_VERIFY_TOKEN = "verify-me"

    query = "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42"
    check = asyncio.run(request(fast, method="GET", query=query))

    assert (check["status"], check["body"]) == (200, b"42")
    assert django.paths == [("GET", "/webhooks/meta/")]


def test_webhooks_arriving_together_share_commits_and_each_gets_its_own_row(app, number):  # noqa: F811
    fast, django = app
    groups = written_groups(fast)
    bodies = [signed(webhook(status(id=f"wamid.asgi-{n:02d}"))) for n in range(30)]

    rows = posted_together(fast, bodies)

    assert len(rows) == 30 and django.paths == []
    commits = MetaWebhookInbox.objects.values("received_at").distinct().count()
    assert commits < 30  # a group commit stores its webhooks with one receive time
    assert sum(groups) == 30 and len(groups) < 30  # the receive time is frozen here: the INSERTs themselves tell
    rated(30)
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.756000")


def posted_together(fast, bodies: list[tuple[bytes, str]]) -> dict:
    """POST the signed bodies at once on one event loop; each is answered 200 with the id of the row holding its own
    body. The inbox's rows (id -> body)."""

    async def together():
        return await asyncio.gather(*(request(fast, body=body, signature=signature) for body, signature in bodies))

    answers = asyncio.run(together())
    rows = dict(MetaWebhookInbox.objects.values_list("pk", "body"))
    for (body, _), answer in zip(bodies, answers, strict=True):
        assert answer["status"] == 200
        assert bytes(rows[json.loads(answer["body"])["received"]]) == body
    return rows


def test_when_its_connection_dies_django_stores_the_webhook_and_the_next_one_reconnects(app, number):  # noqa: F811
    fast, django = app
    bodies = [signed(webhook(status(id=f"wamid.asgi-dead-{n}"))) for n in range(3)]

    async def scenario():
        first = await request(fast, body=bodies[0][0], signature=bodies[0][1])
        backend = fast.writer.connection.info.backend_pid
        await asyncio.to_thread(terminate, backend)
        second = await request(fast, body=bodies[1][0], signature=bodies[1][1])
        third = await request(fast, body=bodies[2][0], signature=bodies[2][1])
        return [first, second, third], backend

    answers, backend = asyncio.run(scenario())

    assert [a["status"] for a in answers] == [200, 200, 200]
    assert django.paths == [("POST", "/webhooks/meta/")]  # only the second: Django stored it
    assert fast.writer.connection.info.backend_pid != backend
    assert sorted(bytes(b) for b in MetaWebhookInbox.objects.values_list("body", flat=True)) == sorted(
        body for body, _ in bodies
    )
    rated(3)


def terminate(backend: int) -> None:
    from django.db import connections

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        connections.close_all()


def test_an_insert_takes_at_most_the_groups_bound_the_rest_waits_for_the_next(app, number, monkeypatch):  # noqa: F811
    """An event loop's waiting webhooks are unbounded; a statement's parameters are not (65,535)."""
    monkeypatch.setattr("billing.webhooks_meta.GROUP_MAX_WEBHOOKS", 4)
    fast, django = app
    groups = written_groups(fast)
    bodies = [signed(webhook(status(id=f"wamid.asgi-cap-{n:02d}"))) for n in range(20)]

    rows = posted_together(fast, bodies)

    assert len(rows) == 20 and django.paths == []
    assert sum(groups) == 20 and max(groups) == 4 and len(groups) >= 5
    rated(20)


def test_a_group_is_cut_by_count_and_by_bytes_but_never_empty(monkeypatch):
    monkeypatch.setattr("billing.webhooks_meta.GROUP_MAX_WEBHOOKS", 3)
    monkeypatch.setattr("billing.webhooks_meta.GROUP_MAX_BYTES", 100)
    assert group_cut([10, 10, 10, 10]) == 3
    assert group_cut([60, 30, 20]) == 2  # 60 + 30 fit, a third would pass 100 bytes
    assert group_cut([500, 10]) == 1  # a body larger than the bound still goes, alone
    assert group_cut([]) == 0
