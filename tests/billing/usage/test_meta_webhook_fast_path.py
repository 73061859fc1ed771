"""config/wsgi.py's MetaWebhookFastPath: a signed Meta status webhook is stored with one INSERT on the fast path's
own connection and acknowledged, and the drain rates it as through the view; everything else is Django's answer.

Called as the WSGI server calls it (environ, start_response) around Django's real WSGI handler, on PostgreSQL with
committed transactions: the fast path writes on a connection of its own, as in production."""

import io
import json
import threading
import time
from decimal import Decimal
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections

from billing.models import CreditAccount, LedgerEntry, MessageUsage, MetaWebhookInbox
from billing.usage.meta_webhooks import DRAIN_QUEUED_KEY
from billing.webhooks_meta import DrainNotifier, MetaWebhookFastPath
from tests.billing.usage.meta import meta_signature
from tests.billing.usage.test_meta_webhooks import SECRET, number, setup, status, webhook  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class Django:
    """Django's WSGI handler, counting the requests the fast path handed to it."""

    def __init__(self):
        self.handler, self.paths = WSGIHandler(), []

    def __call__(self, environ, start_response):
        self.paths.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return self.handler(environ, start_response)


@pytest.fixture
def app():
    cache.delete(DRAIN_QUEUED_KEY)  # an earlier test's mark (it expires in seconds) would hold this test's drain back
    django = Django()
    fast = MetaWebhookFastPath(django)
    yield fast, django
    fast.forget_connection()


def call(application, *, method="POST", path="/webhooks/meta/", body=b"", signature=None, query="", length=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body) if length is None else length), "CONTENT_TYPE": "application/json",
               "HTTP_HOST": "testserver", "SERVER_NAME": "testserver"}  # fmt: skip
    if signature is not None:
        environ["HTTP_X_HUB_SIGNATURE_256"] = signature
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status_line, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status_line.split()[0]), dict(headers)

    answer["body"] = b"".join(application(environ, start_response))
    return answer


def signed(payload) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, meta_signature(body, SECRET)


def test_a_signed_webhook_is_stored_acknowledged_and_rated_without_django(app, number):  # noqa: F811
    fast, django = app
    body, signature = signed(webhook(status()))

    answer = call(fast, body=body, signature=signature)

    row = MetaWebhookInbox.objects.get()
    assert (answer["status"], json.loads(answer["body"])) == (200, {"received": row.pk})
    assert answer["headers"]["Content-Type"] == "application/json"
    assert django.paths == []  # Django never saw it
    assert bytes(row.body) == body  # exactly as signed
    assert row.processed_at is not None  # the queued drain (eager in tests) rated it, as through the view
    assert MessageUsage.objects.get().cost == Decimal("0.025200")
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.025200")


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "forged"])
def test_a_forged_or_unsigned_webhook_is_the_views_401_and_nothing_is_stored(app, number, signature):  # noqa: F811
    fast, django = app
    body, _ = signed(webhook(status()))

    answer = call(fast, body=body, signature=signature)

    assert (answer["status"], answer["body"]) == (401, b"invalid X-Hub-Signature-256")
    assert django.paths == [("POST", "/webhooks/meta/")]
    assert (MetaWebhookInbox.objects.count(), MessageUsage.objects.count(), LedgerEntry.objects.count()) == (0, 0, 0)


def test_the_verification_get_and_other_paths_are_djangos(app, settings):
    fast, django = app
    settings.META_VERIFY_TOKEN = "verify-me"

    check = call(fast, method="GET", query="hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
    other = call(fast, path="/webhooks/meta/other/", body=b"{}")

    assert (check["status"], check["body"]) == (200, b"1158201444")
    assert other["status"] == 404
    assert django.paths == [("GET", "/webhooks/meta/"), ("POST", "/webhooks/meta/other/")]


def test_a_body_larger_than_django_accepts_is_the_views_refusal(app, number, settings):  # noqa: F811
    fast, django = app
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body, signature = signed(webhook(status()))

    answer = call(fast, body=body, signature=signature)

    assert answer["status"] == 400
    assert django.paths == [("POST", "/webhooks/meta/")]
    assert MetaWebhookInbox.objects.count() == 0


def test_when_its_connection_dies_django_stores_the_webhook_and_the_next_one_reconnects(app, number):  # noqa: F811
    fast, django = app
    bodies = [signed(webhook(status(id=f"wamid.fast-{n}"))) for n in range(3)]
    call(fast, body=bodies[0][0], signature=bodies[0][1])
    backend = fast.connection().info.backend_pid
    with connection.cursor() as cursor:  # the server drops the fast path's connection (a restart, a failover)
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])

    second = call(fast, body=bodies[1][0], signature=bodies[1][1])
    third = call(fast, body=bodies[2][0], signature=bodies[2][1])

    assert [second["status"], third["status"]] == [200, 200]
    assert django.paths == [("POST", "/webhooks/meta/")]  # only the second: Django stored it
    assert fast.connection().info.backend_pid != backend
    assert [bytes(b) for b in MetaWebhookInbox.objects.order_by("id").values_list("body", flat=True)] == [
        body for body, _ in bodies
    ]
    assert MessageUsage.objects.count() == 3
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.075600")


