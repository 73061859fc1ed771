"""/stripe/webhook/: signatures verified, each event stored once, handlers that re-read Stripe so replays and
out-of-order deliveries change nothing."""

import json
from decimal import Decimal

import pytest

from billing.invoicing.prepayments import topup_issue
from billing.models import EntryKind, InvoiceStatus, LedgerEntry, PaymentAttempt, StripeEvent
from billing.payments import attempts
from billing.payments.charging import invoice_charge_automatically
from tests.billing.payments.conftest import VISA, intent_event, post_event, save_card, signature_header

pytestmark = pytest.mark.django_db

EVENT = {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
         "data": {"object": {"id": "pi_unknown", "object": "payment_intent"}}}  # fmt: skip


def test_a_bad_or_missing_signature_is_refused_with_400(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_hubpay_payments"
    body = json.dumps(EVENT).encode()

    missing = client.post("/stripe/webhook/", body, content_type="application/json")
    forged = client.post("/stripe/webhook/", body, content_type="application/json",
                         HTTP_STRIPE_SIGNATURE=signature_header(body, secret="whsec_forged"))  # fmt: skip
    tampered = client.post("/stripe/webhook/", body.replace(b"evt_1", b"evt_2"), content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=signature_header(body))  # fmt: skip

    assert (missing.status_code, missing.content) == (400, b"The Stripe-Signature header is missing.")
    assert forged.status_code == tampered.status_code == 400
    assert forged.content.startswith(b"The signature does not verify")
    assert not StripeEvent.objects.exists()
    assert client.get("/stripe/webhook/").status_code == 405


def test_an_event_is_stored_once_and_a_replay_changes_nothing(localstripe, client):
    first = post_event(client, EVENT)
    replay = post_event(client, EVENT)

    assert first.json() == replay.json() == {"id": "evt_1", "status": "processed"}
    event = StripeEvent.objects.get()
    assert (event.pk, event.type, event.deliveries, event.payload["data"]["object"]["id"]) == (
        "evt_1", "payment_intent.succeeded", 2, "pi_unknown",
    )  # fmt: skip


def test_an_event_that_fails_is_handled_when_delivered_again(localstripe, client, monkeypatch):
    real = attempts.stripe_api.intent_retrieve

    def down(intent_id):
        raise attempts.stripe_api.StripeUnavailable("Stripe is down.")

    monkeypatch.setattr(attempts.stripe_api, "intent_retrieve", down)
    failed = post_event(client, EVENT)
    monkeypatch.setattr(attempts.stripe_api, "intent_retrieve", real)
    event = StripeEvent.objects.get()
    assert (failed.status_code, event.status, event.error) == (500, "failed", "StripeUnavailable('Stripe is down.')")

    again = post_event(client, EVENT)  # Stripe delivers it again; the intent is not one Stripe knows: ignored

    event.refresh_from_db()
    assert again.json() == {"id": "evt_1", "status": "processed"}
    assert (event.status, event.error, event.deliveries) == ("processed", "", 2)
    other = post_event(client, {**EVENT, "id": "evt_2", "type": "customer.created"})
    assert other.json() == {"id": "evt_2", "status": "processed"}


def test_late_and_repeated_events_of_a_paid_top_up_change_nothing(localstripe, hub, client):
    save_card(localstripe, hub.client, VISA)
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="w1")
    invoice_charge_automatically(invoice_id=invoice.pk)
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    intent_id = attempt.stripe_payment_intent_id

    for n, event_type in enumerate(["payment_intent.payment_failed", "payment_intent.requires_action",
                                    "payment_intent.processing", "payment_intent.succeeded",
                                    "payment_intent.succeeded"]):  # fmt: skip
        assert post_event(client, intent_event(intent_id, event_type, f"evt_{n}")).status_code == 200

    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert (attempt.status, invoice.status) == ("succeeded", InvoiceStatus.PAID)
    assert LedgerEntry.objects.filter(account__hub=hub, kind=EntryKind.FUNDS_ADDED).count() == 2  # opening + top-up
    assert StripeEvent.objects.filter(status="processed").count() == 5


