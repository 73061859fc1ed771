"""Refunds: staff give back a payment, or a client's remaining credit, through Stripe and into the ledger.

Money goes back through Stripe against the payment that took it, never more than that payment took less what was
refunded before (checked under the attempt's lock). The credit-balance part of a refund — the funds of a paid
PREPAYMENT — leaves the balance as FUNDS_RETURNED in the transaction that records the refund, before Stripe is
called: usage arriving meanwhile cannot spend it twice, and a refund never takes the balance below 0.00. If Stripe
refuses or fails the refund, the funds come back as FUNDS_ADDED. A refund of a PREPAYMENT payment returns the same
share of its funds (the whole payment: all its funds, its fee and tax included).

Each refund's idempotency key goes to Stripe with it and in its metadata, so a retry after an unknown outcome, or a
charge.refunded webhook arriving first, finds it instead of refunding twice.
"""

import logging
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from billing import stripe_api
from billing.ledger import Posting, post_locked
from billing.models import (
    AttemptStatus,
    CreditAccount,
    EntryKind,
    InvoiceKind,
    LedgerEntry,
    PaymentAttempt,
    PaymentRefund,
    RefundSource,
    RefundStatus,
)
from billing.money import cents, is_cents
from billing.payments.attempts import Locked, attempt_lock
from billing.payments.eligibility import ELIGIBILITY
from billing.payments.errors import PaymentRefused
from core import clock
from hub.models import Hub

logger = logging.getLogger(__name__)
FAILED_AT_STRIPE = ("failed", "canceled")


def _given_back(attempt: PaymentAttempt) -> tuple[Decimal, Decimal]:
    """(money, funds) refunded or being refunded so far."""
    money = funds = Decimal(0)
    for amount, funds_amount in attempt.refunds.exclude(status=RefundStatus.FAILED).values_list(
        "amount", "funds_amount"
    ):
        money += amount
        funds += funds_amount
    return money, funds


def funds_of(attempt: PaymentAttempt) -> Decimal:
    """Credit-balance funds this payment added: a PREPAYMENT's net amount, when this attempt is the payment that
    paid it (a duplicate payment added nothing)."""
    invoice = attempt.invoice
    if invoice.kind != InvoiceKind.PREPAYMENT or attempt.status != AttemptStatus.SUCCEEDED:
        return Decimal(0)
    reference = (
        LedgerEntry.objects.filter(idempotency_key=f"funds:{invoice.number}")
        .values_list("reference", flat=True)
        .first()
    )
    return invoice.net_amount if reference == attempt.stripe_payment_intent_id else Decimal(0)


def refundable(attempt: PaymentAttempt) -> tuple[Decimal, Decimal]:
    """(money, funds) still refundable on the attempt."""
    if attempt.status != AttemptStatus.SUCCEEDED:
        return Decimal(0), Decimal(0)
    money, funds = _given_back(attempt)
    return attempt.amount - money, funds_of(attempt) - funds


def _funds_share(attempt: PaymentAttempt, money: Decimal, money_left: Decimal, funds_left: Decimal) -> Decimal:
    if money == money_left:
        return funds_left
    return min(funds_left, cents(money * funds_of(attempt) / attempt.amount))


def payment_refund(
    *, attempt: PaymentAttempt, reason: str, amount: Decimal | None = None, user_id: int | None = None
) -> PaymentRefund:
    """Staff refund `amount` (default: all that is left) of a successful payment."""
    return refund_send(refund=payment_refund_record(attempt=attempt, reason=reason, amount=amount, user_id=user_id))


def payment_refund_record(
    *, attempt: PaymentAttempt, reason: str, amount: Decimal | None = None, user_id: int | None = None
) -> PaymentRefund:
    """The first half of `payment_refund`: the refund recorded and its funds taken off the balance, in the caller's
    transaction. `refund_send` asks Stripe after that transaction has committed (never inside it: a rollback after
    Stripe refunded would lose the record)."""
    if not reason.strip():
        raise PaymentRefused("A refund needs a reason.")
    return _refund_start(
        attempt_id=attempt.pk, amount=amount, funds=None, source=RefundSource.STAFF, reason=reason, user_id=user_id
    )


