"""Payment attempts: one Stripe PaymentIntent each, taken so that no path charges twice or loses a payment.

1. The attempt row, with its idempotency key, is committed before Stripe is called (`attempt_create`, under the
   invoice's lock, refusing a paid or void invoice). The database allows one open attempt per invoice.
2. `attempt_run` claims the attempt for a few minutes (one worker at a time), creates its PaymentIntent with the
   attempt's key — unconfirmed for a card, so nothing is charged yet — and records the intent's id; then confirms
   it (key + ":confirm") and records the outcome.
3. A crash anywhere leaves the attempt open. Running it again re-reads the recorded intent instead of creating one
   (or creates with the same key, which Stripe answers with the same intent), and confirms only an intent that is
   still unconfirmed: one charge at most, recorded once.

`attempt_record` applies what Stripe says an intent is now; the runs and the webhooks all go through it, under the
lock order of every money path (the hub's credit account, the invoice, the attempt), so replays and out-of-order
events change nothing, and an intent that is not the attempt's own (`intent_mismatch`) is refused whatever its
metadata says. A success pays the invoice (`invoice_mark_paid`); a success on an invoice already paid or
voided is refunded in full.
"""

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q

from billing import stripe_api
from billing.invoicing.settlement import credit_note_issue, invoice_mark_paid
from billing.ledger import accounts_lock
from billing.models import (
    OPEN_ATTEMPT_STATUSES,
    AttemptStatus,
    CreditAccount,
    Invoice,
    InvoiceDunning,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    StripeCustomer,
)
from billing.payments.errors import AttemptBusy, IntentMismatch, InvoiceNotPayable, PaymentRefused
from billing.payments.methods import stripe_customer_id
from billing.payments.parties import party_of
from billing.queue import enqueue_on_commit
from core import clock

logger = logging.getLogger(__name__)

CLAIM_FOR = dt.timedelta(minutes=5)
PAYABLE = (InvoiceStatus.PENDING, InvoiceStatus.UNPAID)
# PaymentIntent statuses (Stripe's) and what they make of an open attempt.
INTENT_OPEN = {
    "requires_confirmation": AttemptStatus.CREATED,
    "processing": AttemptStatus.PROCESSING,
    "requires_capture": AttemptStatus.PROCESSING,
    "requires_action": AttemptStatus.REQUIRES_ACTION,
}
INTENT_FAILED = ("requires_payment_method", "canceled")


@dataclass(frozen=True)
class AttemptSpec:
    invoice: Invoice
    method: PaymentMethod | None
    kind: str
    label: str
    purpose: str
    round: str
    amount: Decimal
    currency: str
    key: str
    exchange_rate: Decimal | None = None
    waived_fee: Decimal = Decimal(0)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    decline_code: str = ""


def attempt_create(*, spec: AttemptSpec) -> PaymentAttempt:
    """The attempt under `spec.key` (recorded now, or the one recorded before with that key). Refuses an invoice
    that is not pending or unpaid (InvoiceNotPayable) and a second open attempt of an invoice (AttemptBusy)."""
    existing = PaymentAttempt.objects.filter(idempotency_key=spec.key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            invoice = Invoice.objects.select_for_update().get(pk=spec.invoice.pk)
            if invoice.status not in PAYABLE:
                raise InvoiceNotPayable(f"Invoice {invoice.number} is {invoice.get_status_display().lower()}.")
            return PaymentAttempt.objects.create(
                invoice=invoice, payment_method=spec.method, method_kind=spec.kind, method_label=spec.label[:60],
                purpose=spec.purpose, round=spec.round, amount=spec.amount, currency=spec.currency,
                exchange_rate=spec.exchange_rate, waived_fee=spec.waived_fee, idempotency_key=spec.key,
            )  # fmt: skip
    except IntegrityError:
        existing = PaymentAttempt.objects.filter(idempotency_key=spec.key).first()
        if existing is not None:
            return existing
        raise AttemptBusy(
            f"A payment of invoice {spec.invoice.number} is already in progress; wait for its outcome."
        ) from None


def _claim(attempt_id: int) -> bool:
    now = clock.now()
    return (
        PaymentAttempt.objects.filter(pk=attempt_id, status__in=OPEN_ATTEMPT_STATUSES)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + CLAIM_FOR)
        == 1
    )


