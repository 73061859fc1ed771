import logging

from celery import shared_task

from billing.audit import audit_run_record

logger = logging.getLogger(__name__)


@shared_task(name="billing.ledger_audit", time_limit=30 * 60, soft_time_limit=25 * 60)
def ledger_audit_task() -> int:
    """Nightly proof of the books; violations are logged as errors (and reach staff through logging/admin)."""
    run = audit_run_record()
    for violation in run.violations:
        logger.error("ledger audit violation: hub %(hub_id)s (credit account %(account_id)s): %(problem)s", violation)
    return run.pk