def credit_refund(
    *, hub: Hub, reason: str, amount: Decimal | None = None, user_id: int | None = None
) -> list[PaymentRefund]:
    """Return `amount` (default: the whole balance) of a hub's remaining credit to the payments that added it,
    newest first, each at most the funds it added."""
    recorded = credit_refund_record(hub=hub, reason=reason, amount=amount, user_id=user_id)
    return [refund_send(refund=refund) for refund in recorded]


def credit_refund_record(
    *, hub: Hub, reason: str, amount: Decimal | None = None, user_id: int | None = None
) -> list[PaymentRefund]:
    """The first half of `credit_refund` (see `payment_refund_record`): the refunds recorded, funds taken off."""
    if not reason.strip():
        raise PaymentRefused("A refund needs a reason.")
    balance = CreditAccount.objects.get(hub=hub).balance
    amount = cents(balance) if amount is None else amount
    if amount <= 0 or not is_cents(amount):
        raise PaymentRefused(f"The credit to return must be a positive amount in whole cents; got {amount}.")
    if amount > balance:
        raise PaymentRefused(
            f"The credit balance is {balance:.2f} {hub.currency}; at most that can be returned, not {amount}."
        )
    payments = _funding_payments(hub)
    available = sum((funds for _attempt, funds in payments), Decimal(0))
    if amount > available:
        raise PaymentRefused(
            f"Only {available:.2f} {hub.currency} of the credit was paid by refundable payments; at most that can be "
            f"returned, not {amount}."
        )
    refunds, left = [], amount
    for attempt, funds in payments:
        piece = min(left, funds)
        refunds.append(
            _refund_start(
                attempt_id=attempt.pk,
                amount=None,
                funds=piece,
                source=RefundSource.CREDIT,
                reason=reason,
                user_id=user_id,
            )  # fmt: skip
        )
        left -= piece
        if left == 0:
            break
    return refunds


def _funding_payments(hub: Hub) -> list[tuple[PaymentAttempt, Decimal]]:
    """The hub's successful top-up payments with funds left to return, newest first."""
    attempts = PaymentAttempt.objects.filter(
        invoice__hub=hub, invoice__kind=InvoiceKind.PREPAYMENT, status=AttemptStatus.SUCCEEDED
    ).select_related("invoice")
    found = []
    for attempt in attempts.order_by("-finished_at", "-id"):
        _money, funds = refundable(attempt)
        if funds > 0 and ELIGIBILITY[attempt.method_kind].refundable:
            found.append((attempt, funds))
    return found


def refund_duplicate(*, attempt_id: int) -> PaymentRefund | None:
    """A payment that arrived for an invoice already paid or voided: give it all back (it added no funds)."""
    attempt = PaymentAttempt.objects.select_related("invoice").get(pk=attempt_id)
    money, _funds = refundable(attempt)
    if money <= 0:
        return None
    refund = _refund_start(
        attempt_id=attempt_id, amount=money, funds=Decimal(0), source=RefundSource.DUPLICATE,
        reason=f"Duplicate payment: invoice {attempt.invoice.number} was already {attempt.invoice.status}.",
        user_id=None,
    )  # fmt: skip
    return refund_send(refund=refund)


def _refund_start(
    *, attempt_id: int, amount: Decimal | None, funds: Decimal | None, source: str, reason: str, user_id: int | None
) -> PaymentRefund:
    """Record the refund and take its funds off the balance (one transaction, under the account's and the
    attempt's locks). `amount` None: all the money left, or the share of `funds` when those are given; `funds`
    None: the share of `amount`."""
    with transaction.atomic():
        locked = attempt_lock(attempt_id)
        attempt = locked.attempt
        amount, funds = _checked_amounts(attempt, amount, funds)
        if funds > 0 and funds > locked.account.balance:
            raise PaymentRefused(
                f"Only {locked.account.balance:.2f} {attempt.invoice.currency} is left on the credit balance; "
                f"{funds} of funds cannot be returned (the balance must not go below 0.00)."
            )
        count = attempt.refunds.count()
        refund = PaymentRefund.objects.create(
            attempt=attempt, amount=amount, currency=attempt.currency, funds_amount=funds, source=source,
            reason=reason, idempotency_key=f"refund:{attempt.pk}:{count + 1}", created_by_id=user_id,
        )  # fmt: skip
        if funds > 0:
            _post(locked, EntryKind.FUNDS_RETURNED, -funds, f"funds-returned:{refund.pk}", refund)
    return refund


