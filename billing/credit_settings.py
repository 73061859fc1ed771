"""What a client does with a hub's credit account from the Client Hub: change its auto-renewal and monthly
prepayment settings, and add funds by card (a top-up Prepayment Invoice charged on-session at once).

Adding funds is idempotent per request key (the page's hidden form field): a double submit finds the invoice of the
first and, once it is paid, reports it paid instead of charging again.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from billing.invoicing.prepayments import TOPUP_MAX, TOPUP_MIN, PrepaymentError, topup_issue
from billing.ledger import accounts_lock
from billing.models import CreditAccount, Invoice, InvoiceStatus, PaymentMethodKind
from billing.money import is_cents
from billing.payments.errors import AttemptBusy, PaymentRefused
from billing.payments.manual import invoice_pay
from billing.payments.parties import methods_of
from billing.payments.topups import topup_needed
from billing.queue import enqueue_on_commit
from hub.models import Hub

logger = logging.getLogger(__name__)

UNCHANGED = object()


class CreditSettingsError(ValueError):
    """A setting refused; nothing was changed. The message says why."""


def _check_amount(name: str, amount: Decimal, low: Decimal, high: Decimal) -> None:
    if not is_cents(amount) or not low <= amount <= high:
        raise CreditSettingsError(f"The {name} is between {low} and {high}, in whole cents; got {amount}.")


def credit_settings_update(
    *,
    account: CreditAccount,
    auto_renew: bool | None = None,
    auto_renew_threshold: Decimal | None = None,
    auto_renew_amount: Decimal | None = None,
    monthly_prepayment: Decimal | None | object = UNCHANGED,
) -> CreditAccount:
    """Change a hub's auto-renewal (on/off, threshold, amount) and monthly prepayment (None or 0 turns it off).
    Only what is given changes. Turning auto-renewal on, or raising the threshold, while the balance is already
    below the line queues the top-up now: the ledger only queues one when a posting crosses the line."""
    if auto_renew_threshold is not None:
        _check_amount("auto-renewal threshold", auto_renew_threshold, Decimal("0.00"), TOPUP_MAX)
    if auto_renew_amount is not None:
        _check_amount("auto-renewal amount", auto_renew_amount, TOPUP_MIN, TOPUP_MAX)
    if monthly_prepayment is not UNCHANGED and monthly_prepayment:
        _check_amount("monthly prepayment", monthly_prepayment, TOPUP_MIN, TOPUP_MAX)
    with transaction.atomic():
        account = accounts_lock([account.pk])[account.pk]
        was_needed = topup_needed(account)
        changes = {
            "auto_renew": auto_renew,
            "auto_renew_threshold": auto_renew_threshold,
            "auto_renew_amount": auto_renew_amount,
        }
        fields = [name for name, value in changes.items() if value is not None]
        for name in fields:
            setattr(account, name, changes[name])
        if monthly_prepayment is not UNCHANGED:
            account.monthly_prepayment = monthly_prepayment or None
            fields.append("monthly_prepayment")
        if fields:
            account.save(update_fields=[*fields, "updated_at"])
        if topup_needed(account) and not was_needed:
            enqueue_on_commit("billing.auto_topup", [account.pk])
    return account


@dataclass(frozen=True)
class TopupOutcome:
    """What the Funds page says after "Add funds"."""

    state: str  # paid | requires_action | processing | failed | no_card
    message: str
    invoice: Invoice | None = None


NO_CARD = "No card is saved to charge: add a card first, then add funds."


def topup_pay(*, hub: Hub, amount: Decimal, request_key: str) -> TopupOutcome:
    """Issue a top-up Prepayment Invoice of `amount` for the hub and charge it at once to the client's first card.
    Refused before anything is issued when no card is saved or the amount is out of bounds (PrepaymentError)."""
    if not methods_of(hub.client).filter(kind=PaymentMethodKind.CARD).exists():
        return TopupOutcome("no_card", NO_CARD)
    if not is_cents(amount) or not TOPUP_MIN <= amount <= TOPUP_MAX:
        raise PrepaymentError(
            f"A top-up is between {TOPUP_MIN} and {TOPUP_MAX} {hub.currency}, in whole cents; got {amount}."
        )
    invoice = topup_issue(hub=hub, amount=amount, request_key=f"manual:{request_key}")
    if invoice.status == InvoiceStatus.PAID:
        return TopupOutcome("paid", f"Invoice {invoice.number} is paid.", invoice)
    try:
        started = invoice_pay(invoice=invoice, kind=PaymentMethodKind.CARD)
    except AttemptBusy as busy:
        return TopupOutcome("processing", str(busy), invoice)
    except PaymentRefused as refused:
        invoice.refresh_from_db()
        state = "paid" if invoice.status == InvoiceStatus.PAID else "failed"
        return TopupOutcome(state, str(refused), invoice)
    invoice.refresh_from_db()
    state = {"succeeded": "paid", "requires_action": "requires_action", "failed": "failed"}.get(
        started.status, "processing"
    )
    return TopupOutcome(state, started.message, invoice)
