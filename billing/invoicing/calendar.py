"""The billing calendar: the jobs of a day, declared once in `JOBS`, and running them. Celery beat
(`billing.run_day`), `manage.py billing_run` and staff's "Issue now" all read this table, so they bill the same
period for the same day.

On the 1st: pending deletions take effect, the new-numbers sweep closes out last month, then License Invoices, the
Month Closing Invoices of the previous month, and Partner Plan invoices. On the last day of a month: monthly
Prepayment Invoices. Every other day: License Invoices – New Numbers for numbers onboarded and not yet invoiced
(the sweep behind the invoice queued at onboarding). Hubs and partners are processed in chunks; each chunk commits
on its own, so a run interrupted half way leaves whole invoices only, and running again completes the rest. A missed
day is made up by the next one: licenses and plans bill every month since each number's and partner's billed-through
month, and the month close closes every month left open.
"""

import calendar
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import transaction

from billing.billing_runs import billing_run_begin, billing_run_finish
from billing.invoicing.issue import IssuedInvoices
from billing.invoicing.licenses import license_issue, new_numbers_sweep, numbers_deletion_finalize
from billing.invoicing.month_close import month_close
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import monthly_prepayment_issue
from billing.models import Invoice, InvoiceKind
from core import clock
from hub.models import Hub
from partners.models import Partner

CHUNK_SIZE = 500


@dataclass
class JobResult:
    issued: Sequence[Invoice] = field(default_factory=list)  # IssuedInvoices from a set-based issuer: len() is free
    deleted_numbers: int = 0


def _first_of_month(day: dt.date) -> bool:
    return day.day == 1