def test_on_a_database_other_than_postgresql_every_webhook_goes_to_the_view(monkeypatch, number):  # noqa: F811
    monkeypatch.setattr(connection, "vendor", "sqlite")  # as `make run`'s SQLite: the fast path writes with psycopg
    django = Django()
    fast = MetaWebhookFastPath(django)
    body, signature = signed(webhook(status()))

    answer = call(fast, body=body, signature=signature)

    assert (answer["status"], json.loads(answer["body"])) == (200, {"received": MetaWebhookInbox.objects.get().pk})
    assert django.paths == [("POST", "/webhooks/meta/")]


class HeldFirstWrite(MetaWebhookFastPath):
    """The fast path with its first group's write held until the test lets it go, and every group's size noted:
    webhooks arriving meanwhile must gather into the next group (one INSERT, one commit)."""

    def __init__(self, application):
        super().__init__(application, drain_interval=0)  # every group queues its drain at once, in its thread
        self.groups, self.holding, self.release = [], threading.Event(), threading.Event()
        write = self.writer.write

        def held_write(bodies):
            self.groups.append(len(bodies))
            if len(self.groups) == 1:
                self.holding.set()
                assert self.release.wait(30)
            return write(bodies)

        self.writer.write = held_write


def post_together(fast, bodies, *, while_first_is_held=lambda: None):
    """The first webhook's write is held; the others arrive meanwhile; then the write goes on. Each answer."""
    answers = [None] * len(bodies)

    def post(n):
        try:
            answers[n] = call(fast, body=bodies[n][0], signature=bodies[n][1])
        finally:
            connections.close_all()  # this thread's Django connection (the view, the eager drain)

    first = threading.Thread(target=post, args=(0,))
    first.start()
    assert fast.holding.wait(30)
    others = [threading.Thread(target=post, args=(n,)) for n in range(1, len(bodies))]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while len(fast.writer.group.bodies) < len(bodies) - 1 and time.monotonic() < deadline:
        time.sleep(0.005)  # every other webhook has joined the waiting group
    while_first_is_held()
    fast.release.set()
    for thread in (first, *others):
        thread.join(30)
    return answers


def test_webhooks_arriving_during_a_commit_share_the_next_one_and_each_gets_its_own_row(number):  # noqa: F811
    django = Django()
    fast = HeldFirstWrite(django)
    bodies = [signed(webhook(status(id=f"wamid.group-{n:02d}"))) for n in range(25)]

    answers = post_together(fast, bodies)
    fast.forget_connection()

    assert fast.groups == [1, 24]  # two INSERTs and two commits for 25 webhooks
    assert django.paths == []
    rows = dict(MetaWebhookInbox.objects.values_list("pk", "body"))
    assert len(rows) == 25
    for (body, _), answer in zip(bodies, answers, strict=True):
        assert answer["status"] == 200
        assert bytes(rows[json.loads(answer["body"])["received"]]) == body  # its own row, not a neighbour's
    assert MessageUsage.objects.count() == 25
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.630000")


def test_when_a_groups_write_fails_every_webhook_in_it_is_djangos_and_none_is_lost(number):  # noqa: F811
    django = Django()
    fast = HeldFirstWrite(django)
    bodies = [signed(webhook(status(id=f"wamid.lost-{n}"))) for n in range(6)]
    fast.connection()  # the connection the held write will find dead

    def server_drops_the_connection():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [fast.connection().info.backend_pid])

    answers = post_together(fast, bodies, while_first_is_held=server_drops_the_connection)
    later, later_signature = signed(webhook(status(id="wamid.lost-after")))
    after = call(fast, body=later, signature=later_signature)
    fast.forget_connection()

    assert [answer["status"] for answer in answers] == [200] * 6
    assert fast.groups[0] == 1 and sum(fast.groups[1:]) == 6  # the dead connection failed the first group only
    assert django.paths == [("POST", "/webhooks/meta/")]  # the first webhook: Django stored it
    assert after["status"] == 200
    assert sorted(bytes(b) for b in MetaWebhookInbox.objects.values_list("body", flat=True)) == sorted(
        [body for body, _ in bodies] + [later]
    )
    assert MessageUsage.objects.count() == 7


def test_the_drain_is_queued_at_once_then_at_most_once_per_interval_and_always_after_the_last_webhook():
    calls: list[float] = []
    notifier = DrainNotifier(lambda: calls.append(time.monotonic()), interval=0.2)
    notifier.poke()  # a quiet spell: at once
    assert len(calls) == 1
    pokes = []
    for _ in range(50):  # a burst within the interval: one call for all, at its end
        notifier.poke()
        pokes.append(time.monotonic())
    assert len(calls) == 1
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 2
    assert calls[1] >= pokes[-1]  # after the burst's last webhook
    assert calls[1] - calls[0] >= 0.19  # not sooner than the interval
    time.sleep(0.3)
    assert len(calls) == 2  # nothing more without webhooks


def test_webhooks_the_fast_path_answers_are_counted_once_in_the_request_metrics(number, settings):  # noqa: F811
    from config.wsgi import application  # the production stack: both fast paths around Django, metrics wired
    from ops import metrics

    metrics.counters_flush()
    cache.clear()
    body, signature = signed(webhook(status()))
    forged = call(application, body=body, signature="sha256=" + "0" * 64)  # Django's 401, its middleware counts it

    answer = call(application, body=body, signature=signature)
    metrics.counters_flush()

    assert (answer["status"], forged["status"]) == (200, 401)
    keys = [metrics._key("http_requests", "POST", status) for status in ("2xx", "4xx")]
    assert [cache.get(key) for key in keys] == [1, 1]  # the fast path's 200 once, Django's 401 once
    application.writer.forget_connection()
