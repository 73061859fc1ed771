"""Celery tasks: thin wrappers that take ids and dates, call one service, and own their retry policy."""

import datetime as dt
import logging

from celery import shared_task
from django.db import OperationalError, transaction

from billing.audit import audit_run_record
from billing.billing_runs import billing_run_begin, billing_run_chunk_done, billing_run_finish
from billing.invoicing import calendar
from billing.invoicing.licenses import new_numbers_issue
from billing.meta_analytics import pricing_analytics_pull
from billing.models import BillingRunSource
from billing.restrictions import restrictions_evaluate
from core import clock

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
    """Beat's daily entry: the calendar's jobs due today (billing/invoicing/calendar.py). A job the others depend on
    runs here, to its end; the rest fan out as one task per chunk of hubs or partners."""
    day_ = dt.date.fromisoformat(day) if day else clock.now().date()
    jobs = calendar.jobs_due(day_)
    at = calendar.issue_time(day_)
    run = billing_run_begin(day=day_, jobs=[job.name for job in jobs], source=BillingRunSource.BEAT, at=at)
    issued, chunks = 0, []
    for job in jobs:
        if job.first:
            issued += len(calendar.job_run(job=job, day=day_, ids=None).issued)
            continue
        chunks += [(job.name, ids) for ids in calendar.job_chunks(job)]
    billing_run_finish(run=run, issued=issued, chunks_total=len(chunks))
    for name, ids in chunks:
        billing_chunk_task.delay(name, day_.isoformat(), ids)
    return [job.name for job in jobs]


@shared_task(name="billing.run_chunk", **CHUNK_TASK)
def billing_chunk_task(self, job: str, day: str, ids: list[int] | None) -> int:
    day_ = dt.date.fromisoformat(day)
    issued = len(calendar.job_run(job=calendar.job_named(job, day_), day=day_, ids=ids).issued)
    billing_run_chunk_done(day=day_, issued=issued)
    return issued


@shared_task(name="billing.new_numbers", **CHUNK_TASK)
def new_numbers_issue_task(self, day: str, hub_ids: list[int]) -> int:
    return len(new_numbers_issue(day=dt.date.fromisoformat(day), issued_at=clock.now(), hub_ids=hub_ids))


# One invoice per task: a refused email retries that invoice alone, with back-off (30 s, 1, 2, 4, 8 min: about the
# sweep's grace), then the delivery sweep takes over. SMTP errors are OSErrors (smtplib.SMTPException).
DELIVERY_TASK = {
    "bind": True, "acks_late": True, "autoretry_for": (OSError, OperationalError), "retry_backoff": 30,
    "retry_backoff_max": 8 * 60, "retry_jitter": False, "max_retries": 5, "time_limit": 5 * 60,
    "soft_time_limit": 4 * 60,
}  # fmt: skip


@shared_task(name="billing.queue_each", acks_late=True, time_limit=10 * 60)
def queue_each_task(task_name: str, ids: list[int]) -> int:
    """One task per id, sent from a worker (billing.queue.enqueue_each_on_commit): the job that issued the invoices
    sends one message. Redelivered after a worker crash, it sends duplicates, which find their work done."""
    from billing.queue import send_each

    return send_each(task_name, ids)


@shared_task(name="billing.deliver_invoice", **DELIVERY_TASK)
def invoice_deliver_task(self, invoice_id: int) -> bool:
    """Email one issued invoice with its PDF to the billing email, once (billing/delivery.py)."""
    from billing.delivery import invoice_deliver

    return invoice_deliver(invoice_id=invoice_id)


@shared_task(name="billing.delivery_sweep", time_limit=10 * 60)
def invoices_delivery_sweep_task() -> int:
    """Every few minutes: queue again each issued invoice not delivered DELIVERY_GRACE after issue (its task was
    lost with the broker or a worker, or ran out of retries). A duplicate task finds it delivered and sends nothing."""
    from billing.delivery import DELIVERY_GRACE, invoices_undelivered

    invoice_ids = invoices_undelivered(issued_before=clock.now() - DELIVERY_GRACE)
    for invoice_id in invoice_ids:
        invoice_deliver_task.delay(invoice_id)
    if invoice_ids:
        logger.warning("delivery sweep: queued %d undelivered invoice(s) again", len(invoice_ids))
    return len(invoice_ids)


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


# Payments: thin wrappers over billing.payments. Stripe without an answer (StripeUnavailable) is retried later with
# the same idempotency keys; the sweeps pick up whatever a lost message or a crashed worker left open.
PAYMENT_TASK = {
    "bind": True, "acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True,
    "max_retries": 5, "time_limit": 5 * 60, "soft_time_limit": 4 * 60,
}  # fmt: skip


