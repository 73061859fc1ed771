"""What happens to an issued invoice: paid, failed, voided, corrected by a credit note."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from billing.invoicing.issue import numbers_take, sequence_lock
from billing.ledger import Posting, accounts_lock, post_locked
from billing.models import CreditAccount, CreditNote, EntryKind, Invoice, InvoiceKind, InvoiceStatus
from billing.money import is_cents
from billing.partner_events import invoice_unpaid_publish
from billing.restrictions import restrictions_evaluate
from core import clock


class InvoiceStateError(ValueError):
    """The invoice is not in a state that allows this; nothing changed."""


def _locked(invoice_id: int) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def _lock_account_of(invoice: Invoice) -> dict[int, CreditAccount] | None:
    """Credit accounts are locked before the invoice (the lock order of every money path)."""
    if invoice.hub_id is None:
        return None
    account_id = CreditAccount.objects.filter(hub_id=invoice.hub_id).values_list("id", flat=True).get()
    return accounts_lock([account_id])


def invoice_mark_paid(*, invoice: Invoice, paid_at: dt.datetime | None = None, reference: str = "") -> Invoice:
    """Record the payment of a pending or unpaid invoice. A paid PREPAYMENT adds its funds (the net amount, not
    the fee or tax) to the credit balance in the same transaction. Paying a paid invoice again changes nothing."""
    paid_at = paid_at or clock.now()
    with transaction.atomic():
        accounts = _lock_account_of(invoice)
        invoice = _locked(invoice.pk)
        if invoice.status == InvoiceStatus.PAID:
            return invoice
        if invoice.status not in (InvoiceStatus.PENDING, InvoiceStatus.UNPAID):
            raise InvoiceStateError(
                f"Invoice {invoice.number} is {invoice.status}; only pending or unpaid can be paid."
            )
        if invoice.kind == InvoiceKind.PREPAYMENT:
            account = next(iter(accounts.values()))
            post_locked(
                accounts=accounts,
                postings=[
                    Posting(
                        account_id=account.id,
                        kind=EntryKind.FUNDS_ADDED,
                        amount=Money(invoice.net_amount, invoice.currency),
                        key=f"funds:{invoice.number}",
                        occurred_at=paid_at,
                        reference=reference or invoice.number,
                    )  # fmt: skip
                ],
            )
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID, paid_at=paid_at)
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, paid_at
        _restrictions_of(invoice)
    return invoice


def _restrictions_of(invoice: Invoice) -> None:
    """The invoice's party may be blocked or unblocked by this change (same transaction)."""
    restrictions_evaluate(
        hub_ids=[invoice.hub_id] if invoice.hub_id else [],
        partner_ids=[invoice.partner_id] if invoice.partner_id else [],
    )


def invoice_mark_unpaid(*, invoice: Invoice) -> Invoice:
    """The automatic payment failed: manual payment is needed."""
    with transaction.atomic():
        invoice = _locked(invoice.pk)
        if invoice.status == InvoiceStatus.PENDING:
            Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.UNPAID)
            invoice.status = InvoiceStatus.UNPAID
            _restrictions_of(invoice)
            invoice_unpaid_publish(invoice=invoice)
        elif invoice.status != InvoiceStatus.UNPAID:
            raise InvoiceStateError(f"Invoice {invoice.number} is {invoice.status}; only a pending one can fail.")
    return invoice


def invoice_void(*, invoice: Invoice, reason: str, user_id: int | None = None) -> Invoice:
    """Staff void an unpaid or pending invoice. Voiding a Month Closing Invoice gives its debt back to the credit
    balance (a MANUAL_ADJUSTMENT of −amount due), since the MCI took it off the balance when it was issued."""
    if not reason.strip():
        raise InvoiceStateError("Voiding an invoice needs a reason.")
    now = clock.now()
    with transaction.atomic():
        accounts = _lock_account_of(invoice)
        invoice = _locked(invoice.pk)
        if invoice.status not in (InvoiceStatus.PENDING, InvoiceStatus.UNPAID):
            raise InvoiceStateError(
                f"Invoice {invoice.number} is {invoice.status}; a paid invoice is corrected by a credit note."
            )
        due = invoice.net_amount
        if invoice.kind == InvoiceKind.MONTH_CLOSING and due > 0:
            account = next(iter(accounts.values()))
            post_locked(
                accounts=accounts,
                postings=[
                    Posting(
                        account_id=account.id,
                        kind=EntryKind.MANUAL_ADJUSTMENT,
                        amount=Money(-due, invoice.currency),
                        key=f"void:{invoice.number}",
                        occurred_at=now,
                        reference=invoice.number,
                        memo=f"Month Closing Invoice {invoice.number} voided: {reason}",
                        created_by_id=user_id,
                    )  # fmt: skip
                ],
            )
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID, voided_at=now, void_reason=reason)
        invoice.status, invoice.voided_at, invoice.void_reason = InvoiceStatus.VOID, now, reason
        _restrictions_of(invoice)
    return invoice


def credit_note_issue(*, invoice: Invoice, amount: Decimal, reason: str, user_id: int | None = None) -> CreditNote:
    """A credit note against an issued invoice, at most what is left of its total after earlier credit notes."""
    if not reason.strip():
        raise InvoiceStateError("A credit note needs a reason.")
    if amount <= 0 or not is_cents(amount):
        raise InvoiceStateError("A credit note is a positive amount in whole cents.")
    now = clock.now()
    with transaction.atomic():
        invoice = _locked(invoice.pk)
        if invoice.number is None:
            raise InvoiceStateError("Only an issued invoice can be credited.")
        if invoice.status == InvoiceStatus.VOID:
            raise InvoiceStateError(f"Invoice {invoice.number} is void: nobody owes it, so there is nothing to credit.")
        credited = sum((n.amount for n in invoice.credit_notes.all()), Decimal("0.00"))
        if credited + amount > invoice.total:
            raise InvoiceStateError(
                f"Invoice {invoice.number} totals {invoice.total}; {credited} is already credited, so at most "
                f"{invoice.total - credited} can be."
            )
        (number,) = numbers_take(sequence=sequence_lock(series="CN", year=now.year), count=1)
        return CreditNote.objects.create(
            number=number, invoice=invoice, amount=amount, currency=invoice.currency, reason=reason,
            issued_at=now, created_by_id=user_id,
        )  # fmt: skip