def _release(attempt_id: int) -> None:
    PaymentAttempt.objects.filter(pk=attempt_id).update(claimed_until=None)


def attempt_run(*, attempt: PaymentAttempt, off_session: bool) -> PaymentAttempt:
    """Take the attempt's payment (see the module docstring); returns the attempt as recorded. Raises AttemptBusy
    when another worker holds it, StripeUnavailable when Stripe's answer is unknown (the attempt stays open and is
    resumed later)."""
    if not _claim(attempt.pk):
        attempt.refresh_from_db()
        if not attempt.is_open:
            return attempt
        raise AttemptBusy(f"A payment of invoice {attempt.invoice.number} is already in progress.")
    try:
        attempt.refresh_from_db()
        try:
            intent = _intent_of(attempt)
            if intent.status == "requires_confirmation":
                intent = _confirm(attempt, intent, off_session)
        except (stripe_api.PaymentDeclined, stripe_api.PaymentRequestInvalid) as refused:
            # Stripe refused to create or confirm the intent: no money moved.
            return attempt_fail(
                attempt_id=attempt.pk, failure=Failure(refused.code or "refused", refused.message, refused.decline_code)
            )
        return attempt_record(attempt_id=attempt.pk, intent=intent)
    finally:
        _release(attempt.pk)


def _metadata(attempt: PaymentAttempt) -> dict:
    return {"attempt": attempt.idempotency_key, "invoice": attempt.invoice.number, "party": attempt.invoice.party_key}


def _intent_of(attempt: PaymentAttempt) -> stripe_api.Intent:
    """The attempt's PaymentIntent: re-read when its id is recorded, else created with the attempt's key."""
    if attempt.stripe_payment_intent_id:
        return stripe_api.intent_retrieve(attempt.stripe_payment_intent_id)
    if attempt.method_kind == PaymentMethodKind.CARD and attempt.payment_method is None:
        raise stripe_api.PaymentRequestInvalid("The card was removed before it was charged.", code="card_removed")
    party = party_of(attempt.invoice)
    customer_id = stripe_customer_id(party=party)
    if attempt.method_kind == PaymentMethodKind.CARD:
        intent = stripe_api.card_intent_create(
            amount=attempt.amount, currency=attempt.currency, customer_id=customer_id,
            payment_method_id=attempt.payment_method.stripe_payment_method_id, metadata=_metadata(attempt),
            idempotency_key=attempt.idempotency_key,
        )  # fmt: skip
    else:
        intent = stripe_api.voucher_intent_create(
            kind=attempt.method_kind, amount=attempt.amount, currency=attempt.currency, customer_id=customer_id,
            billing_details=_billing_details(party), tax_id=party.tax_id, metadata=_metadata(attempt),
            idempotency_key=attempt.idempotency_key,
        )  # fmt: skip
    PaymentAttempt.objects.filter(pk=attempt.pk, stripe_payment_intent_id="").update(stripe_payment_intent_id=intent.id)
    return intent


def _billing_details(party) -> dict:
    address = {
        "line1": party.address_line1, "line2": party.address_line2, "city": party.city,
        "postal_code": party.postal_code, "state": party.state, "country": party.country,
    }  # fmt: skip
    return {
        "name": party.company_name,
        "email": party.billing_email,
        "address": {key: value for key, value in address.items() if value},
    }


def _confirm(attempt: PaymentAttempt, intent: stripe_api.Intent, off_session: bool) -> stripe_api.Intent:
    try:
        return stripe_api.intent_confirm(
            intent_id=intent.id, off_session=off_session, idempotency_key=f"{attempt.idempotency_key}:confirm"
        )
    except stripe_api.PaymentDeclined as declined:
        # The decline is on the intent too; re-read it, keeping the decline's details where Stripe's are missing.
        intent = stripe_api.intent_retrieve(intent.id)
        return dataclasses.replace(
            intent,
            failure_code=intent.failure_code or declined.code,
            decline_code=intent.decline_code or declined.decline_code,
            failure_message=intent.failure_message or declined.message,
        )
    except stripe_api.PaymentRequestInvalid:
        # Stripe refused the confirmation. Only an intent Stripe still holds unconfirmed counts as "nothing moved".
        current = stripe_api.intent_retrieve(intent.id)
        if current.status == "requires_confirmation":
            raise
        return current


