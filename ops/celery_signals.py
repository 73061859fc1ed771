"""Celery's side of the metrics and of the logs' request id: the publisher stamps each message with the time and
the request id it was queued in; the worker measures the queue lag, binds the request id (and the task name) for the
task's log lines, and counts each task's outcome."""

import time

from celery import signals

from ops import context, metrics

PUBLISHED_AT = "hubportal_published_at"
REQUEST_ID = "hubportal_request_id"
_bound: dict[str, list] = {}


@signals.before_task_publish.connect
def stamp(headers=None, **kwargs) -> None:
    if headers is not None:
        headers[PUBLISHED_AT] = time.time()
        if request_id := context.request_id.get():
            headers[REQUEST_ID] = request_id


def _header(task, name: str):
    request = getattr(task, "request", None)
    value = getattr(request, name, None) if request is not None else None
    if value is None and request is not None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


@signals.task_prerun.connect
def task_started(task_id=None, task=None, **kwargs) -> None:
    published = _header(task, PUBLISHED_AT)
    if published and not getattr(task.request, "is_eager", False):
        queue = (getattr(task.request, "delivery_info", None) or {}).get("routing_key") or "celery"
        metrics.queue_lag_record(queue=queue, seconds=max(0.0, time.time() - float(published)))
    request_id = _header(task, REQUEST_ID) or task_id or ""
    _bound[task_id] = [(context.request_id, context.request_id.set(str(request_id)))]


@signals.task_postrun.connect
def task_finished(task_id=None, **kwargs) -> None:
    for var, token in reversed(_bound.pop(task_id, [])):
        try:
            var.reset(token)
        except ValueError:  # set in another context (a pool thread): leave it
            var.set("")


@signals.task_success.connect
def task_succeeded(sender=None, **kwargs) -> None:
    metrics.task_outcome_count(task=sender.name, outcome="succeeded")


@signals.task_failure.connect
def task_failed(sender=None, **kwargs) -> None:
    metrics.task_outcome_count(task=sender.name, outcome="failed")


@signals.task_retry.connect
def task_retried(sender=None, **kwargs) -> None:
    metrics.task_outcome_count(task=sender.name, outcome="retried")
