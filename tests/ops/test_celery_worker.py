"""Through a real Celery worker on the Redis broker: the queue lag measured from the publisher's stamp, the task's
outcome counted, and the task's log lines carrying the request id it was queued under."""

import logging
import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from prometheus_client.parser import text_string_to_metric_families

from billing.models import AuditRun, CreditAccount
from billing.tasks import ledger_audit_task
from config.celery_app import app
from ops import context
from ops.logs import ContextFilter
from ops.metrics import metrics_exposition
from tests.factories import HubFactory

pytestmark = [pytest.mark.postgres, pytest.mark.celery_broker, pytest.mark.django_db(transaction=True)]


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []
        self.addFilter(ContextFilter())

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def task_logs():
    """On the task module's own logger: the worker takes the root logger's handlers over."""
    handler = Records()
    logging.getLogger("billing.tasks").addHandler(handler)
    yield handler
    logging.getLogger("billing.tasks").removeHandler(handler)


@pytest.fixture
def redis_worker():
    cache.clear()
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=os.environ["REDIS_URL"], task_always_eager=False, broker_transport_options={})
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.update(saved)


def _wait_for_run(timeout: float = 20) -> AuditRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run := AuditRun.objects.first()) is not None:
            return run
        time.sleep(0.1)
    raise AssertionError("the worker did not run the audit task")


def test_a_worker_measures_the_lag_counts_the_outcome_and_logs_under_the_publishers_request_id(
    redis_worker, task_logs
):
    hub = HubFactory()
    CreditAccount.objects.filter(hub=hub).update(balance=5)  # a violation: the audit task logs an error

    with context.bound(request_id="req-from-the-admin-42"):
        ledger_audit_task.delay()
    _wait_for_run()
    time.sleep(0.5)  # the outcome is counted just after the task returns

    (logged,) = [record for record in task_logs.records if "ledger audit violation" in record.getMessage()]
    assert logged.request_id == "req-from-the-admin-42"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(metrics_exposition().decode()) for s in f.samples}  # fmt: skip
    assert samples[("hubportal_celery_queue_lag_tasks_total", (("queue", "celery"),))] == 1
    assert samples[("hubportal_celery_queue_lag_seconds_total", (("queue", "celery"),))] >= 0.001
    assert samples[("hubportal_celery_tasks_total", (("outcome", "succeeded"), ("task", "billing.ledger_audit")))] == 1
    assert samples[("hubportal_celery_queue_length", (("queue", "celery"),))] == 0
