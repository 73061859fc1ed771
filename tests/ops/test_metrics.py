"""/metrics: Prometheus text behind a bearer token, parsed back with the Prometheus client library's own parser.
Event counters are shared through the cache (every process's increments add up); invoice and charge totals are
counted from the database at scrape time."""

import datetime as dt
import socket
from io import StringIO

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from billing.invoicing.licenses import license_issue
from billing.models import Invoice, MetaWebhookInbox, PaymentAttempt
from billing.tasks import ledger_audit_task, staff_job_run_task
from ops import metrics
from ops.metrics import PortalCollector
from tests.billing.usage.test_import_usage import NUMBER, WABA_ID, event, rate_card, write  # noqa: F401
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def fresh_counters(settings, monkeypatch):
    settings.METRICS_TOKEN = TOKEN
    metrics.counters_flush()  # what earlier tests in this process counted goes to the cache, which is then emptied
    cache.clear()
    yield
    cache.clear()


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_are_404_without_a_token_configured(client, settings):
    settings.METRICS_TOKEN = None
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_metrics_are_401_without_the_right_token(client):
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_requests_are_counted_by_method_and_status_class(client):
    client.get("/login/")
    client.get("/login/")
    client.get("/no-such-page/")
    client.post("/login/", {"username": "nobody", "password": "wrong"})
    client.get("/healthz")  # the probes are not counted

    samples = scrape(client)

    assert samples[("hubportal_http_requests_total", (("method", "GET"), ("status", "2xx")))] == 2
    assert samples[("hubportal_http_requests_total", (("method", "GET"), ("status", "4xx")))] == 1
    assert samples[("hubportal_http_requests_total", (("method", "POST"), ("status", "2xx")))] == 1
    assert samples[("hubportal_http_request_duration_seconds_total", (("method", "GET"), ("status", "2xx")))] > 0
    assert samples[("hubportal_metrics_cache_up", ())] == 1


def test_invoices_issued_and_delivered_and_charges_come_from_the_database(client):
    numbers = [PhoneNumberFactory(e164=f"+4915100009{n:03d}") for n in range(3)]
    issued = license_issue(hub_ids=[n.waba.hub_id for n in numbers], month=dt.date(2026, 11, 1),
                           issued_at=dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC))  # fmt: skip
    Invoice.objects.filter(pk=issued[0].pk).update(delivered_at=timezone.now())
    for n, status in enumerate(["succeeded", "failed", "failed", "processing"]):
        PaymentAttempt.objects.create(
            invoice=issued[n % 3], method_kind="card", method_label="Visa •••• 4242", purpose="automatic",
            round=f"r{n}", amount=issued[0].total, currency="EUR", idempotency_key=f"attempt-{n}", status=status,
        )  # fmt: skip

    samples = scrape(client)

    assert samples[("hubportal_invoices_issued_total", (("kind", "LICENSE"),))] == 3
    assert samples[("hubportal_invoices_delivered_total", (("kind", "LICENSE"),))] == 1
    assert samples[("hubportal_invoices_issued_total", (("kind", "MONTH_CLOSING"),))] == 0
    assert samples[("hubportal_charges_total", (("outcome", "succeeded"),))] == 1
    assert samples[("hubportal_charges_total", (("outcome", "failed"),))] == 2


def test_usage_events_are_counted_accepted_duplicate_and_rejected(client, tmp_path):
    PhoneNumberFactory(e164=NUMBER, waba=WabaFactory(meta_waba_id=WABA_ID, timezone="Europe/Berlin"))
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        call_command("import_usage", str(write(tmp_path, event(1), event(2))), stdout=StringIO(), stderr=StringIO())
        with pytest.raises(CommandError):
            call_command("import_usage", str(write(tmp_path, event(1), event(2), event(3, category="nope"), "{bad")),
                         stdout=StringIO(), stderr=StringIO())  # fmt: skip

    samples = scrape(client)

    assert samples[("hubportal_usage_events_total", (("outcome", "accepted"),))] == 2
    assert samples[("hubportal_usage_events_total", (("outcome", "duplicate"),))] == 2
    assert samples[("hubportal_usage_events_total", (("outcome", "rejected"),))] == 2


def test_celery_task_outcomes_are_counted(client):
    ledger_audit_task.delay()  # eager in tests
    # Run as a worker would (no exception propagated to the caller): a job that does not exist fails the task.
    assert staff_job_run_task.apply(args=[999999], throw=False).failed()

    samples = scrape(client)

    assert samples[("hubportal_celery_tasks_total", (("outcome", "succeeded"), ("task", "billing.ledger_audit")))] == 1
    assert samples[("hubportal_celery_tasks_total", (("outcome", "failed"), ("task", "billing.staff_job_run")))] == 1


def test_a_scrape_costs_three_queries_whatever_the_books_hold(django_assert_num_queries):
    with django_assert_num_queries(3):  # invoices, charges, the Meta inbox's backlog
        list(PortalCollector().collect())


def test_a_cache_that_is_down_never_fails_the_request_nor_the_scrape(client, caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                            "LOCATION": f"redis://127.0.0.1:{closed.getsockname()[1]}/0"}}  # fmt: skip
        with override_settings(CACHES=down):
            assert client.get("/login/").status_code == 200
            text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert "hubportal_metrics_cache_up 0.0" in text
    assert "metrics: could not write 2 counter(s) to the cache" in caplog.text  # the request's count and time


@pytest.mark.celery_broker
def test_on_redis_counts_are_written_in_one_pipelined_batch_and_read_back(client, settings, monkeypatch):
    from redis import Redis

    from tests.api.test_send_permission_cache import _redis_url

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": _redis_url(), "KEY_PREFIX": "ops-metrics-test"}}  # fmt: skip
    cache.clear()
    client.get("/login/")
    client.get("/login/")
    commands = []
    execute = Redis.execute_command
    monkeypatch.setattr(
        Redis, "execute_command", lambda self, *a, **kw: commands.append(a[0]) or execute(self, *a, **kw)
    )

    samples = scrape(client)

    assert samples[("hubportal_http_requests_total", (("method", "GET"), ("status", "2xx")))] == 2
    assert "INCRBY" not in commands and "MGET" in commands  # the increments went in one pipeline
    cache.clear()


def test_meta_webhooks_waiting_to_be_rated_and_the_oldest_ones_age_are_gauged(client):
    now = timezone.now()
    MetaWebhookInbox.objects.bulk_create([
        MetaWebhookInbox(body=b"{}", received_at=now - dt.timedelta(seconds=90)),
        MetaWebhookInbox(body=b"{}", received_at=now - dt.timedelta(seconds=5)),
        MetaWebhookInbox(body=b"{}", received_at=now - dt.timedelta(hours=1), processed_at=now),  # rated
    ])  # fmt: skip

    samples = scrape(client)

    assert samples[("hubportal_meta_webhooks_unprocessed", ())] == 2
    assert 90 <= samples[("hubportal_meta_webhooks_oldest_unprocessed_seconds", ())] < 120
    MetaWebhookInbox.objects.update(processed_at=now)
    after = scrape(client)
    assert after[("hubportal_meta_webhooks_unprocessed", ())] == 0
    assert after[("hubportal_meta_webhooks_oldest_unprocessed_seconds", ())] == 0
