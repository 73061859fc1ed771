"""Prometheus metrics at /metrics, behind a bearer token (settings.METRICS_TOKEN; 404 when unset, 401 without it).

Multi-process safety, the choice: the web server's workers, the Celery workers and beat are separate processes, in
production separate containers (docker-compose.yml), so in-process counters (prometheus_client's default registry)
would show one process's share, and its multiprocess mode needs a directory shared by every process, which the web
and worker containers do not share. So nothing is kept in process memory:
- event counters (HTTP requests, Celery task outcomes and queue lag, usage events accepted / duplicate / rejected)
  are atomic increments in the cache every process already shares (Redis with REDIS_URL; the embedded default's
  folder cache, shared by `make run`'s web process and worker). Their label sets are fixed lists (methods × status
  classes, the registered task names × outcomes), so a scrape reads them all with one get_many;
- business totals the database holds (invoices issued and delivered by kind, charges succeeded and failed) are
  counted at scrape time with two small aggregate queries, so they are exact whichever process did the work and
  survive a cache flush.
Increments are summed in each process and written in one batch every few seconds (one pipelined round trip on
Redis), so a request pays no cache round trip for being counted; a failing cache never fails the request being
counted: that batch is dropped and logged.
"""

import hmac
import logging
import os
import threading
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import Count, Q
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

PREFIX = "hubportal"
KEY = "metrics:{name}:{labels}"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
TASK_OUTCOMES = ("succeeded", "failed", "retried")
USAGE_OUTCOMES = ("accepted", "duplicate", "rejected")
UNCOUNTED_PATHS = ("/healthz", "/metrics")


def _key(name: str, *labels: str) -> str:
    return KEY.format(name=name, labels="|".join(labels))


# Increments are summed in the process and written to the cache in one batch (one pipelined round trip on Redis)
# every FLUSH_SECONDS by a background thread, and before each scrape: a request pays no cache round trip for being
# counted. A process that dies loses at most its last FLUSH_SECONDS of counts (Prometheus sees a smaller step).
FLUSH_SECONDS = 5.0


class _Pending:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.flusher_pid: int | None = None

    def add(self, key: str, amount: int) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + amount
            if self.flusher_pid != os.getpid():  # none yet in this process (or inherited over a fork)
                self.flusher_pid = os.getpid()
                threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self.lock:
            counts, self.counts = self.counts, {}
        if not counts:
            return
        try:
            _increment(counts)
        except Exception:  # noqa: BLE001 -- a metric never fails the work it counts; these counts are dropped
            logger.warning("metrics: could not write %d counter(s) to the cache", len(counts), exc_info=True)


def _increment(counts: dict[str, int]) -> None:
    default = caches["default"]
    if isinstance(default, RedisCache):
        # INCRBY creates a missing key; Django's Redis cache stores integers as they are, so get_many reads them.
        pipeline = default._cache.get_client(write=True).pipeline(transaction=False)
        for key, amount in counts.items():
            pipeline.incrby(default.make_and_validate_key(key), amount)
        pipeline.execute()
        return
    for key, amount in counts.items():
        cache.add(key, 0, timeout=None)
        cache.incr(key, amount)


_pending = _Pending()


def counter_add(name: str, *labels: str, amount: int = 1) -> None:
    if amount > 0:
        _pending.add(_key(name, *labels), amount)


def counters_flush() -> None:
    _pending.flush()


