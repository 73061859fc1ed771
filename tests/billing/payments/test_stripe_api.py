"""The Stripe adapter: minor units, error mapping, webhook signatures — against localstripe where Stripe answers."""

from decimal import Decimal

import pytest

from billing import stripe_api
from tests.billing.payments.conftest import DECLINED_AT_CHARGE, VISA, WEBHOOK_SECRET, signature_header


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("30.94"), "EUR", 3094),
        (Decimal("0.01"), "USD", 1),
        (Decimal("1234.50"), "BRL", 123450),
        (Decimal("500"), "JPY", 500),
    ],  # fmt: skip
)
def test_amounts_convert_to_minor_units_and_back(amount, currency, minor):
    assert stripe_api.to_minor(amount, currency) == minor
    assert stripe_api.from_minor(minor, currency) == amount


def test_an_amount_finer_than_the_currency_is_refused():
    with pytest.raises(ValueError, match=r"30\.945 EUR has more decimal places than the currency allows\."):
        stripe_api.to_minor(Decimal("30.945"), "EUR")


def test_a_declined_confirmation_raises_our_error_with_stripes_code_and_message(localstripe):
    customer = stripe_api.customer_create(name="Acme", email="billing@acme.example", party_key="client:1")
    intent = stripe_api.card_intent_create(
        amount=Decimal("30.94"), currency="EUR", customer_id=customer,
        payment_method_id=localstripe.card(DECLINED_AT_CHARGE), metadata={"attempt": "k1"}, idempotency_key="k1",
    )  # fmt: skip

    assert (intent.status, intent.amount, intent.currency) == ("requires_confirmation", Decimal("30.94"), "EUR")
    with pytest.raises(stripe_api.PaymentDeclined) as declined:
        stripe_api.intent_confirm(intent_id=intent.id, off_session=True, idempotency_key="k1:confirm")
    assert (declined.value.code, declined.value.message) == ("card_declined", "Your card was declined.")
    after = stripe_api.intent_retrieve(intent.id)
    assert (after.status, after.failure_code, after.failure_message) == (
        "requires_payment_method", "card_declined", "Your card was declined.",
    )  # fmt: skip


def test_a_card_is_charged_in_minor_units(localstripe):
    customer = stripe_api.customer_create(name="Acme", email="billing@acme.example", party_key="client:1")
    intent = stripe_api.card_intent_create(
        amount=Decimal("30.94"), currency="EUR", customer_id=customer, payment_method_id=localstripe.card(VISA),
        metadata={}, idempotency_key="k2",
    )  # fmt: skip

    paid = stripe_api.intent_confirm(intent_id=intent.id, off_session=True, idempotency_key="k2:confirm")

    assert (paid.status, paid.amount) == ("succeeded", Decimal("30.94"))
    assert [c["amount"] for c in localstripe.charges(customer)] == [3094]


def test_an_unknown_payment_method_is_an_invalid_request(localstripe):
    with pytest.raises(stripe_api.PaymentRequestInvalid):
        stripe_api.card_retrieve("pm_does_not_exist")


def test_no_answer_from_stripe_is_unavailable(settings):
    settings.STRIPE_API_KEY, settings.STRIPE_API_BASE, settings.STRIPE_MAX_NETWORK_RETRIES = (
        "sk_test_x",
        "http://127.0.0.1:9",
        0,
    )

    with pytest.raises(stripe_api.StripeUnavailable):
        stripe_api.intent_retrieve("pi_x")


def test_a_webhook_verifies_only_with_its_signature(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = b'{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}'

    event = stripe_api.webhook_event(payload=body, signature=signature_header(body))

    assert (event["id"], stripe_api.event_object_id(event)) == ("evt_1", "pi_1")
    with pytest.raises(stripe_api.WebhookInvalid, match="The signature does not verify"):
        stripe_api.webhook_event(payload=body, signature=signature_header(body, secret="whsec_other"))
    with pytest.raises(stripe_api.WebhookInvalid, match="The Stripe-Signature header is missing."):
        stripe_api.webhook_event(payload=body, signature=None)