def _checked_amounts(attempt: PaymentAttempt, amount: Decimal | None, funds: Decimal | None) -> tuple[Decimal, Decimal]:
    rule = ELIGIBILITY[attempt.method_kind]
    if attempt.status != AttemptStatus.SUCCEEDED:
        raise PaymentRefused(f"Only a successful payment can be refunded; this one is {attempt.status}.")
    if not rule.refundable:
        raise PaymentRefused(
            f"{rule.label} payments cannot be refunded through Stripe; return the money by bank transfer."
        )
    money_left, funds_left = refundable(attempt)
    if money_left <= 0:
        raise PaymentRefused(f"This payment of {attempt.amount} {attempt.currency} is already refunded in full.")
    if funds is not None and amount is None:
        if funds > funds_left:
            raise PaymentRefused(f"Only {funds_left} of this payment's funds are left to return, not {funds}.")
        amount = money_left if funds == funds_left else cents(funds * attempt.amount / funds_of(attempt))
    amount = money_left if amount is None else amount
    if amount <= 0 or not is_cents(amount):
        raise PaymentRefused(f"A refund is a positive amount in whole cents; got {amount}.")
    if amount > money_left:
        raise PaymentRefused(
            f"This payment took {attempt.amount} {attempt.currency} and {attempt.amount - money_left} is already "
            f"refunded: at most {money_left} can be refunded, not {amount}."
        )
    funds = _funds_share(attempt, amount, money_left, funds_left) if funds is None else funds
    return amount, funds


def _post(locked: Locked, kind: str, amount: Decimal, key: str, refund: PaymentRefund) -> None:
    invoice = locked.invoice
    post_locked(
        accounts=locked.accounts,
        postings=[
            Posting(
                account_id=locked.account.pk,
                kind=kind,
                amount=Money(amount, invoice.currency),
                key=key,
                occurred_at=clock.now(),
                reference=invoice.number,
                memo=refund.reason,
                created_by_id=refund.created_by_id,
            )  # fmt: skip
        ],
    )


def refund_send(*, refund: PaymentRefund) -> PaymentRefund:
    """Ask Stripe for the refund (outside any transaction). An unknown outcome leaves it pending for `refund_resume`."""
    attempt = refund.attempt
    try:
        state = stripe_api.refund_create(
            intent_id=attempt.stripe_payment_intent_id, amount=refund.amount, currency=refund.currency,
            metadata={"refund": refund.idempotency_key, "invoice": attempt.invoice.number},
            idempotency_key=refund.idempotency_key,
        )  # fmt: skip
    except (stripe_api.PaymentRequestInvalid, stripe_api.PaymentDeclined) as refused:
        _refund_close(refund.pk, failed_because=refused.message)
        raise PaymentRefused(f"Stripe refused the refund: {refused.message}") from refused
    except stripe_api.StripeUnavailable:
        logger.warning("refund %s: no answer from Stripe; it stays pending and is retried", refund.idempotency_key)
        return refund
    return refund_apply(refund_id=refund.pk, state=state)


def refund_apply(*, refund_id: int, state: stripe_api.RefundState) -> PaymentRefund:
    """Record what Stripe says of one of our refunds."""
    if state.status in FAILED_AT_STRIPE:
        return _refund_close(refund_id, failed_because=state.failure_reason or f"Stripe {state.status} the refund.",
                             stripe_refund_id=state.id)  # fmt: skip
    with transaction.atomic():
        refund = PaymentRefund.objects.select_for_update().get(pk=refund_id)
        refund.stripe_refund_id = refund.stripe_refund_id or state.id
        if refund.status == RefundStatus.PENDING and state.status == "succeeded":
            refund.status, refund.finished_at = RefundStatus.SUCCEEDED, clock.now()
        refund.save(update_fields=["stripe_refund_id", "status", "finished_at"])
    return refund


