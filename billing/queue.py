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
    """Queue one `task_name(id)` per id after commit, through ONE message: `billing.queue_each` (billing/tasks.py)
    sends them from a worker. A month close issues ~20,000 invoices, and a message per invoice sent by the job itself
    was its largest cost (~0.3–0.6 ms of Celery/kombu work each: a third of billing_run). Each invoice still has its
    own task (retried on its own). When the broker cannot be reached the one message is not sent; one line says how
    many were not queued, and the scheduled sweep queues them."""
    ids = list(ids)
    if not ids:
        return

    def send() -> None:
        try:
            current_app.tasks["billing.queue_each"].apply_async(args=(task_name, ids))
        except BrokerUnreachable:
            logger.exception(
                "could not queue %s for %d of %d ids (from %s on); the scheduled sweep will pick them up",
                task_name, len(ids), len(ids), ids[0],
            )  # fmt: skip

    transaction.on_commit(send)


def send_each(task_name: str, ids: Sequence[int]) -> int:
    """Send `task_name(id)` for each id, on one producer (one broker connection for all). Stops at a broker
    outage (each try would wait on it again) and logs how many were not sent; returns how many were."""
    task = current_app.tasks[task_name]
    sent = 0
    with current_app.producer_or_acquire() as producer:
        for id_ in ids:
            try:
                # argsrepr given: Celery would otherwise saferepr the arguments of every message
                task.apply_async(args=(id_,), producer=producer, argsrepr=f"({id_},)", kwargsrepr="{}")
            except BrokerUnreachable:
                logger.exception(
                    "could not queue %s for %d of %d ids (from %s on); the scheduled sweep will pick them up",
                    task_name, len(ids) - sent, len(ids), id_,
                )  # fmt: skip
                break
            except Exception:  # noqa: BLE001 -- only when run eagerly: the task's own failure, not the others'
                logger.exception("%s(%s) failed; the scheduled sweep will pick it up", task_name, id_)
            sent += 1
    return sent