def _last_of_month(day: dt.date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _not_first_of_month(day: dt.date) -> bool:
    return day.day != 1


def _shift(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Job:
    """One line of the calendar: on which days `name` runs, which billing month it bills (`period_offset` months
    from the month of the day), and over what: every hub or every partner in chunks of ids, or everything at once
    (`scope` None). A `first` job finishes before the day's other jobs start (beat runs it inline instead of fanning
    it out), because they depend on what it leaves."""

    name: str
    due: Callable[[dt.date], bool]
    period_offset: int
    scope: str | None
    run: Callable[..., JobResult]
    first: bool = False
    invoice_kind: str | None = None  # the invoice staff may issue now through this job

    def period(self, day: dt.date) -> dt.date:
        return _shift(day.replace(day=1), self.period_offset)

    def billing_day(self, period: dt.date) -> dt.date:
        """The 1st on which this job bills `period` (for a job due on the 1st)."""
        return _shift(period.replace(day=1), -self.period_offset)


def _number_deletions(*, period, day, issued_at, ids) -> JobResult:
    return JobResult(deleted_numbers=numbers_deletion_finalize(month=period))


def _new_numbers(*, period, day, issued_at, ids) -> JobResult:
    return JobResult(issued=new_numbers_sweep(day=day, issued_at=issued_at))


def _licenses(*, period, day, issued_at, ids) -> JobResult:
    return JobResult(issued=license_issue(hub_ids=ids, month=period, issued_at=issued_at))


def _month_closing(*, period, day, issued_at, ids) -> JobResult:
    return JobResult(issued=month_close(hub_ids=ids, period=period, issued_at=issued_at))


def _partner_plans(*, period, day, issued_at, ids) -> JobResult:
    return JobResult(issued=partner_plan_issue(partner_ids=ids, month=period, issued_at=issued_at))


def _monthly_prepayments(*, period, day, issued_at, ids) -> JobResult:
    return JobResult(issued=monthly_prepayment_issue(month=day.replace(day=1), issued_at=issued_at))


HUBS, PARTNERS = "hubs", "partners"

# In the order they run on a day.
JOBS: tuple[Job, ...] = (
    # Numbers whose deletion was requested before this month are not licensed for it.
    Job("number_deletions", _first_of_month, 0, None, _number_deletions, first=True),
    # Last month's late numbers are pro-rated before this month's License Invoices mark them licensed.
    Job("new_numbers", _first_of_month, -1, None, _new_numbers, first=True),
    Job("licenses", _first_of_month, 0, HUBS, _licenses, invoice_kind=InvoiceKind.LICENSE),
    Job("month_closing", _first_of_month, -1, HUBS, _month_closing, invoice_kind=InvoiceKind.MONTH_CLOSING),
    Job("partner_plans", _first_of_month, 0, PARTNERS, _partner_plans, invoice_kind=InvoiceKind.PARTNER_PLAN),
    # Issued on the last day, for the next month's messaging.
    Job("monthly_prepayments", _last_of_month, 1, None, _monthly_prepayments),
    Job("new_numbers", _not_first_of_month, 0, None, _new_numbers),
)


def jobs_due(day: dt.date) -> list[Job]:
    return [job for job in JOBS if job.due(day)]


def job_named(name: str, day: dt.date) -> Job:
    """The job called `name` that is due on `day`."""
    for job in jobs_due(day):
        if job.name == name:
            return job
    raise ValueError(f"No billing job {name!r} is due on {day}.")


def job_for_invoice_kind(kind: str) -> Job:
    for job in JOBS:
        if job.invoice_kind == kind:
            return job
    raise ValueError(f"Invoices of kind {kind} are not issued by a billing job.")


def chunks(ids: list[int], size: int | None = None) -> Iterator[list[int]]:
    size = size or CHUNK_SIZE
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def hub_ids() -> list[int]:
    return list(Hub.objects.order_by("id").values_list("id", flat=True))


def partner_ids() -> list[int]:
    return list(Partner.objects.order_by("id").values_list("id", flat=True))


def job_chunks(job: Job) -> list[Sequence[int] | None]:
    """The job's independent steps: one per chunk of hub or partner ids (None: one step for everything)."""
    if job.scope == HUBS:
        return list(chunks(hub_ids()))
    if job.scope == PARTNERS:
        return list(chunks(partner_ids()))
    return [None]


def issue_time(day: dt.date) -> dt.datetime:
    """Now, when running for today; otherwise the start of that day (UTC)."""
    now = clock.now()
    return now if now.date() == day else dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def job_run(*, job: Job, day: dt.date, ids: Sequence[int] | None, issued_at: dt.datetime | None = None) -> JobResult:
    """One step of `job` as the calendar runs it on `day`: for the billing month the table gives for that day."""
    return job.run(period=job.period(day), day=day, issued_at=issued_at or issue_time(day), ids=ids)


@dataclass
class RunReport:
    day: dt.date
    issued: Sequence[Invoice] = field(default_factory=list)
    deleted_numbers: int = 0
    jobs: list[str] = field(default_factory=list)


class _DryRun(Exception):
    pass


def billing_run(
    *, day: dt.date, dry_run: bool = False, source: str = "command",
    on_step: Callable[[int, int, str], None] | None = None,
) -> RunReport:
    """Run every job due on `day`, in order, each chunk in its own transaction. With dry_run, everything is computed
    exactly as it would be and rolled back. `on_step(done, total, job)` is told after each chunk (a progress bar, a
    staff job's progress). A real run is recorded (BillingRun: expected, issued, duration)."""
    due = jobs_due(day)
    report = RunReport(day=day, jobs=[job.name for job in due])
    at = issue_time(day)
    run = None if dry_run else billing_run_begin(day=day, jobs=report.jobs, source=source, at=at)
    try:
        with transaction.atomic() if dry_run else nullcontext():
            plan = [(job, ids) for job in due for ids in job_chunks(job)]
            issued = []
            for done, (job, ids) in enumerate(plan, start=1):
                result = job_run(job=job, day=day, ids=ids, issued_at=at)
                issued.append(result.issued)
                report.deleted_numbers += result.deleted_numbers
                if on_step:
                    on_step(done, len(plan), job.name)
            report.issued = IssuedInvoices.joined(issued)  # read when the caller reads them
            if dry_run:
                list(report.issued)  # read before the rollback
                raise _DryRun
    except _DryRun:
        pass
    if run is not None:
        billing_run_finish(run=run, issued=len(report.issued))
    return report
