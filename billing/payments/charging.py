"""Automatic charges: every pending invoice is charged off-session to the party's first saved card, then the next
if it is declined. When every card fails the invoice becomes unpaid (manual payment needed, which starts the
LICENSE_UNPAID / PARTNER_PLAN_UNPAID restriction at once), the billing email is told why, and the dunning schedule
(BILLING_DUNNING_DAYS after the failure) retries it, ending with a final notice. A newly saved card is tried on the
party's unpaid invoices right away.

A charge round has a name (auto, dunning-2, card-17) and each card's attempt in it the key
"<invoice number>:<round>:pm<card id>": running a round again, after a crash or by a second worker, finds the same
attempts instead of charging again.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from billing.invoicing.settlement import invoice_mark_unpaid
from billing.models import (
    OPEN_ATTEMPT_STATUSES,
    AttemptPurpose,
    AttemptStatus,
    Invoice,
    InvoiceDunning,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
)
from billing.payments.attempts import (
    AttemptSpec,
    Failure,
    attempt_abandon,
    attempt_create,
    attempt_fail,
    attempt_run,
    attempt_sync,
)
from billing.payments.errors import AttemptBusy, InvoiceNotPayable
from billing.payments.parties import cards_of, party_of
from billing.queue import enqueue_on_commit
from core import clock

logger = logging.getLogger(__name__)

NO_CARD = "No card is saved to charge automatically."
OFF_SESSION_AUTHENTICATION = Failure(
    "authentication_required",
    "The card asks the cardholder to authenticate the payment (3-D Secure), which an automatic charge cannot do.",
)
# The reconciliation sweep: how long an attempt may wait before it is looked at again.
STALE_AFTER = dt.timedelta(minutes=2)
AUTHENTICATION_TIMEOUT = dt.timedelta(hours=1)
VOUCHER_GRACE = dt.timedelta(days=5)


@dataclass
class RoundOutcome:
    state: str  # paid | processing | failed | busy | not_payable | not_due
    failures: list[str] = field(default_factory=list)


def card_expired(card: PaymentMethod, now: dt.datetime) -> bool:
    if not card.exp_year or not card.exp_month:
        return False
    return (card.exp_year, card.exp_month) < (now.year, now.month)


def charge_round(
    *, invoice: Invoice, round_name: str, purpose: str, cards: list[PaymentMethod] | None = None
) -> RoundOutcome:
    """Charge the invoice off-session to each card in turn until one pays."""
    invoice.refresh_from_db()
    if invoice.status not in (InvoiceStatus.PENDING, InvoiceStatus.UNPAID):
        return RoundOutcome("not_payable")
    cards = cards_of(party_of(invoice)) if cards is None else cards
    failures = [] if cards else [NO_CARD]
    for card in cards:
        if card_expired(card, clock.now()):
            failures.append(f"{card}: expired {card.exp_month:02d}/{card.exp_year}")
            continue
        spec = AttemptSpec(
            invoice=invoice, method=card, kind=PaymentMethodKind.CARD, label=str(card), purpose=purpose,
            round=round_name, amount=invoice.total, currency=invoice.currency,
            key=f"{invoice.number}:{round_name}:pm{card.pk}",
        )  # fmt: skip
        try:
            attempt = attempt_run(attempt=attempt_create(spec=spec), off_session=True)
        except InvoiceNotPayable:
            return RoundOutcome("not_payable")
        except AttemptBusy:
            return RoundOutcome("busy")
        if attempt.status == AttemptStatus.REQUIRES_ACTION:
            attempt = attempt_abandon(attempt=attempt, failure=OFF_SESSION_AUTHENTICATION)
        if attempt.status == AttemptStatus.SUCCEEDED:
            return RoundOutcome("paid")
        if attempt.status != AttemptStatus.FAILED:
            return RoundOutcome("processing")
        failures.append(f"{attempt.method_label}: {attempt.failure_message or attempt.failure_code}")
    return RoundOutcome("failed", failures)


def invoice_charge_automatically(*, invoice_id: int) -> RoundOutcome:
    """The automatic charge of a pending invoice (queued by the minute sweep, an auto top-up)."""
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != InvoiceStatus.PENDING or invoice.total <= 0:
        return RoundOutcome("not_payable")
    outcome = charge_round(invoice=invoice, round_name="auto", purpose=AttemptPurpose.AUTOMATIC)
    if outcome.state == "failed":
        _automatic_charge_failed(invoice, outcome.failures)
    return outcome


def _automatic_charge_failed(invoice: Invoice, failures: list[str]) -> None:
    """Every card failed: manual payment is needed (the restriction starts in the same transaction), the dunning
    schedule starts, and the billing email is told why."""
    now, days = clock.now(), settings.BILLING_DUNNING_DAYS
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.PENDING:
            return
        invoice_mark_unpaid(invoice=invoice)
        InvoiceDunning.objects.get_or_create(
            invoice=invoice,
            defaults={
                "failed_at": now,
                "next_retry_at": now + dt.timedelta(days=days[0]) if days else None,
                "last_failure": "\n".join(failures),
            },
        )
        enqueue_on_commit("billing.payment_failed_email", invoice.pk, "auto")


def dunning_due(*, now: dt.datetime | None = None) -> list[int]:
    """Unpaid invoices whose next dunning retry is due."""
    return list(
        InvoiceDunning.objects.filter(
            closed_at__isnull=True, next_retry_at__lte=now or clock.now(), invoice__status=InvoiceStatus.UNPAID
        ).values_list("invoice_id", flat=True)
    )


def dunning_retry(*, invoice_id: int) -> RoundOutcome:
    """The next step of an unpaid invoice's dunning schedule, when it is due."""
    dunning = InvoiceDunning.objects.select_related("invoice").get(invoice_id=invoice_id)
    now = clock.now()
    if dunning.invoice.status != InvoiceStatus.UNPAID:
        InvoiceDunning.objects.filter(pk=dunning.pk, closed_at__isnull=True).update(closed_at=now, next_retry_at=None)
        return RoundOutcome("not_payable")
    if dunning.closed_at or dunning.next_retry_at is None or dunning.next_retry_at > now:
        return RoundOutcome("not_due")
    step = dunning.retries_done + 1
    outcome = charge_round(invoice=dunning.invoice, round_name=f"dunning-{step}", purpose=AttemptPurpose.DUNNING)
    if outcome.state == "failed":
        _dunning_advance(dunning.pk, step, outcome.failures)
    return outcome