def _refund_close(refund_id: int, *, failed_because: str, stripe_refund_id: str = "") -> PaymentRefund:
    """The refund failed: mark it, and put its funds back on the balance."""
    with transaction.atomic():
        locked = attempt_lock(PaymentRefund.objects.values_list("attempt_id", flat=True).get(pk=refund_id))
        refund = PaymentRefund.objects.select_for_update().get(pk=refund_id)
        if refund.status == RefundStatus.FAILED:
            return refund
        refund.status, refund.finished_at, refund.failure_reason = RefundStatus.FAILED, clock.now(), failed_because
        refund.stripe_refund_id = refund.stripe_refund_id or stripe_refund_id
        refund.save(update_fields=["status", "finished_at", "failure_reason", "stripe_refund_id"])
        if refund.funds_amount > 0:
            _post(locked, EntryKind.FUNDS_ADDED, refund.funds_amount, f"funds-restored:{refund.pk}", refund)
    return refund


def refund_resume(*, refund_id: int) -> PaymentRefund:
    """A pending refund whose request got no answer: adopt it if Stripe has it, else ask again with its key."""
    refund = PaymentRefund.objects.select_related("attempt__invoice").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    for state in stripe_api.refunds_of(refund.attempt.stripe_payment_intent_id):
        if state.id == refund.stripe_refund_id or state.metadata.get("refund") == refund.idempotency_key:
            return refund_apply(refund_id=refund.pk, state=state)
    return refund_send(refund=refund)


def refunds_sync(*, intent_id: str) -> list[PaymentRefund]:
    """Bring our refunds of a PaymentIntent in line with Stripe's (charge.refunded webhook). A refund made at
    Stripe directly is recorded too, and its share of the funds leaves the balance: that money is gone."""
    attempt = PaymentAttempt.objects.filter(stripe_payment_intent_id=intent_id).select_related("invoice").first()
    if attempt is None:
        return []
    synced = []
    for state in stripe_api.refunds_of(intent_id):
        ours = PaymentRefund.objects.filter(attempt=attempt, stripe_refund_id=state.id).first()
        key = state.metadata.get("refund")
        ours = ours or (PaymentRefund.objects.filter(attempt=attempt, idempotency_key=key).first() if key else None)
        if ours is not None:
            synced.append(refund_apply(refund_id=ours.pk, state=state))
        elif state.status not in FAILED_AT_STRIPE:
            synced.append(_refund_external(attempt, state))
    return synced


def _refund_external(attempt: PaymentAttempt, state: stripe_api.RefundState) -> PaymentRefund:
    with transaction.atomic():
        locked = attempt_lock(attempt.pk)
        attempt = locked.attempt
        recorded = PaymentRefund.objects.filter(idempotency_key=f"stripe:{state.id}").first()
        if recorded is not None:
            return recorded
        money_left, funds_left = refundable(attempt)
        funds = Decimal(0)
        if money_left > 0 and attempt.currency == state.currency:
            funds = _funds_share(attempt, min(state.amount, money_left), money_left, funds_left)
        refund = PaymentRefund.objects.create(
            attempt=attempt, amount=state.amount, currency=state.currency, funds_amount=funds,
            source=RefundSource.STRIPE, reason="Refunded at Stripe (outside the portal).",
            idempotency_key=f"stripe:{state.id}", stripe_refund_id=state.id,
            status=RefundStatus.SUCCEEDED if state.status == "succeeded" else RefundStatus.PENDING,
            finished_at=clock.now() if state.status == "succeeded" else None,
        )  # fmt: skip
        if funds > 0:
            _post(locked, EntryKind.FUNDS_RETURNED, -funds, f"funds-returned:{refund.pk}", refund)
    return refund


def refunds_pending() -> list[int]:
    """Refunds still pending a while after they were started (no answer from Stripe, or Stripe still working)."""
    from billing.payments.charging import STALE_AFTER

    return list(
        PaymentRefund.objects.filter(status=RefundStatus.PENDING, created_at__lt=clock.now() - STALE_AFTER)
        .order_by("id")
        .values_list("id", flat=True)
    )
