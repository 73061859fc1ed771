"""Celery tasks: thin wrappers that take ids and dates, call one service, and own their retry policy."""

import datetime as dt
import logging

from celery import shared_task
from django.db import OperationalError, transaction

from billing import clock
from billing.audit import audit_run_record
from billing.invoicing import calendar
from billing.invoicing.licenses import license_issue, new_numbers_issue, numbers_deletion_finalize
from billing.invoicing.month_close import month_close
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import monthly_prepayment_issue
from billing.models import Invoice
from billing.restrictions import restrictions_evaluate

logger = logging.getLogger(__name__)

# Chunk tasks are idempotent (one invoice per party, kind and period; a closed month is skipped): a lock timeout
# or deadlock, or a worker lost mid-task (acks_late), simply runs the chunk again.
CHUNK_TASK = {
    "bind": True, "acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True,
    "max_retries": 5, "time_limit": 15 * 60, "soft_time_limit": 14 * 60,
}  # fmt: skip


@shared_task(name="billing.ledger_audit", time_limit=30 * 60, soft_time_limit=25 * 60)
def ledger_audit_task() -> int:
    """Nightly proof of the books; violations are logged as errors (and kept as an AuditRun for staff)."""
    run = audit_run_record()
    for violation in run.violations:
        logger.error("ledger audit violation: hub %(hub_id)s (credit account %(account_id)s): %(problem)s", violation)
    return run.pk


@shared_task(name="billing.run_day", time_limit=10 * 60)
def billing_day_task(day: str | None = None) -> list[str]:
    """Beat's daily entry: fan the jobs due today out as one task per chunk of hubs or partners."""
    day_ = dt.date.fromisoformat(day) if day else clock.now().date()
    jobs = calendar.jobs_due(day_)
    month = day_.replace(day=1)
    if "number_deletions" in jobs:
        numbers_deletion_finalize(month=month)
    for job in jobs:
        if job in ("licenses", "month_closing"):
            for ids in calendar.chunks(calendar.hub_ids()):
                billing_chunk_task.delay(job, day_.isoformat(), ids)
        elif job == "partner_plans":
            for ids in calendar.chunks(calendar.partner_ids()):
                billing_chunk_task.delay(job, day_.isoformat(), ids)
        elif job in ("monthly_prepayments", "new_numbers"):
            billing_chunk_task.delay(job, day_.isoformat(), None)
    return jobs


@shared_task(name="billing.run_chunk", **CHUNK_TASK)
def billing_chunk_task(self, job: str, day: str, ids: list[int] | None) -> int:
    day_ = dt.date.fromisoformat(day)
    at = calendar.issue_time(day_)
    month = day_.replace(day=1)
    if job == "licenses":
        issued = license_issue(hub_ids=ids, month=month, issued_at=at)
    elif job == "month_closing":
        issued = month_close(hub_ids=ids, period=clock.month_start(month - dt.timedelta(days=1)), issued_at=at)
    elif job == "partner_plans":
        issued = partner_plan_issue(partner_ids=ids, month=month, issued_at=at)
    elif job == "monthly_prepayments":
        issued = monthly_prepayment_issue(month=month, issued_at=at)
    elif job == "new_numbers":
        issued = [i for d in calendar._days_of_month_until(day_) for i in new_numbers_issue(day=d, issued_at=at)]
    else:
        raise ValueError(f"Unknown billing job {job!r}")
    return len(issued)


@shared_task(name="billing.new_numbers", **CHUNK_TASK)
def new_numbers_issue_task(self, day: str, hub_ids: list[int]) -> int:
    return len(new_numbers_issue(day=dt.date.fromisoformat(day), issued_at=clock.now(), hub_ids=hub_ids))


@shared_task(name="billing.deliver_invoices", bind=True, acks_late=True, max_retries=5, time_limit=30 * 60)
def invoices_deliver_task(self, invoice_ids: list[int]) -> int:
    """Render and store each invoice's PDF and email it to the billing email (once: emailed_at is kept)."""
    from billing.emails import invoice_email_send
    from billing.pdf import invoice_pdf_store

    sent = 0
    for invoice in Invoice.objects.filter(id__in=invoice_ids, emailed_at__isnull=True).exclude(number=None):
        if not invoice.pdf:
            invoice_pdf_store(invoice=invoice)
        with invoice.pdf.open("rb") as stored:
            invoice_email_send(invoice=invoice, pdf=stored.read())
        Invoice.objects.filter(pk=invoice.pk).update(emailed_at=clock.now())
        sent += 1
    return sent


@shared_task(name="billing.restrictions_sweep", time_limit=10 * 60)
def restrictions_sweep_task() -> int:
    """Every few minutes: re-evaluate every hub and partner (behind the per-event evaluation)."""
    changed = 0
    for ids in calendar.chunks(calendar.hub_ids(), 2000):
        with transaction.atomic():
            result = restrictions_evaluate(hub_ids=ids)
        changed += len(result.started) + len(result.lifted)
    with transaction.atomic():
        result = restrictions_evaluate(partner_ids=calendar.partner_ids())
    return changed + len(result.started) + len(result.lifted)
