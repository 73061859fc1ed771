"""A client asking to add funds to a hub's credit balance, from the Funds page or the API: one service for both.

It issues a top-up Prepayment Invoice of the amount and charges it at once to the client's card. A request is named
by its key (the page's form token, the API's Idempotency-Key): the same key finds the same invoice, which is
charged once, and the same key with another amount is refused (`TopupKeyReused`), so an answer always states what
was really charged.

When Stripe cannot be reached the outcome is `unavailable`: the invoice stays pending and nothing is charged twice.
The same request sent again (same key) charges it; the payment sweeps charge it as well (an attempt left open by
the API is resumed; a pending invoice with none open is charged automatically).
"""

from dataclasses import dataclass
from decimal import Decimal

from billing import stripe_api
from billing.invoicing.prepayments import TOPUP_MAX, TOPUP_MIN, PrepaymentError, topup_issue
from billing.models import Invoice, InvoiceStatus, PaymentMethodKind
from billing.money import is_cents
from billing.payments.charging import invoice_charge_automatically
from billing.payments.errors import AttemptBusy, PaymentRefused
from billing.payments.manual import invoice_pay
from billing.payments.parties import cards_of
from hub.models import Hub

NO_CARD = "No card is saved to charge: add a card first, then add funds."
MANUAL_STATES = {"succeeded": "paid", "requires_action": "requires_action", "failed": "failed"}


class TopupKeyReused(PaymentRefused):
    """The request key names a top-up of another amount: the request is refused and nothing is charged."""

    def __init__(self, invoice: Invoice) -> None:
        super().__init__(
            f"This request was already made for {invoice.net_amount} {invoice.currency} (invoice {invoice.number}); "
            f"a different amount is a new request."
        )
        self.invoice = invoice


@dataclass(frozen=True)
class TopupOutcome:
    """What became of the request. `state`: paid | requires_action (the page's card asks for 3-D Secure) |
    processing | failed | busy | not_payable | no_card | unavailable (Stripe could not be reached)."""

    state: str
    message: str
    invoice: Invoice | None = None
    failures: tuple[str, ...] = ()

    @property
    def funds(self) -> Decimal | None:
        """The funds the invoice adds to the balance: what was really asked for under this key."""
        return None if self.invoice is None else self.invoice.net_amount


def topup_request(*, hub: Hub, amount: Decimal, request_key: str, payer_present: bool) -> TopupOutcome:
    """Add `amount` to the hub's balance by card. `payer_present`: the Funds page charges the first card
    on-session (3-D Secure possible); the API charges off-session, each card in turn. Raises PrepaymentError for an
    amount out of bounds and TopupKeyReused for a key already used with another amount; nothing is issued then."""
    if not cards_of(hub.client):
        return TopupOutcome("no_card", NO_CARD)
    if not is_cents(amount) or not TOPUP_MIN <= amount <= TOPUP_MAX:
        raise PrepaymentError(
            f"A top-up is between {TOPUP_MIN} and {TOPUP_MAX} {hub.currency}, in whole cents; got {amount}."
        )
    invoice = topup_issue(hub=hub, amount=amount, request_key=request_key)
    if invoice.net_amount != amount:
        raise TopupKeyReused(invoice)
    if invoice.status == InvoiceStatus.PAID:
        return TopupOutcome("paid", f"Invoice {invoice.number} is paid.", invoice)
    try:
        outcome = _charge_present(invoice) if payer_present else _charge_absent(invoice)
    except stripe_api.StripeUnavailable:
        invoice.refresh_from_db()
        return TopupOutcome("unavailable", _unavailable(invoice), invoice)
    invoice.refresh_from_db()
    if invoice.status == InvoiceStatus.PAID:
        return TopupOutcome("paid", f"Invoice {invoice.number} is paid.", invoice, outcome.failures)
    return TopupOutcome(outcome.state, outcome.message, invoice, outcome.failures)


def _unavailable(invoice: Invoice) -> str:
    return (
        f"Stripe cannot be reached just now: invoice {invoice.number} is issued and not charged yet. It is charged "
        f"automatically once Stripe answers again, or when this request is sent again; it is never charged twice."
    )


def _charge_present(invoice: Invoice) -> TopupOutcome:
    try:
        started = invoice_pay(invoice=invoice, kind=PaymentMethodKind.CARD)
    except AttemptBusy as busy:
        return TopupOutcome("processing", str(busy))
    except PaymentRefused as refused:
        return TopupOutcome("failed", str(refused))
    return TopupOutcome(MANUAL_STATES.get(started.status, "processing"), started.message)


def _charge_absent(invoice: Invoice) -> TopupOutcome:
    if invoice.status != InvoiceStatus.PENDING:
        return TopupOutcome("not_payable", f"Invoice {invoice.number} is {invoice.get_status_display().lower()}.")
    outcome = invoice_charge_automatically(invoice_id=invoice.pk)
    return TopupOutcome(outcome.state, "; ".join(outcome.failures), failures=tuple(outcome.failures))
