"""The "Pay" button of an invoice: an on-session card payment (Stripe.js finishes 3-D Secure when the card asks
for it) or, for partners in Brazil, a PIX or Boleto voucher in BRL at the staff-kept rate, which Stripe confirms
asynchronously.

A voucher carries no transaction fee: when the invoice has a card fee line (its party's first method was a card),
the voucher asks for the total without the fee and its tax, and paying it issues a credit note for that part.
Pressing Pay twice returns the payment already waiting for the payer instead of starting a second one.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from billing import stripe_api
from billing.models import (
    OPEN_ATTEMPT_STATUSES,
    AttemptPurpose,
    AttemptStatus,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
)
from billing.money import cents
from billing.payments.attempts import (
    AttemptSpec,
    Failure,
    attempt_abandon,
    attempt_create,
    attempt_fail,
    attempt_run,
    attempt_sync,
)
from billing.payments.eligibility import method_check
from billing.payments.errors import PaymentRefused
from billing.payments.fx import VOUCHER_CURRENCY, brl_quote
from billing.payments.parties import Party, methods_of, party_of
from core import clock

PAYABLE = (InvoiceStatus.PENDING, InvoiceStatus.UNPAID)
CARD = PaymentMethodKind.CARD


@dataclass(frozen=True)
class PaymentStart:
    """What the page shows after Pay."""

    attempt_id: int
    status: str
    amount: Decimal
    currency: str
    message: str
    client_secret: str = ""  # card asking for 3-D Secure: Stripe.js handles the next action with it
    voucher: dict | None = None  # PIX / Boleto: code or number, links, expiry


def invoice_pay(*, invoice: Invoice, kind: str, payment_method: PaymentMethod | None = None) -> PaymentStart:
    """Start paying an invoice by hand with a saved card (`payment_method`, default the first) or a voucher."""
    invoice = Invoice.objects.get(pk=invoice.pk)
    party = party_of(invoice)
    method_check(kind=kind, party=party)
    _refuse_unless_payable(invoice)
    card = _card(party, payment_method) if kind == CARD else None
    waiting = _open_attempt(invoice)
    if waiting is not None:
        if _same_request(waiting, kind, card):
            return _start_of(waiting)
        _make_way(waiting)
    attempt = attempt_create(spec=_spec(invoice, party, kind, card))  # refuses a concurrent second payment
    try:
        return _start_of(attempt_run(attempt=attempt, off_session=False))
    except stripe_api.StripeUnavailable:
        _unreachable(attempt)
        raise


STRIPE_UNREACHABLE = Failure("stripe_unavailable", "Stripe could not be reached; nothing was charged.")
INTERRUPTED = Failure("interrupted", "The payment was interrupted before it was confirmed; nothing was charged.")


def _unreachable(attempt: PaymentAttempt) -> None:
    """Stripe gave no answer while the payer waited. A card's PaymentIntent is recorded before it is confirmed, so
    without a recorded one nothing can have been charged: the attempt is closed and the payer may simply try
    again. With one, a confirmation may have gone through: the attempt stays open, and the next Pay or the
    reconciliation sweep asks Stripe how it ended. A voucher stays open too: the sweep creates it again with its
    key, so one Stripe may hold is never dropped."""
    attempt.refresh_from_db()
    if attempt.is_open and attempt.method_kind == CARD and not attempt.stripe_payment_intent_id:
        attempt_fail(attempt_id=attempt.pk, failure=STRIPE_UNREACHABLE)


def _refuse_unless_payable(invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.PAID:
        raise PaymentRefused(f"Invoice {invoice.number} is already paid.")
    if invoice.status == InvoiceStatus.VOID:
        raise PaymentRefused(f"Invoice {invoice.number} is void; there is nothing to pay.")
    if invoice.status not in PAYABLE or invoice.number is None:
        raise PaymentRefused("This invoice is not issued yet.")


def _card(party: Party, payment_method: PaymentMethod | None) -> PaymentMethod:
    cards = methods_of(party).filter(kind=CARD)
    card = cards.filter(pk=payment_method.pk).first() if payment_method is not None else cards.first()
    if card is None:
        raise PaymentRefused(
            "That card is not saved for this account." if payment_method else "No card is saved: add a card first."
        )
    return card


def _open_attempt(invoice: Invoice) -> PaymentAttempt | None:
    return (
        PaymentAttempt.objects.filter(invoice=invoice, status__in=OPEN_ATTEMPT_STATUSES)
        .select_related("invoice")
        .first()
    )


def _same_request(attempt: PaymentAttempt, kind: str, card: PaymentMethod | None) -> bool:
    return (
        attempt.purpose == AttemptPurpose.MANUAL
        and attempt.status == AttemptStatus.REQUIRES_ACTION
        and attempt.method_kind == kind
        and (card is None or attempt.payment_method_id == card.pk)
        and not (attempt.voucher_expires_at and attempt.voucher_expires_at <= clock.now())
    )


def _make_way(attempt: PaymentAttempt) -> None:
    """Another payment waits for its payer: cancel it for the new one. One being processed is left alone; one
    left `created` by a run that got no answer from Stripe (and that no worker holds) is settled first."""
    if _unanswered(attempt):
        attempt = _settle_unanswered(attempt)
        if not attempt.is_open:
            return
    if attempt.status != AttemptStatus.REQUIRES_ACTION:
        raise PaymentRefused(
            f"A payment of invoice {attempt.invoice.number} is already in progress; wait for its outcome."
        )
    attempt = attempt_abandon(
        attempt=attempt, failure=Failure("replaced", "Replaced by a payment with another method.")
    )
    if attempt.status == AttemptStatus.SUCCEEDED:
        raise PaymentRefused(f"Invoice {attempt.invoice.number} was just paid by {attempt.method_label}.")


def _unanswered(attempt: PaymentAttempt) -> bool:
    """Still `created`, and no worker is talking to Stripe about it: its run ended without Stripe's answer."""
    attempt.refresh_from_db()
    claimed = attempt.claimed_until is not None and attempt.claimed_until > clock.now()
    return attempt.status == AttemptStatus.CREATED and not claimed


