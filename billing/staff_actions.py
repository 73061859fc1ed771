"""What staff do in the admin: each service calls one billing service and records a StaffAction (who, why, what
changed) in the same transaction, so the audit log holds exactly the actions that took effect.

Every service takes the `key` of the form that asked for it (a token rendered into the form, plus the row acted on):
the key is locked for the transaction (PostgreSQL advisory lock) and an action already recorded under it is returned
as it is, so a double submit, even a concurrent one, acts once. Money-moving ledger postings also carry the key.
"""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from djmoney.money import Money

from billing.emails import invoice_email_send
from billing.invoicing import calendar
from billing.invoicing.settlement import InvoiceStateError, invoice_mark_paid, invoice_void
from billing.ledger import LedgerError, ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentAttempt,
    Restriction,
    StaffAction,
    StaffActionKind,
)
from billing.money import is_cents
from billing.payments.errors import PaymentRefused
from billing.payments.refunds import credit_refund_record, payment_refund_record, refund_send
from billing.pdf import InvoicePdfError, invoice_pdf_bytes, invoice_pdf_store
from billing.reconciliation import ReconciliationError, reconciliation_parse, usage_reconcile
from billing.restrictions import RestrictionError, restriction_lift
from core import clock
from hub.models import Hub
from partners.models import Partner


class StaffActionError(ValueError):
    """The action is refused; nothing changed."""


# What the billing services refuse with; the admin shows the message and nothing changed.
STAFF_ACTION_ERRORS = (
    StaffActionError, InvoiceStateError, LedgerError, PaymentRefused, InvoicePdfError, ReconciliationError,
    RestrictionError,
)  # fmt: skip
# The kinds a job of the billing calendar issues for one hub or partner: License, Month Closing, Partner Plan.
ISSUABLE_KINDS = tuple(job.invoice_kind for job in calendar.JOBS if job.invoice_kind)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise StaffActionError("A staff action needs a reason.")
    return reason


def _already_done(key: str) -> StaffAction | None:
    """Hold the key for the rest of the transaction; the action recorded under it before, if any."""
    if not key or len(key) > 200:
        raise StaffActionError("A staff action needs a key of 1 to 200 characters.")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"staff-action:{key}"])
    return StaffAction.objects.filter(idempotency_key=key).first()


def _record(*, user, action: str, target: models.Model | None, reason: str, key: str, details: dict) -> StaffAction:
    return StaffAction.objects.create(
        user=user, created_at=clock.now(), action=action,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "", target_repr=str(target)[:200] if target else "",
        reason=reason, details=details, idempotency_key=key,
    )  # fmt: skip


def _invoice_figures(invoice: Invoice) -> dict:
    return {"invoice": invoice.number, "total": invoice.total, "currency": invoice.currency}


# Invoices ------------------------------------------------------------------------------------------------------------


def staff_invoices_issue(
    *, user, kind: str, month: dt.date, reason: str, key: str, hub: Hub | None = None, partner: Partner | None = None
) -> StaffAction:
    """Run one billing job now for one hub (License Invoice, Month Closing Invoice) or partner (Partner Plan), as
    the calendar runs it on the billing day of `month` (billing/invoicing/calendar.py). A month is billed once: when
    its invoice exists, nothing is issued (refused)."""
    reason = _reason(reason)
    month = month.replace(day=1)
    this_month = clock.month_start(clock.now())
    if kind not in ISSUABLE_KINDS:
        raise StaffActionError(f"Invoices of kind {kind} are not issued by hand.")
    if (kind == InvoiceKind.PARTNER_PLAN) != (partner is not None) or (hub is None) == (partner is None):
        raise StaffActionError("A Partner Plan invoice is issued to a partner; the other kinds to a hub.")
    if month > this_month or (kind == InvoiceKind.MONTH_CLOSING and month == this_month):
        raise StaffActionError(f"{month:%B %Y} is not over yet: it cannot be billed now.")
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        job = calendar.job_for_invoice_kind(kind)
        issued = calendar.job_run(
            job=job, day=job.billing_day(month), ids=[(hub or partner).pk], issued_at=clock.now()
        ).issued
        if not issued:
            raise StaffActionError(
                f"Nothing was issued: the {InvoiceKind(kind).label} for {month:%B %Y} already exists or there is "
                f"nothing to bill."
            )
        details = {"kind": kind, "month": month, "invoices": [_invoice_figures(invoice) for invoice in issued]}
        return _record(user=user, action=StaffActionKind.INVOICES_ISSUE, target=hub or partner, reason=reason,
                       key=key, details=details)  # fmt: skip