def test_a_charge_whose_recording_crashed_is_recorded_from_its_webhook(localstripe, hub, client, monkeypatch):
    """The run dies after Stripe charged, before the intent's id or outcome were written; the webhook's intent
    carries the attempt's key in its metadata."""
    save_card(localstripe, hub.client, VISA)
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="w2")

    def crash(*, attempt_id, intent, failure=None):
        PaymentAttempt.objects.filter(pk=attempt_id).update(stripe_payment_intent_id="")  # as if never written
        raise ConnectionError("worker lost")

    monkeypatch.setattr(attempts, "attempt_record", crash)
    with pytest.raises(ConnectionError):
        invoice_charge_automatically(invoice_id=invoice.pk)
    monkeypatch.undo()
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert (attempt.status, attempt.stripe_payment_intent_id) == ("created", "")
    (charge,) = localstripe.charges(hub.client.stripe_customer.stripe_customer_id)

    post_event(client, intent_event(charge["payment_intent"], "payment_intent.succeeded", "evt_crash"))

    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert (attempt.status, attempt.stripe_payment_intent_id) == ("succeeded", charge["payment_intent"])
    assert invoice.status == InvoiceStatus.PAID


def _foreign_intent(localstripe, payer, *, amount: Decimal, currency: str, metadata: dict) -> str:
    """A PaymentIntent created and charged on the Stripe account outside our attempts (another integration, a
    leaked key): the payer's card, any metadata."""
    from billing import stripe_api
    from billing.payments.methods import stripe_customer_id

    card = save_card(localstripe, payer, VISA)
    intent = stripe_api.card_intent_create(
        amount=amount, currency=currency, customer_id=stripe_customer_id(party=payer),
        payment_method_id=card.stripe_payment_method_id, metadata=metadata, idempotency_key=f"foreign:{payer.pk}",
    )  # fmt: skip
    confirmed = stripe_api.intent_confirm(
        intent_id=intent.id, off_session=False, idempotency_key=f"foreign:{payer.pk}:c"
    )
    assert confirmed.status == "succeeded"
    return intent.id


def _open_attempt_of(invoice):
    from billing.models import PaymentMethodKind
    from billing.payments.attempts import AttemptSpec, attempt_create

    spec = AttemptSpec(
        invoice=invoice, method=None, kind=PaymentMethodKind.CARD, label="Visa •••• 4242", purpose="automatic",
        round="auto", amount=invoice.total, currency=invoice.currency, key=f"{invoice.number}:auto:pm1",
    )  # fmt: skip
    return attempt_create(spec=spec)  # committed before Stripe is called; its run never recorded an intent


def test_an_intent_of_client_a_naming_client_bs_attempt_is_rejected_and_changes_nothing(localstripe, hub, client):
    from tests.factories import ClientFactory, HubFactory

    client_a = ClientFactory(country="DE")
    HubFactory(client=client_a)
    invoice_b = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="b1")  # client B's top-up
    attempt_b = _open_attempt_of(invoice_b)
    intent_id = _foreign_intent(
        localstripe, client_a, amount=attempt_b.amount, currency="EUR",
        metadata={"attempt": attempt_b.idempotency_key, "invoice": invoice_b.number, "party": invoice_b.party_key},
    )  # fmt: skip

    response = post_event(client, intent_event(intent_id, "payment_intent.succeeded", "evt_foreign"))

    assert response.json() == {"id": "evt_foreign", "status": "rejected"}
    event = StripeEvent.objects.get(pk="evt_foreign")
    customer_a = client_a.stripe_customer.stripe_customer_id
    assert (event.status, event.error) == ("rejected", (
        f"PaymentIntent {intent_id} is not the one of attempt {attempt_b.idempotency_key}: its customer is "
        f"{customer_a}, the payer's is (none)."
    ))  # fmt: skip
    invoice_b.refresh_from_db()
    attempt_b.refresh_from_db()
    assert (invoice_b.status, attempt_b.status, attempt_b.stripe_payment_intent_id) == ("pending", "created", "")
    hub.credit_account.refresh_from_db()
    assert hub.credit_account.balance == Decimal("100.00")
    assert LedgerEntry.objects.filter(account__hub=hub).count() == 1  # the opening funds only
    assert post_event(client, intent_event(intent_id, "payment_intent.succeeded", "evt_foreign")).json() == {
        "id": "evt_foreign", "status": "rejected",
    }  # fmt: skip


def test_an_intent_of_the_right_customer_for_another_amount_is_rejected(localstripe, hub, client):
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="b2")
    attempt = _open_attempt_of(invoice)
    intent_id = _foreign_intent(
        localstripe, hub.client, amount=Decimal("10.00"), currency="EUR", metadata={"attempt": attempt.idempotency_key}
    )

    response = post_event(client, intent_event(intent_id, "payment_intent.succeeded", "evt_amount"))

    event = StripeEvent.objects.get(pk="evt_amount")
    assert (response.json()["status"], event.error) == ("rejected", (
        f"PaymentIntent {intent_id} is not the one of attempt {attempt.idempotency_key}: it is for 10.00 EUR, "
        f"the attempt for {attempt.amount} EUR."
    ))  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert hub.credit_account.__class__.objects.get(hub=hub).balance == Decimal("100.00")