def request_count(*, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    status_class = f"{status // 100}xx"
    counter_add("http_requests", method, status_class)
    counter_add("http_request_ms", method, status_class, amount=max(1, round(seconds * 1000)))


def usage_events_count(*, accepted: int, duplicates: int, rejected: int) -> None:
    """Called by the surfaces that hand events to the usage service (the API, `import_usage`)."""
    for outcome, amount in zip(USAGE_OUTCOMES, (accepted, duplicates, rejected), strict=True):
        counter_add("usage_events", outcome, amount=amount)


def task_outcome_count(*, task: str, outcome: str) -> None:
    counter_add("celery_tasks", task, outcome)


def queue_lag_record(*, queue: str, seconds: float) -> None:
    """Time from publishing a task to a worker starting it (the publisher stamps the message)."""
    counter_add("celery_queue_lag_ms", queue, amount=max(1, round(seconds * 1000)))
    counter_add("celery_queue_lag_count", queue)
    try:
        cache.set(_key("celery_queue_lag_last", queue), round(seconds, 3), timeout=None)
    except Exception:  # noqa: BLE001
        logger.warning("metrics: could not record the queue lag", exc_info=True)


# The scrape ---------------------------------------------------------------------------------------------------------


def _task_names() -> list[str]:
    from celery import current_app  # the project's app (config/celery_app.py), without importing the top layer

    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


def _queues() -> list[str]:
    return sorted({getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")})


class PortalCollector:
    """Reads the shared counters and the database totals at each scrape."""

    def collect(self):
        tasks, queues = _task_names(), _queues()
        keys = (
            [_key("http_requests", m, s) for m in METHODS for s in STATUS_CLASSES]
            + [_key("http_request_ms", m, s) for m in METHODS for s in STATUS_CLASSES]
            + [_key("celery_tasks", t, o) for t in tasks for o in TASK_OUTCOMES]
            + [_key("usage_events", o) for o in USAGE_OUTCOMES]
            + [_key(name, q) for q in queues for name in
               ("celery_queue_lag_ms", "celery_queue_lag_count", "celery_queue_lag_last")]
        )  # fmt: skip
        try:
            values, cache_up = cache.get_many(keys), 1
        except Exception:  # noqa: BLE001 -- the scrape still answers, with the cache marked down
            logger.warning("metrics: the cache cannot be read", exc_info=True)
            values, cache_up = {}, 0
        yield GaugeMetricFamily(f"{PREFIX}_metrics_cache_up", "1 when the shared counters could be read", cache_up)
        yield from self._http(values)
        yield from self._celery(values, tasks, queues)
        usage = CounterMetricFamily(f"{PREFIX}_usage_events", "Usage events handed to the usage service",
                                    labels=["outcome"])  # fmt: skip
        for outcome in USAGE_OUTCOMES:
            usage.add_metric([outcome], values.get(_key("usage_events", outcome), 0))
        yield usage
        yield from self._books()
        yield from _meta_inbox()

    def _http(self, values):
        requests = CounterMetricFamily(f"{PREFIX}_http_requests", "HTTP requests answered",
                                       labels=["method", "status"])  # fmt: skip
        seconds = CounterMetricFamily(f"{PREFIX}_http_request_duration_seconds", "Time spent answering them",
                                      labels=["method", "status"])  # fmt: skip
        for method in METHODS:
            for status in STATUS_CLASSES:
                if (count := values.get(_key("http_requests", method, status))) is not None:
                    requests.add_metric([method, status], count)
                    seconds.add_metric([method, status], values.get(_key("http_request_ms", method, status), 0) / 1000)
        yield requests
        yield seconds

    def _celery(self, values, tasks, queues):
        outcomes = CounterMetricFamily(f"{PREFIX}_celery_tasks", "Celery task runs by outcome",
                                       labels=["task", "outcome"])  # fmt: skip
        for task in tasks:
            for outcome in TASK_OUTCOMES:
                if (count := values.get(_key("celery_tasks", task, outcome))) is not None:
                    outcomes.add_metric([task, outcome], count)
        yield outcomes
        lag = CounterMetricFamily(f"{PREFIX}_celery_queue_lag_seconds", "Publish-to-start time, summed",
                                  labels=["queue"])  # fmt: skip
        lag_count = CounterMetricFamily(f"{PREFIX}_celery_queue_lag_tasks", "Tasks the lag was measured on",
                                        labels=["queue"])  # fmt: skip
        last = GaugeMetricFamily(f"{PREFIX}_celery_queue_lag_last_seconds", "Lag of the latest task started",
                                 labels=["queue"])  # fmt: skip
        for queue in queues:
            lag.add_metric([queue], values.get(_key("celery_queue_lag_ms", queue), 0) / 1000)
            lag_count.add_metric([queue], values.get(_key("celery_queue_lag_count", queue), 0))
            last.add_metric([queue], values.get(_key("celery_queue_lag_last", queue), 0))
        yield lag
        yield lag_count
        yield last
        yield _queue_length(queues)

    def _books(self):
        from billing.dashboard import DELIVERED_FIELD
        from billing.models import AttemptStatus, Invoice, InvoiceKind, PaymentAttempt

        issued = CounterMetricFamily(f"{PREFIX}_invoices_issued", "Invoices issued", labels=["kind"])
        delivered = CounterMetricFamily(f"{PREFIX}_invoices_delivered", "Issued invoices emailed with their PDF",
                                        labels=["kind"])  # fmt: skip
        rows = {row["kind"]: row for row in Invoice.objects.exclude(number=None).order_by().values("kind").annotate(
            n=Count("id"), delivered=Count("id", filter=Q(**{f"{DELIVERED_FIELD}__isnull": False})))}  # fmt: skip
        for kind in InvoiceKind.values:
            issued.add_metric([kind], rows.get(kind, {}).get("n", 0))
            delivered.add_metric([kind], rows.get(kind, {}).get("delivered", 0))
        yield issued
        yield delivered
        charges = CounterMetricFamily(f"{PREFIX}_charges", "Payment attempts that ended", labels=["outcome"])
        ended = dict(PaymentAttempt.objects.filter(status__in=[AttemptStatus.SUCCEEDED, AttemptStatus.FAILED])
                     .order_by().values_list("status").annotate(n=Count("id")))  # fmt: skip
        for outcome in (AttemptStatus.SUCCEEDED, AttemptStatus.FAILED):
            charges.add_metric([outcome.value], ended.get(outcome.value, 0))
        yield charges


def _meta_inbox():
    """Meta webhooks stored and not yet rated, and how long the oldest has waited: is the drain keeping up? (One
    query on the inbox's partial index of unprocessed rows.)"""
    from django.db.models import Min

    from billing.models import MetaWebhookInbox
    from core import clock

    unprocessed = MetaWebhookInbox.objects.filter(processed_at__isnull=True)
    backlog = unprocessed.aggregate(n=Count("id"), oldest=Min("received_at"))
    waiting = GaugeMetricFamily(f"{PREFIX}_meta_webhooks_unprocessed", "Meta webhooks stored, not yet rated")
    waiting.add_metric([], backlog["n"])
    yield waiting
    age = GaugeMetricFamily(f"{PREFIX}_meta_webhooks_oldest_unprocessed_seconds",
                            "Age of the oldest Meta webhook not yet rated (0 when none)")  # fmt: skip
    age.add_metric([], max(0.0, (clock.now() - backlog["oldest"]).total_seconds()) if backlog["oldest"] else 0.0)
    yield age


def fast_path_answered(*, method: str, started: float) -> None:
    """A request a WSGI/ASGI fast path answered 200 itself (config/wsgi.py wires the Meta webhooks' one; the
    send-permission check calls it): counted as the middleware counts Django's answers."""
    request_count(method=method, status=200, seconds=time.monotonic() - started)


def _queue_length(queues: list[str]) -> GaugeMetricFamily:
    """Messages waiting in each queue, asked of the broker (a passive declare: nothing is created)."""
    from kombu import Connection

    length = GaugeMetricFamily(f"{PREFIX}_celery_queue_length", "Messages waiting in the queue", labels=["queue"])
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2,
                        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as connection:  # fmt: skip
            channel = connection.default_channel
            for queue in queues:
                try:
                    length.add_metric([queue], channel.queue_declare(queue=queue, passive=True).message_count)
                except Exception:  # noqa: BLE001 -- a queue never used yet does not exist
                    length.add_metric([queue], 0)
    except Exception:  # noqa: BLE001 -- the broker's own health is /healthz's business
        logger.warning("metrics: the broker cannot be asked for queue lengths", exc_info=True)
    return length


def metrics_exposition() -> bytes:
    counters_flush()  # this process's latest counts first
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return generate_latest(registry)


def metrics_view(request):
    token = getattr(settings, "METRICS_TOKEN", None)
    if not token:
        return HttpResponseNotFound("Not found", content_type="text/plain")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    started = time.monotonic()
    body = metrics_exposition()
    logger.debug("metrics scrape took %.3fs", time.monotonic() - started)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
