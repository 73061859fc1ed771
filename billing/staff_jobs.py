"""Long staff jobs: a piece of staff work that runs in a worker and writes its progress as it goes, so staff can
start it in the admin, leave the page and come back to its status (admin: Staff jobs).

A kind of job is a runner registered with `@staff_job_runner("kind", label)`: a function of the job and a
`JobProgress`, returning a JSON-able result. It must commit its work in steps (the progress is written outside
its transactions, so it is visible while it runs) and be safe to run again: a job whose worker was lost is started
again by staff, and what was done is not done twice. Runners here: the billing day (`billing_run`) and the
reconciliation import; other modules register theirs (a journal export) the same way.
"""

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from billing.models import BillingRunSource, StaffActionKind, StaffJob, StaffJobStatus
from billing.queue import enqueue_on_commit
from billing.staff_actions import StaffActionError, _already_done, _reason, _record
from core import clock

logger = logging.getLogger(__name__)
# Progress is written at most this often (seconds); the first and the last step are always written.
PROGRESS_EVERY = 0.5
MESSAGE_MAX = 300


@dataclass(frozen=True)
class JobKind:
    kind: str
    label: str
    audit_action: str
    run: Callable[[StaffJob, "JobProgress"], dict]


RUNNERS: dict[str, JobKind] = {}


def staff_job_runner(kind: str, label: str, audit_action: str):
    """Register the runner of a kind of staff job; `audit_action` is the StaffActionKind its start is logged as."""

    def register(run: Callable[[StaffJob, "JobProgress"], dict]):
        RUNNERS[kind] = JobKind(kind, label, audit_action, run)
        return run

    return register


class JobProgress:
    """The job's progress, written to its row (an UPDATE in its own autocommit) at most every PROGRESS_EVERY
    seconds; `listener` (a command's progress bar) hears every step."""

    def __init__(self, job: StaffJob, listener: Callable[[int, int | None, str], None] | None = None) -> None:
        self.job, self.listener, self.written_at = job, listener, 0.0
        self.last: dict = {}

    def __call__(self, done: int, total: int | None = None, message: str = "") -> None:
        if self.listener:
            self.listener(done, total, message)
        # Kept for the job's end too: a runner inside a transaction that is rolled back (a dry run) loses its writes.
        self.last = {"progress": min(done, total) if total is not None else done, "total": total,
                     "message": message[:MESSAGE_MAX]}  # fmt: skip
        last = total is not None and done >= total
        if not last and done > 1 and time.monotonic() - self.written_at < PROGRESS_EVERY:
            return
        self.written_at = time.monotonic()
        done = min(done, total) if total is not None else done
        StaffJob.objects.filter(pk=self.job.pk).update(
            progress=done, total=total, message=message[:MESSAGE_MAX], updated_at=clock.now()
        )


def staff_job_create(*, kind: str, params: dict, user=None, input_name: str = "", input_bytes: bytes | None = None
                     ) -> StaffJob:  # fmt: skip
    """A queued job (not started). The input file, if any, is stored with it (the worker may be another machine:
    media storage is shared, as for invoice PDFs)."""
    if kind not in RUNNERS:
        raise StaffActionError(f"Unknown kind of staff job {kind!r}.")
    now = clock.now()
    job = StaffJob(kind=kind, params=params, created_by=user, created_at=now, updated_at=now)
    if input_bytes is not None:
        job.input_file.save(input_name or f"{kind}.txt", ContentFile(input_bytes), save=False)
    job.save()
    return job


def staff_job_start(*, user, kind: str, params: dict, reason: str, key: str, input_name: str = "",
                    input_bytes: bytes | None = None) -> StaffJob:  # fmt: skip
    """Start a staff job from the admin: the job row and its line in the staff audit log in one transaction, the
    worker task queued after commit. The same form submitted twice starts one job."""
    reason = _reason(reason)
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return StaffJob.objects.get(pk=done.details["job"])
        job = staff_job_create(kind=kind, params=params, user=user, input_name=input_name, input_bytes=input_bytes)
        _record(user=user, action=RUNNERS[kind].audit_action, target=job, reason=reason, key=key,
                details={"job": job.pk, "kind": kind, "params": params})  # fmt: skip
        enqueue_on_commit("billing.staff_job_run", job.pk)
    return job