def _dunning_advance(dunning_id: int, step: int, failures: list[str]) -> None:
    days = settings.BILLING_DUNNING_DAYS
    with transaction.atomic():
        dunning = InvoiceDunning.objects.select_for_update().get(pk=dunning_id)
        if dunning.retries_done >= step:
            return
        final = step >= len(days)
        dunning.retries_done = step
        dunning.next_retry_at = None if final else dunning.failed_at + dt.timedelta(days=days[step])
        dunning.last_failure = "\n".join(failures)
        if final:
            dunning.final_notice_at = clock.now()
        dunning.save()
        enqueue_on_commit("billing.payment_failed_email", dunning.invoice_id, f"dunning-{step}")


def charge_after_card_added(*, method_id: int) -> dict[str, str]:
    """A card was just saved: charge the party's unpaid invoices to it (the invoice number → the outcome)."""
    card = PaymentMethod.objects.filter(pk=method_id, kind=PaymentMethodKind.CARD).first()
    if card is None:
        return {}
    party_filter = {"partner_id": card.partner_id} if card.partner_id else {"client_id": card.client_id}
    outcomes = {}
    for invoice in Invoice.objects.filter(**party_filter, status=InvoiceStatus.UNPAID).order_by("issued_at", "id"):
        outcome = charge_round(
            invoice=invoice, round_name=f"card-{card.pk}", purpose=AttemptPurpose.CARD_ADDED, cards=[card]
        )
        outcomes[invoice.number] = outcome.state
    return outcomes