def staff_invoice_void(*, user, invoice: Invoice, reason: str, key: str) -> StaffAction:
    """Void a pending or unpaid invoice (`invoice_void`: a Month Closing Invoice's debt goes back to the credit
    balance; restrictions are re-evaluated). A paid invoice is not voided: refund the payment and issue a credit
    note instead."""
    reason = _reason(reason)
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        before = Invoice.objects.values_list("status", flat=True).get(pk=invoice.pk)
        invoice = invoice_void(invoice=invoice, reason=reason, user_id=user.pk)
        details = _invoice_figures(invoice) | {"status": [before, invoice.status]}
        return _record(user=user, action=StaffActionKind.INVOICE_VOID, target=invoice, reason=reason, key=key,
                       details=details)  # fmt: skip


def staff_invoice_mark_paid(*, user, invoice: Invoice, reference: str, reason: str, key: str) -> StaffAction:
    """Record a bank transfer that paid a pending or unpaid invoice (`invoice_mark_paid`)."""
    reason, reference = _reason(reason), reference.strip()
    if not reference:
        raise StaffActionError("Give the bank transfer's reference.")
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        before = Invoice.objects.values_list("status", flat=True).get(pk=invoice.pk)
        if before == InvoiceStatus.PAID:
            raise StaffActionError(f"Invoice {invoice.number} is already paid.")
        invoice = invoice_mark_paid(invoice=invoice, reference=f"Bank transfer {reference}"[:200])
        details = _invoice_figures(invoice) | {"status": [before, invoice.status], "bank_reference": reference}
        return _record(user=user, action=StaffActionKind.INVOICE_MARK_PAID, target=invoice, reason=reason, key=key,
                       details=details)  # fmt: skip


def staff_invoice_email_resend(*, user, invoice: Invoice, reason: str, key: str) -> StaffAction:
    """Email the issued invoice (its stored PDF, or a fresh rendering) to the billing email again, after commit."""
    reason = _reason(reason)
    recipient = invoice.billed_company.get("billing_email")
    if not recipient:
        raise StaffActionError(f"Invoice {invoice.number} has no billing email to send it to.")
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        pdf = invoice_pdf_bytes(invoice=invoice)
        transaction.on_commit(lambda: invoice_email_send(invoice=invoice, pdf=pdf))
        details = _invoice_figures(invoice) | {"to": recipient}
        return _record(user=user, action=StaffActionKind.INVOICE_EMAIL_RESEND, target=invoice, reason=reason,
                       key=key, details=details)  # fmt: skip


def staff_invoice_pdf_regenerate(*, user, invoice: Invoice, reason: str, key: str) -> StaffAction:
    """Render the issued invoice's PDF again and keep it on the invoice (`invoice_pdf_store`)."""
    reason = _reason(reason)
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        before = invoice.pdf.name or ""
        invoice_pdf_store(invoice=invoice)
        details = _invoice_figures(invoice) | {"pdf": [before, invoice.pdf.name]}
        return _record(user=user, action=StaffActionKind.INVOICE_PDF_REGENERATE, target=invoice, reason=reason,
                       key=key, details=details)  # fmt: skip


# Money ---------------------------------------------------------------------------------------------------------------


def staff_payment_refund(
    *, user, attempt: PaymentAttempt, reason: str, key: str, amount: Decimal | None = None
) -> StaffAction:
    """Refund `amount` (default: all that is left) of a successful payment through Stripe. The refund and its audit
    row are recorded in one transaction; Stripe is asked after it commits (its answer is recorded on the refund)."""
    reason = _reason(reason)
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        refund = payment_refund_record(attempt=attempt, reason=reason, amount=amount, user_id=user.pk)
        details = {
            "invoice": attempt.invoice.number, "refund": refund.pk, "amount": refund.amount,
            "currency": refund.currency, "funds_amount": refund.funds_amount,
        }  # fmt: skip
        action = _record(user=user, action=StaffActionKind.PAYMENT_REFUND, target=attempt, reason=reason, key=key,
                         details=details)  # fmt: skip
    refund_send(refund=refund)
    return action


