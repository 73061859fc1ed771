"""Meta's WhatsApp Cloud API webhook endpoint (/webhooks/meta/): the subscription check (GET) and notifications
(POST, signed with the app secret). Every signed POST is stored as received and answered 200 at once (Meta retries
any other answer for days); a drain task queued on commit rates the burst in batches, and what is not rated is kept
as a skip for staff. A bad or missing signature is answered 401 and nothing is stored."""

import io
import logging
import threading

import psycopg
from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from billing.models import MetaWebhookInbox
from billing.tasks import meta_webhooks_drain_task
from billing.usage.meta_webhooks import (
    DRAIN_QUEUED_KEY,
    DRAIN_QUEUED_SECONDS,
    meta_signature_valid,
    meta_verification_answer,
    meta_webhook_receive,
)
from core import clock

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        challenge = meta_verification_answer(
            mode=request.GET.get("hub.mode"),
            token=request.GET.get("hub.verify_token"),
            challenge=request.GET.get("hub.challenge"),
        )
        if challenge is None:
            return HttpResponseForbidden("verify token does not match", content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")
    if not meta_signature_valid(body=request.body, header=request.headers.get("X-Hub-Signature-256")):
        return HttpResponse("invalid X-Hub-Signature-256", status=401, content_type="text/plain")
    received = meta_webhook_receive(body=request.body)
    # robust: a broker or cache that is down must not turn an accepted webhook into a 500 (Meta would send it
    # again); the beat sweep drains what no task picked up.
    transaction.on_commit(_drain_soon, robust=True)
    return JsonResponse({"received": received.pk})


def _drain_soon() -> None:
    """Queue a drain unless one is queued and not yet started: a burst of webhooks queues one task, not one per
    webhook (a task publish costs more than storing the webhook). The task forgets the mark before it reads the
    inbox, so a webhook committed after that queues the next drain; the mark expires if its task is lost."""
    if cache.add(DRAIN_QUEUED_KEY, 1, timeout=DRAIN_QUEUED_SECONDS):
        meta_webhooks_drain_task.delay()


class MetaWebhookFastPath:
    """WSGI middleware around the Django application (config/wsgi.py) for Meta's signed status webhooks.

    Meta sends a status webhook per message status, mostly one status each, three per message sent (sent,
    delivered, read), and wants a 200 fast. Through Django each costs ~3 ms of CPU (middleware, URL resolution,
    the ORM) before its one INSERT. Here a POST to /webhooks/meta/ with a valid X-Hub-Signature-256 is stored with
    one autocommitted INSERT on this thread's own connection, the burst's drain is queued as the view does, and
    the view's answer is sent. Everything else goes to Django unchanged, so every refusal and error stays the
    view's: the verification GET, a missing or bad signature (401, nothing stored), a body without a length or
    larger than Django accepts, a database other than PostgreSQL, and any database error here (the body read is
    handed to Django, which stores it or fails, so Meta retries it: a webhook is never acknowledged unstored)."""

    PATH = "/webhooks/meta/"

    def __init__(self, application):
        self.application = application
        self.enabled = connections["default"].vendor == "postgresql"
        self.local = threading.local()

    def __call__(self, environ, start_response):
        if not (self.enabled and environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == self.PATH):
            return self.application(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self.application(environ, start_response)
        if not 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return self.application(environ, start_response)
        body = environ["wsgi.input"].read(length)
        if len(body) == length and meta_signature_valid(body=body, header=environ.get("HTTP_X_HUB_SIGNATURE_256")):
            received = self.store(body)
            if received is not None:
                _drain_soon_robust()
                answer = b'{"received":%d}' % received
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
                return [answer]
        environ["wsgi.input"] = io.BytesIO(body)  # Django reads the same bytes: its answer, its log line
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)

    def store(self, body: bytes) -> int | None:
        """The new inbox row's id, committed; None (and the connection dropped) when the database failed."""
        try:
            with self.connection().cursor() as cursor:
                cursor.execute(INBOX_INSERT, (body, clock.now()))
                return cursor.fetchone()[0]
        except psycopg.Error:
            logger.warning("meta webhook fast path: the database failed, Django takes the webhook", exc_info=True)
            self.forget_connection()
            return None

    def connection(self) -> psycopg.Connection:
        conn = getattr(self.local, "connection", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(**connections["default"].get_connection_params(), autocommit=True)
            self.local.connection = conn
        return conn

    def forget_connection(self) -> None:
        conn, self.local.connection = getattr(self.local, "connection", None), None
        if conn is not None:
            conn.close()


INBOX_INSERT = (
    f"INSERT INTO {MetaWebhookInbox._meta.db_table} (body, received_at) VALUES (%s, %s) RETURNING id"  # noqa: S608
)


def _drain_soon_robust() -> None:
    """As the view's on-commit hook (robust): a broker or cache that is down does not turn a stored webhook into
    an error; beat's sweep drains what no task picked up."""
    try:
        _drain_soon()
    except Exception:
        logger.exception("meta webhook fast path: could not queue the drain (beat's sweep will drain it)")