def staff_job_run(*, job_id: int, listener: Callable[[int, int | None, str], None] | None = None) -> StaffJob:
    """Run a queued job to its end: running → succeeded with the runner's result, or failed with the error. A job
    already claimed by another worker (or finished) is left alone."""
    claimed = StaffJob.objects.filter(pk=job_id, status=StaffJobStatus.QUEUED).update(
        status=StaffJobStatus.RUNNING, started_at=clock.now(), updated_at=clock.now()
    )
    job = StaffJob.objects.get(pk=job_id)
    if not claimed:
        return job
    progress = JobProgress(job, listener)
    try:
        result = RUNNERS[job.kind].run(job, progress)
    except Exception as error:  # noqa: BLE001 -- every failure is kept on the job for staff to read
        logger.exception("staff job %s (%s) failed", job.pk, job.kind)
        _finish(job, StaffJobStatus.FAILED, progress.last, error=str(error) or error.__class__.__name__)
    else:
        _finish(job, StaffJobStatus.SUCCEEDED, progress.last, result=result)
    job.refresh_from_db()
    return job


def _finish(job: StaffJob, status: str, last: dict, *, result: dict | None = None, error: str = "") -> None:
    now = clock.now()
    StaffJob.objects.filter(pk=job.pk).update(
        status=status, result=result or {}, error=error, finished_at=now, updated_at=now, **last
    )


def staff_job_status(*, job: StaffJob) -> dict:
    """What the status page polls: no secrets, only the job's own figures."""
    return {
        "id": job.pk, "kind": job.kind, "label": str(RUNNERS[job.kind].label) if job.kind in RUNNERS else job.kind,
        "status": job.status, "status_label": str(job.get_status_display()), "progress": job.progress,
        "total": job.total, "percent": job.percent, "message": job.message, "done": job.done, "error": job.error,
        "result": job.result, "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "output": job.output.url if job.output else None,
    }  # fmt: skip


# Runners -------------------------------------------------------------------------------------------------------------

INVOICES_LISTED = 200


@staff_job_runner("billing_day", _("Billing day"), StaffActionKind.INVOICES_ISSUE)
def billing_day_run(job: StaffJob, progress: JobProgress) -> dict:
    """Every billing job due on a day, as beat runs them (`billing_run`): each chunk commits on its own, so a job
    interrupted half way is completed by running the day again."""
    from billing.invoicing.calendar import billing_run

    day, dry_run = dt.date.fromisoformat(job.params["day"]), bool(job.params.get("dry_run"))
    report = billing_run(
        day=day, dry_run=dry_run, source=BillingRunSource.STAFF,
        on_step=lambda done, total, name: progress(done, total, str(_("Billing job: %(job)s") % {"job": name})),
    )  # fmt: skip
    return {
        "day": day.isoformat(), "dry_run": dry_run, "jobs": report.jobs, "deleted_numbers": report.deleted_numbers,
        "issued": len(report.issued),
        "invoices": [f"{i.number or 'draft'} {i.kind} {i.total} {i.currency}" for i in report.issued[:INVOICES_LISTED]],
    }  # fmt: skip


@staff_job_runner("reconciliation_import", _("Reconciliation import"), StaffActionKind.USAGE_RECONCILE)
def reconciliation_import_run(job: StaffJob, progress: JobProgress) -> dict:
    """Meta's daily cost report, checked whole (one bad line rejects the file, nothing posted), then posted in
    chunks of WABA days (`usage_reconcile_chunked`)."""
    from billing.reconciliation import ReconciliationError, reconciliation_parse, usage_reconcile_chunked

    with job.input_file.open("rb") as stored:
        lines = stored.read().decode("utf-8-sig").splitlines()
    progress(0, None, str(_("Checking %(lines)d lines") % {"lines": len(lines)}))
    try:
        rows = reconciliation_parse(lines=lines)
    except ReconciliationError as rejected:
        raise StaffActionError(f"File rejected, nothing was posted: {rejected}") from rejected
    results = usage_reconcile_chunked(
        rows=rows, on_chunk=lambda done, total: progress(done, total, str(_("WABA days reconciled")))
    )
    totals: dict[str, str] = {}
    for currency in sorted({r.currency for r in results}):
        totals[currency] = str(sum(r.posted for r in results if r.currency == currency))
    return {"days": len(results), "posted": sum(1 for r in results if r.posted), "posted_by_currency": totals}