def staff_credit_refund(*, user, hub: Hub, reason: str, key: str, amount: Decimal | None = None) -> StaffAction:
    """Return `amount` (default: all) of a hub's remaining credit to the card payments that added it; recorded
    with its audit row in one transaction, sent to Stripe after it commits (see `staff_payment_refund`)."""
    reason = _reason(reason)
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        before = CreditAccount.objects.values_list("balance", flat=True).get(hub=hub)
        refunds = credit_refund_record(hub=hub, reason=reason, amount=amount, user_id=user.pk)
        after = CreditAccount.objects.values_list("balance", flat=True).get(hub=hub)
        details = {
            "amount": sum((refund.funds_amount for refund in refunds), Decimal("0.00")), "currency": hub.currency,
            "balance": [before, after], "refunds": [refund.pk for refund in refunds],
        }  # fmt: skip
        action = _record(user=user, action=StaffActionKind.CREDIT_REFUND, target=hub, reason=reason, key=key,
                         details=details)  # fmt: skip
    for refund in refunds:
        refund_send(refund=refund)
    return action


def staff_ledger_adjust(*, user, account: CreditAccount, amount: Decimal, reason: str, key: str) -> StaffAction:
    """A MANUAL_ADJUSTMENT of a hub's credit balance, positive or negative, in whole cents (`ledger_post`; it
    counts in the month's Usage Reconciliation). The entry's idempotency key is the action's."""
    reason = _reason(reason)
    if amount == 0 or not is_cents(amount):
        raise StaffActionError(f"An adjustment is a non-zero amount in whole cents; got {amount}.")
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        before = CreditAccount.objects.values_list("balance", flat=True).get(pk=account.pk)
        entry = ledger_post(
            account=account, kind=EntryKind.MANUAL_ADJUSTMENT, amount=Money(amount, account.currency),
            key=f"staff:{key}", memo=reason, created_by_id=user.pk, reference=f"staff action by {user}"[:200],
        )  # fmt: skip
        details = {"amount": amount, "currency": account.currency, "balance": [before, entry.balance_after],
                   "entry": entry.pk, "period": entry.period}  # fmt: skip
        return _record(user=user, action=StaffActionKind.LEDGER_ADJUST, target=account.hub, reason=reason, key=key,
                       details=details)  # fmt: skip


def staff_usage_reconcile(*, user, lines: Sequence[str], reason: str, key: str) -> StaffAction:
    """Post Meta's daily cost report (`date,waba_id,currency,cost`): the difference of each WABA and day from what
    was rated becomes a RECONCILIATION entry (`usage_reconcile`; a day re-imported posts only what changed)."""
    reason = _reason(reason)
    rows = reconciliation_parse(lines=lines)
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        results = usage_reconcile(rows=rows)
        details = {
            "rows": [
                {
                    "waba": r.waba.meta_waba_id,
                    "day": r.day,
                    "currency": r.currency,
                    "meta_cost": r.meta_cost,
                    "rated_cost": r.rated_cost,
                    "posted": r.posted,
                }  # fmt: skip
                for r in results
            ]
        }
        return _record(user=user, action=StaffActionKind.USAGE_RECONCILE, target=None, reason=reason, key=key,
                       details=details)  # fmt: skip


# Restrictions --------------------------------------------------------------------------------------------------------


def staff_restriction_lift(
    *, user, restriction: Restriction, reason: str, key: str, hold_until: dt.datetime | None = None
) -> StaffAction:
    """Lift a block by hand (`restriction_lift`): it holds until `hold_until` (default 72 hours) even if the
    cause remains."""
    reason = _reason(reason)
    if hold_until is not None and hold_until <= clock.now():
        raise StaffActionError("The lift must hold until a time in the future.")
    with transaction.atomic():
        if (done := _already_done(key)) is not None:
            return done
        restriction = restriction_lift(restriction=restriction, user_id=user.pk, reason=reason, hold_until=hold_until)
        details = {"reason": restriction.reason, "detail": restriction.detail,
                   "hold_until": restriction.override_until}  # fmt: skip
        return _record(user=user, action=StaffActionKind.RESTRICTION_LIFT, target=restriction, reason=reason,
                       key=key, details=details)  # fmt: skip
