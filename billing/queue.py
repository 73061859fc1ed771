"""Queueing Celery tasks once the transaction that caused them commits."""

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Send (the tasks are registered by BillingConfig.ready, so settings such as always-eager apply).
    Send `task_name` after commit. A broker outage is logged, not raised: the data is already committed and the
    scheduled sweeps (daily new-number invoices, delivery retries) pick up what a lost message missed."""

    def send() -> None:
        try:
            current_app.tasks[task_name].apply_async(args=args)
        except Exception:  # noqa: BLE001 -- any broker failure; the sweep recovers
            logger.exception("could not queue %s%r; the scheduled sweep will pick it up", task_name, args)

    transaction.on_commit(send)