@dataclass(frozen=True)
class Locked:
    accounts: dict[int, CreditAccount]  # the hub's credit account; empty for a partner's invoice
    invoice: Invoice
    attempt: PaymentAttempt

    @property
    def account(self) -> CreditAccount | None:
        return next(iter(self.accounts.values()), None)


def attempt_lock(attempt_id: int) -> Locked:
    """Lock, in the order of every money path, the hub's credit account (for a hub's invoice), the invoice, then
    the attempt; for the rest of the caller's transaction."""
    invoice_id, hub_id = PaymentAttempt.objects.filter(pk=attempt_id).values_list("invoice_id", "invoice__hub_id").get()
    accounts = {}
    if hub_id is not None:
        accounts = accounts_lock([CreditAccount.objects.filter(hub_id=hub_id).values_list("id", flat=True).get()])
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    attempt = PaymentAttempt.objects.select_for_update(of=("self",)).select_related("invoice").get(pk=attempt_id)
    return Locked(accounts, invoice, attempt)


def attempt_record(*, attempt_id: int, intent: stripe_api.Intent, failure: Failure | None = None) -> PaymentAttempt:
    """Record what Stripe says the attempt's intent is now. An attempt that already succeeded or failed is not
    changed: replays and late, out-of-order events are harmless. `failure` overrides the reason of a failure."""
    with transaction.atomic():
        locked = attempt_lock(attempt_id)
        invoice, attempt = locked.invoice, locked.attempt
        mismatch = intent_mismatch(attempt=attempt, intent=intent)
        if mismatch:
            raise IntentMismatch(mismatch)
        if not attempt.is_open:
            if _late_success(attempt, intent):
                _succeeded(attempt, invoice, intent)
                attempt.save()
            return attempt
        attempt.stripe_payment_intent_id = intent.id
        if intent.status == "succeeded":
            _succeeded(attempt, invoice, intent)
        elif intent.status in INTENT_FAILED:
            failure = failure or Failure(
                intent.failure_code or intent.status, intent.failure_message or _no_reason(intent), intent.decline_code
            )
            _failed(attempt, failure)
        elif intent.status in INTENT_OPEN:
            _still_open(attempt, intent)
        else:
            raise PaymentRefused(f"PaymentIntent {intent.id} has an unknown status {intent.status!r}.")
        attempt.save()
    return attempt


def intent_mismatch(*, attempt: PaymentAttempt, intent: stripe_api.Intent) -> str:
    """Why `intent` is not the attempt's own ("" when it is). Its id (once recorded), customer, amount, currency
    and attempt key must all be the attempt's: anyone who can create a PaymentIntent on the account can write any
    metadata, so a matching attempt key alone proves nothing."""
    reasons = []
    if attempt.stripe_payment_intent_id and attempt.stripe_payment_intent_id != intent.id:
        reasons.append(f"the attempt's PaymentIntent is {attempt.stripe_payment_intent_id}")
    if intent.metadata.get("attempt") != attempt.idempotency_key:
        reasons.append(f"its metadata names attempt {intent.metadata.get('attempt') or '(none)'}")
    customer = _customer_of(attempt.invoice)
    if intent.customer_id != customer:
        reasons.append(f"its customer is {intent.customer_id or '(none)'}, the payer's is {customer or '(none)'}")
    if (intent.amount, intent.currency) != (attempt.amount, attempt.currency):
        asked = f"{attempt.amount} {attempt.currency}"
        reasons.append(f"it is for {intent.amount} {intent.currency}, the attempt for {asked}")
    if not reasons:
        return ""
    return f"PaymentIntent {intent.id} is not the one of attempt {attempt.idempotency_key}: " + "; ".join(reasons) + "."


def _customer_of(invoice: Invoice) -> str:
    party = {"partner_id": invoice.partner_id} if invoice.partner_id else {"client_id": invoice.client_id}
    return StripeCustomer.objects.filter(**party).values_list("stripe_customer_id", flat=True).first() or ""


