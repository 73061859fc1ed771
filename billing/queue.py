"""Queueing Celery tasks once the transaction that caused them commits."""

import logging
from collections.abc import Sequence

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnreachable

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Send `task_name` after commit (the tasks are registered by BillingConfig.ready, so settings such as
    always-eager apply). A broker outage is logged, not raised: the data is already committed and the
    scheduled sweeps (daily new-number invoices, delivery retries) pick up what a lost message missed."""

    def send() -> None:
        try:
            current_app.tasks[task_name].apply_async(args=args)
        except Exception:  # noqa: BLE001 -- any broker failure; the sweep recovers
            logger.exception("could not queue %s%r; the scheduled sweep will pick it up", task_name, args)

    transaction.on_commit(send)


def enqueue_each_on_commit(task_name: str, ids: Sequence[int]) -> None:
    """Send one `task_name(id)` per id after commit. When the broker cannot be reached the rest are not tried (each
    try would wait on it again): one line says how many were not queued, and the scheduled sweep queues them."""
    ids = list(ids)
    if not ids:
        return

    def send() -> None:
        task = current_app.tasks[task_name]
        for sent, id_ in enumerate(ids):
            try:
                task.apply_async(args=(id_,))
            except BrokerUnreachable:
                logger.exception(
                    "could not queue %s for %d of %d ids (from %s on); the scheduled sweep will pick them up",
                    task_name, len(ids) - sent, len(ids), id_,
                )  # fmt: skip
                return
            except Exception:  # noqa: BLE001 -- only when run eagerly: the task's own failure, not the others'
                logger.exception("%s(%s) failed; the scheduled sweep will pick it up", task_name, id_)

    transaction.on_commit(send)
