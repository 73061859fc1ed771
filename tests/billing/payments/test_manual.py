"""Pay by hand: a saved card on-session (3-D Secure when the card asks), or a PIX / Boleto voucher in BRL for
partners in Brazil.

PIX and Boleto run against the `vouchers` fake (conftest.VoucherIntents): localstripe does not model them, so the
SDK's PaymentIntent resource is replaced where the adapter calls it, answering with the shapes Stripe documents
(requires_action with next_action.pix_display_qr_code / boleto_display_details, then succeeded or expired)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.models import AttemptStatus, CreditNote, InvoiceStatus, PaymentAttempt, StripeEvent
from billing.payments.charging import invoice_charge_automatically
from billing.payments.errors import PaymentRefused
from billing.payments.manual import invoice_pay
from billing.payments.methods import voucher_method_add
from billing.tasks import payments_reconcile_task
from tests.billing.payments.conftest import (
    DECLINED_AT_CHARGE,
    THREE_D_SECURE,
    VISA,
    brl_rate,
    intent_event,
    license_invoice,
    plan_invoice,
    post_event,
    save_card,
)

pytestmark = pytest.mark.django_db


def test_a_card_asking_for_3d_secure_is_paid_once_the_cardholder_authenticates(localstripe, hub, client):
    save_card(localstripe, hub.client, THREE_D_SECURE)
    invoice = license_invoice(hub)

    started = invoice_pay(invoice=invoice, kind="card")

    assert (started.status, started.amount, started.currency) == ("requires_action", Decimal("30.94"), "EUR")
    assert started.client_secret.startswith("pi_")
    assert started.message == "Your bank asks you to confirm this payment (3-D Secure)."
    assert invoice_pay(invoice=invoice, kind="card").attempt_id == started.attempt_id  # Pay pressed twice
    attempt = PaymentAttempt.objects.get(pk=started.attempt_id)
    localstripe.authenticate(attempt.stripe_payment_intent_id, started.client_secret)

    response = post_event(client, intent_event(attempt.stripe_payment_intent_id, "payment_intent.succeeded", "evt_3ds"))

    assert response.status_code == 200
    invoice.refresh_from_db()
    attempt.refresh_from_db()
    assert (invoice.status, attempt.status) == (InvoiceStatus.PAID, AttemptStatus.SUCCEEDED)
    with pytest.raises(PaymentRefused, match=rf"^Invoice {invoice.number} is already paid\.$"):
        invoice_pay(invoice=invoice, kind="card")


def test_a_declined_manual_payment_says_why(localstripe, hub):
    save_card(localstripe, hub.client, DECLINED_AT_CHARGE)
    invoice = license_invoice(hub)

    started = invoice_pay(invoice=invoice, kind="card")

    assert (started.status, started.message) == ("failed", "The payment failed: Your card was declined.")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_clients_cannot_pay_with_pix(localstripe, hub):
    invoice = license_invoice(hub)

    with pytest.raises(PaymentRefused) as refused:
        invoice_pay(invoice=invoice, kind="pix")

    assert str(refused.value) == "PIX is available to partners only."
    assert not PaymentAttempt.objects.exists()


def test_a_pix_voucher_in_brl_is_paid_asynchronously(vouchers, brazilian_partner, client, mailoutbox,
                                                     django_capture_on_commit_callbacks):  # fmt: skip
    brl_rate("USD", "5.4321")
    voucher_method_add(party=brazilian_partner, kind="pix")
    invoice = plan_invoice(brazilian_partner)
    assert (invoice.total, invoice.fee_amount, invoice.currency) == (Decimal("500.00"), Decimal("0.00"), "USD")

    with django_capture_on_commit_callbacks(execute=True):
        started = invoice_pay(invoice=invoice, kind="pix")

    assert (started.status, started.amount, started.currency) == ("requires_action", Decimal("2716.05"), "BRL")
    assert started.voucher["kind"] == "pix" and started.voucher["reference"].startswith("00020101021226850014br.gov")
    assert started.voucher["expires_at"] is not None
    assert started.message.startswith("Pay 2716.05 BRL with this PIX by ")
    attempt = PaymentAttempt.objects.get(pk=started.attempt_id)
    assert (attempt.exchange_rate, attempt.voucher_expires_at is not None) == (Decimal("5.432100"), True)
    assert mailoutbox[0].subject == f"PIX for {invoice.number}"
    assert "Amount: R$2,716.05" in mailoutbox[0].body  # billing.formats, in the invoice's language (en)
    assert invoice_pay(invoice=invoice, kind="pix").attempt_id == attempt.pk  # the same voucher, not a second one
    assert vouchers.created == 1

    post_event(client, vouchers.pay(attempt.stripe_payment_intent_id))

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert not CreditNote.objects.exists()


def test_a_boleto_does_not_charge_the_card_fee_and_credits_it(vouchers, brazilian_partner, client):
    brl_rate("USD", "5.50")
    save_card(vouchers.localstripe, brazilian_partner, DECLINED_AT_CHARGE)
    invoice = plan_invoice(brazilian_partner)
    assert (invoice.total, invoice.fee_amount) == (Decimal("520.00"), Decimal("20.00"))  # the card was first

    started = invoice_pay(invoice=invoice, kind="boleto")

    assert (started.amount, started.currency) == (Decimal("2750.00"), "BRL")  # 500.00 USD × 5.50, without the fee
    assert started.voucher["kind"] == "boleto" and started.voucher["pdf_url"].endswith("/pdf")
    attempt = PaymentAttempt.objects.get(pk=started.attempt_id)
    post_event(client, vouchers.pay(attempt.stripe_payment_intent_id))

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    (note,) = CreditNote.objects.filter(invoice=invoice)
    assert (note.amount, note.reason) == (
        Decimal("20.00"), "Transaction fee waived: paid by Boleto, which carries no fee.",
    )  # fmt: skip


def test_an_expired_voucher_leaves_the_invoice_unpaid_and_a_new_one_can_be_issued(vouchers, brazilian_partner, client):
    brl_rate("USD", "5.50")
    invoice = plan_invoice(brazilian_partner)
    invoice_charge_automatically(invoice_id=invoice.pk)  # no card: unpaid
    first = PaymentAttempt.objects.get(pk=invoice_pay(invoice=invoice, kind="boleto").attempt_id)

    post_event(client, vouchers.expire(first.stripe_payment_intent_id))

    first.refresh_from_db()
    assert (first.status, first.failure_code, first.failure_message) == (
        "failed", "payment_intent_payment_attempt_expired", "The voucher expired before it was paid.",
    )  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    second = invoice_pay(invoice=invoice, kind="boleto")
    assert second.attempt_id != first.pk and second.status == "requires_action"


def test_choosing_another_method_cancels_the_waiting_voucher(vouchers, brazilian_partner):
    brl_rate("USD", "5.50")
    save_card(vouchers.localstripe, brazilian_partner, VISA, first=False)
    voucher_method_add(party=brazilian_partner, kind="pix", first=True)
    invoice = plan_invoice(brazilian_partner)
    pix = invoice_pay(invoice=invoice, kind="pix")

    paid = invoice_pay(invoice=invoice, kind="card")

    assert paid.status == "succeeded" and paid.amount == Decimal("500.00")
    waiting = PaymentAttempt.objects.get(pk=pix.attempt_id)
    assert (waiting.status, waiting.failure_code) == ("failed", "replaced")
    assert vouchers.intents[waiting.stripe_payment_intent_id]["status"] == "canceled"


def test_vouchers_need_a_rate_and_a_boleto_a_tax_id(vouchers, brazilian_partner):
    invoice = plan_invoice(brazilian_partner)

    with pytest.raises(PaymentRefused) as no_rate:
        invoice_pay(invoice=invoice, kind="pix")
    brazilian_partner.tax_id = ""
    brazilian_partner.save()
    brl_rate("USD", "5.50")
    with pytest.raises(PaymentRefused) as no_tax_id:
        invoice_pay(invoice=invoice, kind="boleto")

    assert str(no_rate.value).startswith("No USD→BRL exchange rate is set, so no BRL voucher can be issued.")
    assert str(no_tax_id.value) == (
        "A Boleto needs the partner's CNPJ (or CPF) and state (UF): enter them in Billing details."
    )
    assert not PaymentAttempt.objects.exists() and not StripeEvent.objects.exists()


def test_a_voucher_paid_after_it_was_recorded_expired_still_pays_the_invoice(vouchers, brazilian_partner, client):
    brl_rate("USD", "5.50")
    invoice = plan_invoice(brazilian_partner)
    attempt = PaymentAttempt.objects.get(pk=invoice_pay(invoice=invoice, kind="pix").attempt_id)
    post_event(client, vouchers.expire(attempt.stripe_payment_intent_id))

    post_event(client, vouchers.pay(attempt.stripe_payment_intent_id))  # the bank confirms it late after all

    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert (attempt.status, invoice.status) == ("succeeded", InvoiceStatus.PAID)


def test_an_unfinished_3d_secure_is_given_up_after_an_hour(localstripe, hub):
    save_card(localstripe, hub.client, THREE_D_SECURE)
    invoice = license_invoice(hub)
    attempt = PaymentAttempt.objects.get(pk=invoice_pay(invoice=invoice, kind="card").attempt_id)

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30), tick=True):
        payments_reconcile_task()
    attempt.refresh_from_db()
    assert attempt.status == "requires_action"  # the cardholder may still be at it

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61), tick=True):
        payments_reconcile_task()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.failure_code) == ("failed", "authentication_abandoned")
    assert localstripe.request("GET", f"/v1/payment_intents/{attempt.stripe_payment_intent_id}")["status"] == "canceled"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING  # the next minute's sweep charges it automatically again
