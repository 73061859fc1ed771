"""The billing calendar: which jobs are due on a day, and running them (`manage.py billing_run`, Celery beat).

On the 1st: pending deletions take effect, the new-numbers sweep closes out last month, then License Invoices, the
Month Closing Invoices of the previous month, and Partner Plan invoices. On the last day of a month: monthly
Prepayment Invoices. Every other day: License Invoices – New Numbers for numbers onboarded and not yet invoiced
(the sweep behind the invoice queued at onboarding). Hubs and partners are processed in chunks; each chunk commits
on its own, so a run interrupted half way leaves whole invoices only, and running again completes the rest.
"""

import calendar
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import transaction

from billing import clock
from billing.billing_runs import billing_run_begin, billing_run_finish
from billing.invoicing.licenses import license_issue, new_numbers_sweep, numbers_deletion_finalize
from billing.invoicing.month_close import month_close
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import monthly_prepayment_issue
from billing.models import Invoice
from hub.models import Hub
from partners.models import Partner

CHUNK_SIZE = 500


@dataclass
class RunReport:
    day: dt.date
    issued: list[Invoice] = field(default_factory=list)
    deleted_numbers: int = 0
    jobs: list[str] = field(default_factory=list)


def jobs_due(day: dt.date) -> list[str]:
    jobs = []
    if day.day == 1:
        jobs += ["number_deletions", "new_numbers", "licenses", "month_closing", "partner_plans"]
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        jobs.append("monthly_prepayments")
    if day.day != 1:
        jobs.append("new_numbers")
    return jobs


def chunks(ids: list[int], size: int | None = None) -> Iterator[list[int]]:
    size = size or CHUNK_SIZE
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def hub_ids() -> list[int]:
    return list(Hub.objects.order_by("id").values_list("id", flat=True))


def partner_ids() -> list[int]:
    return list(Partner.objects.order_by("id").values_list("id", flat=True))


def issue_time(day: dt.date) -> dt.datetime:
    """Now, when running for today; otherwise the start of that day (UTC)."""
    now = clock.now()
    return now if now.date() == day else dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def job_steps(job: str, day: dt.date) -> list[Callable[[dt.datetime], list[Invoice]]]:
    """The job as independent steps (one per chunk); each issues in its own transaction."""
    month = day.replace(day=1)
    previous = clock.month_start(month - dt.timedelta(days=1))
    if job == "licenses":
        return [lambda at, ids=ids: license_issue(hub_ids=ids, month=month, issued_at=at) for ids in chunks(hub_ids())]
    if job == "month_closing":
        return [
            lambda at, ids=ids: month_close(hub_ids=ids, period=previous, issued_at=at) for ids in chunks(hub_ids())
        ]
    if job == "partner_plans":
        return [
            lambda at, ids=ids: partner_plan_issue(partner_ids=ids, month=month, issued_at=at)
            for ids in chunks(partner_ids())
        ]
    if job == "monthly_prepayments":
        return [lambda at: monthly_prepayment_issue(month=month, issued_at=at)]
    if job == "new_numbers":
        return [lambda at: new_numbers_sweep(day=day, issued_at=at)]
    raise ValueError(f"Unknown billing job {job!r}")


def _steps(job: str, day: dt.date, report: RunReport) -> list[Callable[[dt.datetime], list[Invoice]]]:
    if job != "number_deletions":
        return job_steps(job, day)

    def deletions(at: dt.datetime) -> list[Invoice]:
        report.deleted_numbers = numbers_deletion_finalize(month=day.replace(day=1))
        return []

    return [deletions]


class _DryRun(Exception):
    pass


def billing_run(
    *, day: dt.date, dry_run: bool = False, source: str = "command",
    on_step: Callable[[int, int, str], None] | None = None,
) -> RunReport:
    """Run every job due on `day`. With dry_run, everything is computed exactly as it would be and rolled back.
    `on_step(done, total, job)` is told after each step (a progress bar, a staff job's progress)."""
    report = RunReport(day=day, jobs=jobs_due(day))
    at = issue_time(day)
    run = None if dry_run else billing_run_begin(day=day, jobs=report.jobs, source=source, at=at)
    try:
        with transaction.atomic() if dry_run else nullcontext():
            plan = [(job, step) for job in report.jobs for step in _steps(job, day, report)]
            for done, (job, step) in enumerate(plan, start=1):
                report.issued += step(at)
                if on_step:
                    on_step(done, len(plan), job)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    if run is not None:
        billing_run_finish(run=run, issued=len(report.issued))
    return report
