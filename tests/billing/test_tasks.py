"""The nightly audit through a real Celery worker and a real Redis broker."""

import os

import pytest
from celery.contrib.testing.worker import start_worker
from djmoney.money import Money

from billing.ledger import ledger_post
from billing.models import AuditRun, CreditAccount, EntryKind
from billing.tasks import ledger_audit_task
from config.celery_app import app
from tests.factories import HubFactory

pytestmark = [pytest.mark.postgres, pytest.mark.celery_broker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_worker():
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=os.environ["REDIS_URL"], task_always_eager=False, broker_transport_options={})
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.update(saved)


def test_the_audit_task_runs_on_a_worker_and_records_what_it_found(redis_worker):
    hub = HubFactory()
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("20", "EUR"), key="f")
    CreditAccount.objects.filter(pk=hub.credit_account.pk).update(balance=999)

    ledger_audit_task.delay()
    run = _wait_for_run()

    assert run.accounts == 1
    assert run.violations == [
        {
            "hub_id": hub.hub_id,
            "account_id": hub.credit_account.pk,
            "problem": "cached balance 999.000000 != sum of entries 20.000000",
        }
    ]


def _wait_for_run(timeout: float = 20) -> AuditRun:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AuditRun.objects.first()
        if run is not None:
            return run
        time.sleep(0.1)
    raise AssertionError("the worker did not run the audit task")
