"""Meta's status webhooks on an asyncio server (config/asgi_meta.py, under granian's ASGI interface): the same
answers as MetaWebhookFastPath, without a thread per webhook in flight.

Under WSGI each webhook holds a server thread while its commit is written, and the hand-over between the server's
threads and Python's is most of a webhook's cost (~100 µs of CPU, where the INSERT's share is a few). Here every
webhook is a coroutine on one event loop: the signed POST's body is read, its signature checked, and it waits on a
future while one writer stores the webhooks that arrived together with one INSERT and one commit (psycopg's async
connection), then each gets its row's id. What the WSGI fast path hands to Django goes to Django's ASGI handler
here, with the same body: the verification GET, a missing or bad signature (401, nothing stored), a body without a
length or too large, a database other than PostgreSQL, and a write that failed (Django stores the webhook or
answers an error that Meta retries: a webhook is never acknowledged unstored)."""

import asyncio
import logging
import time

import psycopg
from django.conf import settings
from django.db import connections

from billing.usage.meta_webhooks import meta_signature_valid
from billing.webhooks_meta import (
    DrainNotifier,
    _drain_soon_robust,
    group_cut,
    inbox_connection_params,
    inbox_ids,
    inbox_insert,
    inbox_params,
)

logger = logging.getLogger(__name__)
PATH = "/webhooks/meta/"


class MetaWebhookASGI:
    def __init__(self, application, *, drain_interval: float = 0.02, on_answer=None):
        self.application = application
        self.on_answer = on_answer  # called (method, started) for each webhook answered here: config's metrics
        self.enabled = connections["default"].vendor == "postgresql"
        # The drain mark is a blocking call (Django's cache, Celery): never on the event loop, always from the
        # notifier's own thread (interval 0: at once, in a thread of its own, as tests need).
        self.writer = AsyncInboxGroupCommit(
            drain=DrainNotifier(_drain_soon_robust, interval=drain_interval, inline=False)
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":  # Django's handler takes HTTP only
            return await _lifespan(receive, send)
        if not (self.enabled and scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == PATH):
            return await self.application(scope, receive, send)
        headers = dict(scope["headers"])
        try:
            length = int(headers.get(b"content-length", b"").decode("latin-1"))
        except ValueError:
            return await self.application(scope, receive, send)
        if not 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return await self.application(scope, receive, send)
        started = time.monotonic()
        body = await _read_body(receive, length)
        signature = headers.get(b"x-hub-signature-256", b"").decode("latin-1") or None
        if body is not None and meta_signature_valid(body=body, header=signature):
            received = await self.writer.store(body)
            if received is not None:
                answer = b'{"received":%d}' % received
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(answer)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": answer})
                if self.on_answer is not None:
                    self.on_answer(method="POST", started=started)
                return None
        return await self.application(scope, _replay(body or b"", receive), send)  # Django reads the same bytes


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive, length: int) -> bytes | None:
    """The request body, or None when it is not `length` bytes (Django then answers as it does)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > length:
            return None
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body if len(body) == length else None


def _replay(body: bytes, receive):
    """The body already read, then the connection's own messages (Django listens for the client's disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class AsyncInboxGroupCommit:
    """One writer per event loop: the webhooks that arrived while the last INSERT was being committed are the next
    INSERT (no timer: a lone webhook is written at once), up to GROUP_MAX_WEBHOOKS / GROUP_MAX_BYTES of them. A
    failed write answers None to every webhook of its group (Django takes them) and drops the connection."""

    def __init__(self, *, drain: DrainNotifier):
        self.waiting: list[tuple[bytes, asyncio.Future]] = []
        self.writer: asyncio.Task | None = None
        self.drain = drain
        self.connection: psycopg.AsyncConnection | None = None

    async def store(self, body: bytes) -> int | None:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((body, future))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write_groups())
        return await future

    async def _write_groups(self) -> None:
        while self.waiting:
            cut = group_cut(len(body) for body, _ in self.waiting)
            group, self.waiting = self.waiting[:cut], self.waiting[cut:]
            ids = None
            try:
                ids = await self._write([body for body, _ in group])
            finally:  # whatever happens, every webhook of the group is answered: its id, or Django takes it
                for index, (_, future) in enumerate(group):
                    if not future.done():
                        future.set_result(None if ids is None else ids[index])
            if ids is not None:
                self.drain.poke()

    async def _write(self, bodies: list[bytes]) -> list[int] | None:
        try:
            conn = await self._connect()
            async with conn.cursor() as cursor:
                await cursor.execute(inbox_insert(len(bodies)), inbox_params(bodies), binary=True)
                return inbox_ids(await cursor.fetchall())
        except psycopg.Error:
            logger.warning("meta webhook fast path: the database failed, Django takes the webhooks", exc_info=True)
            if self.connection is not None:
                await self.connection.close()
            self.connection = None
            return None

    async def _connect(self) -> psycopg.AsyncConnection:
        if self.connection is None or self.connection.closed:
            params = inbox_connection_params(psycopg.AsyncCursor)
            self.connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        return self.connection