def _with_stripe_retry(task, work):
    from billing.stripe_api import StripeUnavailable

    try:
        return work()
    except StripeUnavailable as unavailable:
        raise task.retry(exc=unavailable, countdown=60) from unavailable


@shared_task(name="billing.charge_pending", time_limit=5 * 60)
def charge_pending_task() -> int:
    """Every minute: queue the automatic charge of each pending invoice with nothing in flight."""
    from billing.payments.charging import charges_due

    due = charges_due()
    for invoice_id in due:
        invoice_charge_task.delay(invoice_id)
    return len(due)


@shared_task(name="billing.charge_invoice", **PAYMENT_TASK)
def invoice_charge_task(self, invoice_id: int) -> str:
    from billing.payments.charging import invoice_charge_automatically

    return _with_stripe_retry(self, lambda: invoice_charge_automatically(invoice_id=invoice_id).state)


@shared_task(name="billing.charge_after_card_added", **PAYMENT_TASK)
def charge_after_card_added_task(self, method_id: int) -> dict:
    from billing.payments.charging import charge_after_card_added

    return _with_stripe_retry(self, lambda: charge_after_card_added(method_id=method_id))


@shared_task(name="billing.dunning_run", time_limit=5 * 60)
def dunning_run_task() -> int:
    """Hourly: queue each due dunning retry."""
    from billing.payments.charging import dunning_due

    due = dunning_due()
    for invoice_id in due:
        dunning_retry_task.delay(invoice_id)
    return len(due)


@shared_task(name="billing.dunning_retry", **PAYMENT_TASK)
def dunning_retry_task(self, invoice_id: int) -> str:
    from billing.payments.charging import dunning_retry

    return _with_stripe_retry(self, lambda: dunning_retry(invoice_id=invoice_id).state)


@shared_task(name="billing.payments_reconcile", time_limit=10 * 60)
def payments_reconcile_task() -> int:
    """Every few minutes: bring stale open attempts and pending refunds to an end (a crashed run, a lost webhook,
    a voucher or a 3-D Secure left unfinished)."""
    from billing.payments.charging import attempts_stale
    from billing.payments.refunds import refunds_pending

    stale, pending = attempts_stale(), refunds_pending()
    for attempt_id in stale:
        attempt_resume_task.delay(attempt_id)
    for refund_id in pending:
        refund_resume_task.delay(refund_id)
    return len(stale) + len(pending)


@shared_task(name="billing.attempt_resume", **PAYMENT_TASK)
def attempt_resume_task(self, attempt_id: int) -> str:
    from billing.payments.charging import attempt_resume

    return _with_stripe_retry(self, lambda: attempt_resume(attempt_id=attempt_id).status)


@shared_task(name="billing.refund_resume", **PAYMENT_TASK)
def refund_resume_task(self, refund_id: int) -> str:
    from billing.payments.refunds import refund_resume

    return _with_stripe_retry(self, lambda: refund_resume(refund_id=refund_id).status)


@shared_task(name="billing.refund_duplicate", **PAYMENT_TASK)
def refund_duplicate_task(self, attempt_id: int) -> str:
    from billing.payments.refunds import refund_duplicate

    refund = _with_stripe_retry(self, lambda: refund_duplicate(attempt_id=attempt_id))
    return refund.status if refund else "nothing to refund"


@shared_task(name="billing.auto_topup", **PAYMENT_TASK)
def auto_topup_task(self, account_ids: list[int]) -> int:
    """Queued by the ledger when balances are low: issue each hub's automatic top-up, once per dip."""
    from billing.payments.topups import auto_topup_candidates, auto_topup_evaluate

    candidates = auto_topup_candidates(account_ids=account_ids)
    return sum(auto_topup_evaluate(account_id=account_id) is not None for account_id in candidates)


@shared_task(name="billing.payment_failed_email", bind=True, max_retries=5, time_limit=60)
def payment_failed_email_task(self, invoice_id: int, round_name: str) -> None:
    from billing.payments.charging import payment_failed_notify

    payment_failed_notify(invoice_id=invoice_id, round_name=round_name)


@shared_task(name="billing.voucher_email", bind=True, max_retries=5, time_limit=60)
def voucher_email_task(self, attempt_id: int) -> None:
    from billing.payments.charging import voucher_notify

    voucher_notify(attempt_id=attempt_id)