def charges_due(*, limit: int = 1000) -> list[int]:
    """Pending invoices with nothing in flight: the minute sweep queues their automatic charge."""
    in_flight = PaymentAttempt.objects.filter(invoice=OuterRef("pk"), status__in=OPEN_ATTEMPT_STATUSES)
    return list(
        Invoice.objects.filter(status=InvoiceStatus.PENDING, total__gt=0, number__isnull=False)
        .exclude(Exists(in_flight))
        .order_by("issued_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def attempts_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Open attempts no worker holds that have waited a while: a crashed run, a lost webhook."""
    now = now or clock.now()
    return list(
        PaymentAttempt.objects.filter(status__in=OPEN_ATTEMPT_STATUSES, created_at__lt=now - STALE_AFTER)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("id")
        .values_list("id", flat=True)
    )


def attempt_resume(*, attempt_id: int) -> PaymentAttempt:
    """Bring a stale open attempt to an end, or re-read it: a round is run again (it finds its attempts by key);
    a manual attempt is re-read from Stripe, and given up when its payer did not finish in time."""
    attempt = PaymentAttempt.objects.select_related("invoice", "payment_method").get(pk=attempt_id)
    if not attempt.is_open:
        return attempt
    if attempt.purpose == AttemptPurpose.AUTOMATIC:
        invoice_charge_automatically(invoice_id=attempt.invoice_id)
    elif attempt.purpose == AttemptPurpose.DUNNING:
        dunning_retry(invoice_id=attempt.invoice_id)
    elif attempt.purpose == AttemptPurpose.CARD_ADDED and attempt.payment_method is not None:
        charge_round(invoice=attempt.invoice, round_name=attempt.round, purpose=attempt.purpose,
                     cards=[attempt.payment_method])  # fmt: skip
    else:
        _manual_resume(attempt)
    attempt.refresh_from_db()
    return attempt


def _manual_resume(attempt: PaymentAttempt) -> None:
    now = clock.now()
    if not attempt.stripe_payment_intent_id:
        if attempt.method_kind == PaymentMethodKind.CARD:
            # Its intent was never confirmed (the id is recorded before confirming): nothing was charged.
            attempt_fail(
                attempt_id=attempt.pk, failure=Failure("interrupted", "The payment was interrupted; pay again.")
            )
        else:
            attempt_run(attempt=attempt, off_session=False)  # the voucher is created again with the same key
        return
    attempt = attempt_sync(attempt=attempt)
    if attempt.status == AttemptStatus.CREATED:
        # Created but never confirmed (the confirmation got no answer and Stripe has none): the payer must start over.
        attempt_abandon(attempt=attempt, failure=Failure("interrupted", "The payment was interrupted; pay again."))
        return
    if attempt.status != AttemptStatus.REQUIRES_ACTION:
        return
    if attempt.method_kind == PaymentMethodKind.CARD and attempt.created_at < now - AUTHENTICATION_TIMEOUT:
        attempt_abandon(attempt=attempt, failure=Failure("authentication_abandoned", "3-D Secure was not completed."))
    elif attempt.voucher_expires_at and attempt.voucher_expires_at < now - VOUCHER_GRACE:
        attempt_abandon(attempt=attempt, failure=Failure("voucher_expired", "The voucher expired unpaid."))


def payment_failed_notify(*, invoice_id: int, round_name: str) -> None:
    """Email the billing email why the round failed, and what comes next (a retry date, or the final notice)."""
    from billing.emails import payment_failed_email_send

    invoice = Invoice.objects.get(pk=invoice_id)
    dunning = InvoiceDunning.objects.filter(invoice=invoice).first()
    failures = dunning.last_failure.splitlines() if dunning and dunning.last_failure else []
    final = bool(dunning and dunning.final_notice_at and round_name == f"dunning-{dunning.retries_done}")
    where = (
        gettext_lazy("the Invoicing section of the Partner Hub")
        if invoice.partner_id
        else gettext_lazy("the Invoices section of the Client Hub")
    )
    payment_failed_email_send(
        invoice=invoice,
        failures=failures,
        final=final,
        next_retry_at=dunning.next_retry_at if dunning else None,
        # Lazy: written in the invoice's language by the email (billing/emails.py).
        manual_payment=format_lazy(
            gettext_lazy("Pay it with Pay in {where}, or add a new card there: it is charged at once."), where=where
        ),
    )


def voucher_notify(*, attempt_id: int) -> None:
    from billing.emails import voucher_email_send

    attempt = PaymentAttempt.objects.select_related("invoice").get(pk=attempt_id)
    if attempt.voucher and attempt.is_open:
        voucher_email_send(
            invoice=attempt.invoice, method=attempt.method_label, amount=attempt.amount, voucher=attempt.voucher
        )
