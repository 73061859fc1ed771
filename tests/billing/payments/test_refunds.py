"""Refunds through Stripe (localstripe) and into the ledger: never more than was paid, and the credit balance never
taken below 0.00 by a refund."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from billing import stripe_api
from billing.audit import ledger_audit
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    InvoiceStatus,
    LedgerEntry,
    PaymentAttempt,
    PaymentRefund,
)
from billing.payments.charging import invoice_charge_automatically
from billing.payments.errors import PaymentRefused
from billing.payments.manual import invoice_pay
from billing.payments.refunds import credit_refund, payment_refund, refund_resume
from tests.billing.payments.conftest import (
    THREE_D_SECURE,
    VISA,
    intent_event,
    license_invoice,
    post_event,
    save_card,
)
from tests.factories import ClientFactory, HubFactory

pytestmark = pytest.mark.django_db


def paid_topup(hub, amount="50.00", key="t1") -> PaymentAttempt:
    invoice = topup_issue(hub=hub, amount=Decimal(amount), request_key=key)
    assert invoice_charge_automatically(invoice_id=invoice.pk).state == "paid"
    return PaymentAttempt.objects.get(invoice=invoice, status="succeeded")


def spend(hub, amount: str) -> None:
    """Credit used up (as a staff adjustment: the audit ties USAGE entries to rated messages)."""
    ledger_post(
        account=hub.credit_account, kind=EntryKind.MANUAL_ADJUSTMENT, amount=Money(f"-{amount}", "EUR"),
        key=f"spent:{amount}", memo="Credit used",
    )  # fmt: skip


def balance(hub) -> Decimal:
    return CreditAccount.objects.get(hub=hub).balance


def returned(hub) -> list[Decimal]:
    return list(
        LedgerEntry.objects.filter(account__hub=hub, kind=EntryKind.FUNDS_RETURNED).values_list("amount", flat=True)
    )


@pytest.fixture
def carded_hub(localstripe):
    hub = HubFactory(client=ClientFactory(country="DE"))
    save_card(localstripe, hub.client, VISA)
    return hub


def test_refunding_a_paid_top_up_returns_its_funds(localstripe, carded_hub):
    attempt = paid_topup(carded_hub)
    assert (attempt.amount, balance(carded_hub)) == (Decimal("61.88"), Decimal("50"))  # 50 + 4% fee + 19% VAT

    refund = payment_refund(attempt=attempt, reason="Client closed the account")

    assert (refund.amount, refund.funds_amount, refund.status, refund.source) == (
        Decimal("61.88"), Decimal("50.00"), "succeeded", "staff",
    )  # fmt: skip
    assert returned(carded_hub) == [Decimal("-50")]
    assert balance(carded_hub) == 0
    assert [r["amount"] for r in localstripe.refunds(attempt.stripe_payment_intent_id)] == [6188]
    assert ledger_audit() == []


def test_a_partial_refund_returns_the_same_share_of_the_funds_and_never_more_than_was_paid(localstripe, carded_hub):
    attempt = paid_topup(carded_hub)

    half = payment_refund(attempt=attempt, reason="Half back", amount=Decimal("30.94"))
    with pytest.raises(PaymentRefused) as too_much:
        payment_refund(attempt=attempt, reason="Too much", amount=Decimal("30.95"))
    rest = payment_refund(attempt=attempt, reason="The rest")
    with pytest.raises(PaymentRefused) as nothing_left:
        payment_refund(attempt=attempt, reason="Again", amount=Decimal("0.01"))

    assert (half.amount, half.funds_amount) == (Decimal("30.94"), Decimal("25.00"))
    assert (rest.amount, rest.funds_amount) == (Decimal("30.94"), Decimal("25.00"))
    assert str(too_much.value) == (
        "This payment took 61.88 EUR and 30.94 is already refunded: at most 30.94 can be refunded, not 30.95."
    )
    assert str(nothing_left.value) == "This payment of 61.88 EUR is already refunded in full."
    assert sum(r["amount"] for r in localstripe.refunds(attempt.stripe_payment_intent_id)) == 6188
    assert balance(carded_hub) == 0


def test_funds_already_used_cannot_be_refunded(localstripe, carded_hub):
    attempt = paid_topup(carded_hub)
    spend(carded_hub, "20.00")

    with pytest.raises(PaymentRefused) as refused:
        payment_refund(attempt=attempt, reason="All of it")

    assert str(refused.value) == (
        "Only 30.00 EUR is left on the credit balance; 50.00 of funds cannot be returned (the balance must not go "
        "below 0.00)."
    )
    assert returned(carded_hub) == [] and not PaymentRefund.objects.exists()


def test_the_remaining_credit_goes_back_to_the_cards_that_paid_it(localstripe, carded_hub):
    first = paid_topup(carded_hub, "50.00", "t1")
    second = paid_topup(carded_hub, "20.00", "t2")
    spend(carded_hub, "10.00")

    refunds = credit_refund(hub=carded_hub, reason="Leaving")

    assert balance(carded_hub) == 0
    assert [(r.attempt_id, r.funds_amount, r.amount, r.source) for r in refunds] == [
        (second.pk, Decimal("20.00"), Decimal("24.75"), "credit"),  # newest payment first, all of it
        (first.pk, Decimal("40.00"), Decimal("49.50"), "credit"),
    ]
    assert sorted(returned(carded_hub)) == [Decimal("-40"), Decimal("-20")]
    with pytest.raises(PaymentRefused, match=r"^The credit to return must be a positive amount in whole cents; got 0"):
        credit_refund(hub=carded_hub, reason="Nothing left")
    assert ledger_audit() == []


def test_credit_not_paid_by_a_refundable_payment_is_not_returned(localstripe, hub):
    save_card(localstripe, hub.client, VISA)
    paid_topup(hub)  # 50.00 on top of the 100.00 opening credit

    with pytest.raises(PaymentRefused) as refused:
        credit_refund(hub=hub, reason="Leaving")

    assert str(refused.value) == (
        "Only 50.00 EUR of the credit was paid by refundable payments; at most that can be returned, not 150.00."
    )


def test_a_refund_stripe_refuses_puts_the_funds_back(localstripe, carded_hub, monkeypatch):
    attempt = paid_topup(carded_hub)

    def refuse(**kwargs):
        raise stripe_api.PaymentRequestInvalid("Charge has already been refunded.", code="charge_already_refunded")

    monkeypatch.setattr(stripe_api, "refund_create", refuse)
    with pytest.raises(PaymentRefused, match=r"^Stripe refused the refund: Charge has already been refunded\.$"):
        payment_refund(attempt=attempt, reason="Client asked")

    refund = PaymentRefund.objects.get()
    assert (refund.status, refund.failure_reason) == ("failed", "Charge has already been refunded.")
    entries = LedgerEntry.objects.filter(account__hub=carded_hub).order_by("sequence")
    assert list(entries.values_list("kind", "amount", "idempotency_key")) == [
        ("FUNDS_ADDED", Decimal("50"), f"funds:{attempt.invoice.number}"),
        ("FUNDS_RETURNED", Decimal("-50"), f"funds-returned:{refund.pk}"),
        ("FUNDS_ADDED", Decimal("50"), f"funds-restored:{refund.pk}"),
    ]
    assert balance(carded_hub) == 50


def test_a_refund_whose_answer_was_lost_is_found_not_repeated(localstripe, carded_hub, monkeypatch):
    attempt = paid_topup(carded_hub)
    real = stripe_api.refund_create

    def lost_answer(**kwargs):
        real(**kwargs)
        raise stripe_api.StripeUnavailable("Read timed out.")

    monkeypatch.setattr(stripe_api, "refund_create", lost_answer)
    refund = payment_refund(attempt=attempt, reason="Client asked")
    assert refund.status == "pending" and balance(carded_hub) == 0  # the funds are reserved meanwhile
    monkeypatch.setattr(stripe_api, "refund_create", real)

    refund = refund_resume(refund_id=refund.pk)

    assert refund.status == "succeeded" and refund.stripe_refund_id.startswith("re_")
    assert len(localstripe.refunds(attempt.stripe_payment_intent_id)) == 1


def test_a_refund_made_at_stripe_is_recorded_from_the_webhook(localstripe, carded_hub, client):
    attempt = paid_topup(carded_hub)
    localstripe.request("POST", "/v1/refunds", {"payment_intent": attempt.stripe_payment_intent_id, "amount": 3094})
    event = {"id": "evt_refund_1", "object": "event", "type": "charge.refunded",
             "data": {"object": {"id": "ch_x", "object": "charge",
                                 "payment_intent": attempt.stripe_payment_intent_id}}}  # fmt: skip

    assert post_event(client, event).status_code == 200
    assert post_event(client, event).status_code == 200  # a replay

    refund = PaymentRefund.objects.get()
    assert (refund.source, refund.amount, refund.funds_amount, refund.status) == (
        "stripe", Decimal("30.94"), Decimal("25.00"), "succeeded",
    )  # fmt: skip
    assert returned(carded_hub) == [Decimal("-25")]


def test_a_payment_arriving_for_an_invoice_already_paid_is_refunded(
    localstripe, hub, client, django_capture_on_commit_callbacks
):
    save_card(localstripe, hub.client, THREE_D_SECURE)
    invoice = license_invoice(hub)
    started = invoice_pay(invoice=invoice, kind="card")
    attempt = PaymentAttempt.objects.get(pk=started.attempt_id)
    invoice_mark_paid(invoice=invoice, reference="bank transfer")  # staff record a transfer meanwhile
    localstripe.authenticate(attempt.stripe_payment_intent_id, started.client_secret)

    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, intent_event(attempt.stripe_payment_intent_id, "payment_intent.succeeded", "evt_late"))

    refund = PaymentRefund.objects.get()
    assert (refund.source, refund.amount, refund.funds_amount, refund.status) == (
        "duplicate", Decimal("30.94"), Decimal("0"), "succeeded",
    )  # fmt: skip
    assert [r["amount"] for r in localstripe.refunds(attempt.stripe_payment_intent_id)] == [3094]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
