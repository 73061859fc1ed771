"""Stripe's webhook events: each stored once by its id, with how its handling went.

Stripe neither orders nor de-duplicates deliveries, so no handler trusts the event's copy of the object: each
re-reads the PaymentIntent (SetupIntent, refunds) from Stripe and records what it is now, through the same
idempotent services the charges use. A replayed or late event therefore changes nothing; a failed one is handled
again when Stripe delivers it again (or staff press "Process again"). An intent is applied only to the attempt it
belongs to (its id, customer, amount, currency and attempt key, `attempt_record`): one that only names an attempt
in its metadata is recorded as rejected, with the reason, and changes nothing.
"""

import logging

from django.db import transaction
from django.db.models import F

from billing import stripe_api
from billing.models import PaymentAttempt, StripeEvent, StripeEventStatus
from billing.payments.attempts import attempt_record
from billing.payments.errors import IntentMismatch
from billing.payments.methods import setup_intent_succeeded
from billing.payments.refunds import refunds_sync
from core import clock

logger = logging.getLogger(__name__)


class EventRejected(Exception):
    """The event names a payment it does not belong to: recorded as rejected with the reason, nothing applied, and
    acknowledged (delivering it again would not change the answer)."""


DONE = (StripeEventStatus.PROCESSED, StripeEventStatus.REJECTED)
INTENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.canceled",
)


def _intent_changed(event: dict) -> str:
    intent_id = stripe_api.event_object_id(event)
    try:
        intent = stripe_api.intent_retrieve(intent_id)
    except stripe_api.PaymentRequestInvalid as unknown:
        return f"PaymentIntent {intent_id} cannot be read from Stripe ({unknown.message}): not one of ours."
    attempt = PaymentAttempt.objects.filter(stripe_payment_intent_id=intent.id).first()
    if attempt is None and intent.metadata.get("attempt"):
        # Charged, but the run crashed before recording the intent's id: the metadata names the attempt.
        attempt = PaymentAttempt.objects.filter(idempotency_key=intent.metadata["attempt"]).first()
    if attempt is None:
        return f"PaymentIntent {intent.id} is not one of ours."
    try:
        attempt = attempt_record(attempt_id=attempt.pk, intent=intent)
    except IntentMismatch as mismatch:
        raise EventRejected(str(mismatch)) from mismatch
    return f"attempt {attempt.idempotency_key}: {attempt.status}"


def _charge_refunded(event: dict) -> str:
    intent_id = stripe_api.event_object_field(event, "payment_intent")
    if not intent_id:
        return "The charge has no PaymentIntent."
    refunds = refunds_sync(intent_id=intent_id)
    return f"{len(refunds)} refund(s) of {intent_id} in line with Stripe"


def _setup_succeeded(event: dict) -> str:
    method = setup_intent_succeeded(setup_intent_id=stripe_api.event_object_id(event))
    return "The customer is not one of ours." if method is None else f"card {method} saved"


HANDLERS = {
    **dict.fromkeys(INTENT_EVENTS, _intent_changed),
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _charge_refunded,
    "setup_intent.succeeded": _setup_succeeded,
}


def stripe_event_receive(*, event: dict) -> StripeEvent:
    """Store a verified event (once) and handle it unless it was handled before. A handler's error is kept on the
    event (status failed) and raised, so the delivery is answered with an error and Stripe sends it again."""
    row, created = StripeEvent.objects.get_or_create(
        id=event["id"],
        defaults={"type": event.get("type", ""), "payload": event, "received_at": clock.now()},
    )
    if not created:
        StripeEvent.objects.filter(pk=row.pk).update(deliveries=F("deliveries") + 1)
    if row.status in DONE:
        return row
    return stripe_event_process(event_id=row.pk)


def stripe_event_process(*, event_id: str) -> StripeEvent:
    try:
        with transaction.atomic():
            row = StripeEvent.objects.select_for_update().get(pk=event_id)
            if row.status in DONE:
                return row
            handler = HANDLERS.get(row.type)
            try:
                outcome = handler(row.payload) if handler else f"{row.type} is not handled."
                row.status, row.error = StripeEventStatus.PROCESSED, ""
            except EventRejected as rejected:
                outcome = f"rejected: {rejected}"
                row.status, row.error = StripeEventStatus.REJECTED, str(rejected)
                logger.warning("stripe event %s (%s) rejected: %s", row.pk, row.type, rejected)
            row.processed_at = clock.now()
            row.save(update_fields=["status", "error", "processed_at"])
            logger.info("stripe event %s (%s): %s", row.pk, row.type, outcome)
        return row
    except Exception as error:
        StripeEvent.objects.filter(pk=event_id).exclude(status__in=DONE).update(
            status=StripeEventStatus.FAILED, error=f"{error!r}"[:5000]
        )
        raise