# Alerts and outbound webhooks ---------------------------------------------------------------------------------------


@shared_task(name="billing.balance_alerts", time_limit=10 * 60)
def balance_alerts_task(alerts: list[list]) -> int:
    """Queued by the ledger after a posting that crossed lines: one email per [account id, kind, balance]. Each is
    sent on its own, so one bad address does not hold back the others (it is logged)."""
    from decimal import Decimal

    from billing.balance_alerts import balance_alert_send

    sent = 0
    for account_id, kind, balance in alerts:
        try:
            balance_alert_send(account_id=account_id, kind=kind, balance=Decimal(balance))
        except Exception:  # noqa: BLE001 -- SMTP refusals and the like: log, send the rest
            logger.exception("balance alert %s for credit account %s could not be sent", kind, account_id)
        else:
            sent += 1
    return sent


@shared_task(name="billing.card_expiry_reminders", time_limit=10 * 60)
def card_expiry_reminders_task() -> int:
    from billing.balance_alerts import card_expiry_reminders_send

    return card_expiry_reminders_send()


@shared_task(name="billing.webhook_deliver", acks_late=True, time_limit=60)
def webhook_deliver_task(delivery_id: int) -> str:
    """One attempt; a failure is retried by the sweep below on the back-off schedule (for 24 hours)."""
    from billing.outbound_webhooks import webhook_deliver

    delivery = webhook_deliver(delivery_id=delivery_id)
    return delivery.status if delivery else "not due"


@shared_task(name="billing.webhook_deliveries_due", time_limit=5 * 60)
def webhook_deliveries_due_task() -> int:
    """Every minute: queue each delivery whose next attempt is due (retries, and anything a lost message missed)."""
    from billing.outbound_webhooks import deliveries_due

    due = deliveries_due()
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)


@shared_task(name="billing.meta_webhooks_drain", time_limit=10 * 60)
def meta_webhooks_drain_task() -> int:
    """Queued by a received Meta webhook (one task per burst), and every minute by beat (whatever a lost task
    left): rate the inbox in batches until it is empty. Concurrent drains share the work (SKIP LOCKED); an empty
    inbox costs one query."""
    from django.core.cache import cache

    from billing.usage.meta_webhooks import DRAIN_QUEUED_KEY, meta_webhooks_drain

    cache.delete(DRAIN_QUEUED_KEY)  # before reading the inbox: a webhook stored from now on queues the next drain
    drained = 0
    while batch := meta_webhooks_drain():
        drained += batch
    return drained


@shared_task(name="billing.meta_webhooks_purge", time_limit=60 * 60)
def meta_webhooks_purge_task() -> int:
    """Nightly: received Meta webhooks rated more than META_WEBHOOK_INBOX_RETENTION_DAYS ago are deleted (0: kept
    for ever)."""
    from django.conf import settings

    from billing.usage.meta_webhooks import meta_webhooks_purge

    if not settings.META_WEBHOOK_INBOX_RETENTION_DAYS:
        return 0
    return meta_webhooks_purge(retention_days=settings.META_WEBHOOK_INBOX_RETENTION_DAYS)


@shared_task(name="billing.send_permission_sweep", time_limit=5 * 60)
def send_permission_sweep_task() -> int:
    """Every minute: hubs whose send-permission change committed but never reached the stream (the publishing
    process died, Redis was down) are published now."""
    from billing.send_permission_stream import send_permission_unpublished_sweep

    return send_permission_unpublished_sweep()


@shared_task(name="billing.partner_risk_digest", time_limit=30 * 60)
def partner_risk_digest_task() -> int:
    """Mondays: each partner user who has not opted out gets the list of its clients at risk."""
    from billing.partner_risk import risk_digests_send

    return risk_digests_send()


@shared_task(name="billing.staff_job_run", acks_late=True, time_limit=6 * 60 * 60, soft_time_limit=6 * 60 * 60 - 60)
def staff_job_run_task(job_id: int) -> str:
    """A long staff job (billing/staff_jobs.py), started from the admin; its progress is on its row."""
    from billing.staff_jobs import staff_job_run

    return staff_job_run(job_id=job_id).status


@shared_task(name="billing.meta_pricing_analytics", time_limit=30 * 60)
def meta_pricing_analytics_task(day: str | None = None) -> dict[str, int]:
    """Yesterday's pricing analytics of every WABA from Meta's Graph API, reconciled (re-running posts nothing)."""
    target = dt.date.fromisoformat(day) if day else clock.now().date() - dt.timedelta(days=1)
    return pricing_analytics_pull(day=target)