def _late_success(attempt: PaymentAttempt, intent: stripe_api.Intent) -> bool:
    """Stripe took the money of an attempt recorded as failed (a voucher paid as it expired, say): the money is
    real, so it is applied to the invoice, or refunded when the invoice no longer needs it. Never lost."""
    late = (
        attempt.status == AttemptStatus.FAILED
        and intent.status == "succeeded"
        and intent.id == attempt.stripe_payment_intent_id
    )
    if late:
        logger.error("attempt %s was recorded failed, Stripe says %s succeeded", attempt.pk, intent.id)
    return late


def _no_reason(intent: stripe_api.Intent) -> str:
    if intent.status == "canceled":
        return "The payment was canceled (for a voucher: it expired unpaid)."
    return "The payment failed; Stripe gave no reason."


def attempt_fail(*, attempt_id: int, failure: Failure) -> PaymentAttempt:
    """Close an open attempt as failed (Stripe refused it before any money moved)."""
    with transaction.atomic():
        attempt = attempt_lock(attempt_id).attempt
        if attempt.is_open:
            _failed(attempt, failure)
            attempt.save()
    return attempt


def attempt_abandon(*, attempt: PaymentAttempt, failure: Failure) -> PaymentAttempt:
    """Give up an attempt that waits for the payer (3-D Secure off-session, an abandoned authentication, an
    expired voucher): cancel its intent at Stripe, then record it. If the payer finished meanwhile, the intent
    cannot be canceled and its success is recorded instead."""
    if not attempt.stripe_payment_intent_id:
        return attempt_fail(attempt_id=attempt.pk, failure=failure)
    try:
        intent = stripe_api.intent_cancel(attempt.stripe_payment_intent_id)
    except stripe_api.PaymentRequestInvalid:
        intent = stripe_api.intent_retrieve(attempt.stripe_payment_intent_id)
    return attempt_record(attempt_id=attempt.pk, intent=intent, failure=failure)


def attempt_sync(*, attempt: PaymentAttempt) -> PaymentAttempt:
    """Re-read the attempt's intent from Stripe and record it (webhooks, the reconciliation sweep)."""
    if not attempt.stripe_payment_intent_id or not attempt.is_open:
        return attempt
    return attempt_record(attempt_id=attempt.pk, intent=stripe_api.intent_retrieve(attempt.stripe_payment_intent_id))


def _succeeded(attempt: PaymentAttempt, invoice: Invoice, intent: stripe_api.Intent) -> None:
    now = clock.now()
    attempt.status, attempt.finished_at = AttemptStatus.SUCCEEDED, now
    attempt.failure_code = attempt.decline_code = attempt.failure_message = ""
    if invoice.status not in PAYABLE:
        # Paid by another attempt (or by staff), or voided, meanwhile: this money is not owed; give it back.
        logger.warning("attempt %s paid invoice %s, which is %s: refunding", attempt.pk, invoice.number, invoice.status)
        enqueue_on_commit("billing.refund_duplicate", attempt.pk)
        return
    if attempt.waived_fee:
        credit_note_issue(
            invoice=invoice,
            amount=attempt.waived_fee,
            reason=f"Transaction fee waived: paid by {attempt.get_method_kind_display()}, which carries no fee.",
        )
    invoice_mark_paid(invoice=invoice, paid_at=now, reference=intent.id)
    InvoiceDunning.objects.filter(invoice=invoice, closed_at__isnull=True).update(closed_at=now, next_retry_at=None)


def _failed(attempt: PaymentAttempt, failure: Failure) -> None:
    attempt.status, attempt.finished_at = AttemptStatus.FAILED, clock.now()
    attempt.failure_code = failure.code[:100]
    attempt.decline_code = failure.decline_code[:100]
    attempt.failure_message = failure.message


def _still_open(attempt: PaymentAttempt, intent: stripe_api.Intent) -> None:
    attempt.status = INTENT_OPEN[intent.status]
    if intent.voucher is not None and not attempt.voucher:
        attempt.voucher = intent.voucher.as_dict()
        attempt.voucher_expires_at = intent.voucher.expires_at
        enqueue_on_commit("billing.voucher_email", attempt.pk)