def _settle_unanswered(attempt: PaymentAttempt) -> PaymentAttempt:
    """End an unanswered attempt the way Stripe says it is. A card intent is recorded before it is confirmed, so
    without a recorded intent nothing was charged; with one, Stripe is asked, and an intent it still holds
    unconfirmed is canceled."""
    if not attempt.stripe_payment_intent_id:
        if attempt.method_kind != CARD:  # a voucher may exist at Stripe: re-created with its key, never dropped
            raise PaymentRefused(
                f"A payment of invoice {attempt.invoice.number} is already in progress; wait for its outcome."
            )
        return attempt_fail(attempt_id=attempt.pk, failure=INTERRUPTED)
    attempt = attempt_sync(attempt=attempt)
    if attempt.status == AttemptStatus.CREATED:
        attempt = attempt_abandon(attempt=attempt, failure=INTERRUPTED)
    if attempt.status == AttemptStatus.SUCCEEDED:
        raise PaymentRefused(f"Invoice {attempt.invoice.number} was just paid by {attempt.method_label}.")
    return attempt


def waived_fee(invoice: Invoice) -> Decimal:
    """The card fee line and the tax on it: what a voucher does not charge."""
    if invoice.fee_amount <= 0:
        return Decimal("0.00")
    return invoice.fee_amount + invoice.tax_amount - cents(invoice.net_amount * invoice.tax_rate)


def _spec(invoice: Invoice, party: Party, kind: str, card: PaymentMethod | None) -> AttemptSpec:
    key = f"{invoice.number}:manual:{uuid.uuid4().hex[:16]}"
    common = {"invoice": invoice, "kind": kind, "purpose": AttemptPurpose.MANUAL, "round": "manual", "key": key}
    if card is not None:
        return AttemptSpec(**common, method=card, label=str(card), amount=invoice.total, currency=invoice.currency)
    if kind == "boleto" and not (party.tax_id and party.state):
        # Stripe refuses a Boleto without the payer's CPF/CNPJ and the state (UF) of its address.
        raise PaymentRefused(
            _("A Boleto needs the partner's CNPJ (or CPF) and state (UF): enter them in Billing details.")
        )
    waived = waived_fee(invoice)
    amount, rate = brl_quote(amount=invoice.total - waived, currency=invoice.currency)
    method = methods_of(party).filter(kind=kind).first()
    label = str(PaymentMethodKind(kind).label)
    return AttemptSpec(
        **common, method=method, label=label, amount=amount, currency=VOUCHER_CURRENCY, exchange_rate=rate,
        waived_fee=waived,
    )  # fmt: skip


def _start_of(attempt: PaymentAttempt) -> PaymentStart:
    base = {"attempt_id": attempt.pk, "status": attempt.status, "amount": attempt.amount, "currency": attempt.currency}
    number = attempt.invoice.number
    if attempt.status == AttemptStatus.SUCCEEDED:
        return PaymentStart(**base, message=f"Invoice {number} is paid.")
    if attempt.status == AttemptStatus.FAILED:
        return PaymentStart(**base, message=f"The payment failed: {attempt.failure_message or attempt.failure_code}")
    if attempt.status == AttemptStatus.REQUIRES_ACTION and attempt.voucher:
        expires = attempt.voucher_expires_at
        until = f" by {expires:%d %b %Y %H:%M} UTC" if expires else ""
        return PaymentStart(
            **base,
            voucher=attempt.voucher,
            message=f"Pay {attempt.amount} BRL with this {attempt.method_label}{until}; the invoice is marked paid "
            f"when the payment is confirmed.",
        )
    if attempt.status == AttemptStatus.REQUIRES_ACTION:
        secret = stripe_api.intent_retrieve(attempt.stripe_payment_intent_id).client_secret
        return PaymentStart(
            **base, client_secret=secret, message="Your bank asks you to confirm this payment (3-D Secure)."
        )
    return PaymentStart(**base, message="The payment is being processed; the invoice is marked paid when it clears.")
