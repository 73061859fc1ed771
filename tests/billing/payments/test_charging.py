"""Automatic charges against localstripe: the first card, then the next; every card declined → unpaid, blocked,
emailed, and retried on the dunning schedule (days 1, 3, 5, 7) up to a final notice."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.audit import ledger_audit
from billing.models import (
    AttemptPurpose,
    AttemptStatus,
    InvoiceDunning,
    InvoiceStatus,
    PaymentAttempt,
    Restriction,
    RestrictionReason,
)
from billing.payments.charging import invoice_charge_automatically
from billing.send_permission import send_permission
from billing.tasks import charge_pending_task, dunning_run_task
from tests.billing.payments.conftest import (
    DECLINED_AT_CHARGE,
    THREE_D_SECURE,
    VISA,
    license_invoice,
    save_card,
)

pytestmark = pytest.mark.django_db


def customer_of(party) -> str:
    return party.stripe_customer.stripe_customer_id


def test_the_minute_sweep_charges_a_pending_invoice_to_the_first_card(localstripe, hub):
    card = save_card(localstripe, hub.client, VISA)
    invoice = license_invoice(hub)
    assert (invoice.status, invoice.total, invoice.fee_amount) == ("pending", Decimal("30.94"), Decimal("1.00"))

    assert charge_pending_task() == 1

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    (attempt,) = PaymentAttempt.objects.filter(invoice=invoice)
    assert (attempt.payment_method, attempt.amount, attempt.currency, attempt.status, attempt.purpose) == (
        card, Decimal("30.94"), "EUR", AttemptStatus.SUCCEEDED, AttemptPurpose.AUTOMATIC,
    )  # fmt: skip
    assert attempt.idempotency_key == f"{invoice.number}:auto:pm{card.pk}"
    assert attempt.stripe_payment_intent_id.startswith("pi_") and attempt.finished_at is not None
    assert [c["amount"] for c in localstripe.charges(customer_of(hub.client))] == [3094]
    assert charge_pending_task() == 0  # nothing pending any more
    assert invoice_charge_automatically(invoice_id=invoice.pk).state == "not_payable"
    assert len(localstripe.charges(customer_of(hub.client))) == 1


def test_a_declined_card_falls_back_to_the_next_card(localstripe, hub):
    spare = save_card(localstripe, hub.client, VISA)
    declining = save_card(localstripe, hub.client, DECLINED_AT_CHARGE)  # added last, so charged first
    invoice = license_invoice(hub)

    outcome = invoice_charge_automatically(invoice_id=invoice.pk)

    assert outcome.state == "paid"
    attempts = list(PaymentAttempt.objects.filter(invoice=invoice).order_by("id"))
    assert [(a.payment_method, a.status, a.failure_code, a.failure_message) for a in attempts] == [
        (declining, "failed", "card_declined", "Your card was declined."),
        (spare, "succeeded", "", ""),
    ]
    assert len(localstripe.charges(customer_of(hub.client))) == 1


def test_an_off_session_card_asking_for_3d_secure_is_given_up_for_the_next(localstripe, hub):
    save_card(localstripe, hub.client, VISA)
    save_card(localstripe, hub.client, THREE_D_SECURE)
    invoice = license_invoice(hub)

    assert invoice_charge_automatically(invoice_id=invoice.pk).state == "paid"

    first = PaymentAttempt.objects.filter(invoice=invoice).order_by("id").first()
    assert (first.status, first.failure_code) == ("failed", "authentication_required")
    assert localstripe.request("GET", f"/v1/payment_intents/{first.stripe_payment_intent_id}")["status"] == "canceled"


def test_every_card_declined_makes_the_invoice_unpaid_blocks_the_hub_and_emails_why(
    localstripe, hub, mailoutbox, django_capture_on_commit_callbacks
):
    save_card(localstripe, hub.client, DECLINED_AT_CHARGE)
    invoice = license_invoice(hub)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = invoice_charge_automatically(invoice_id=invoice.pk)

    assert (outcome.state, outcome.failures) == ("failed", ["visa •••• 0341: Your card was declined."])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    (restriction,) = Restriction.objects.filter(hub=hub, lifted_at__isnull=True)
    assert (restriction.reason, restriction.detail) == (
        RestrictionReason.LICENSE_UNPAID, f"License invoice {invoice.number} unpaid",
    )  # fmt: skip
    assert send_permission(hub_pk=hub.pk).allowed is False
    dunning = InvoiceDunning.objects.get(invoice=invoice)
    assert dunning.next_retry_at == dunning.failed_at + dt.timedelta(days=1)
    (email,) = mailoutbox
    assert email.to == [hub.client.billing_email]
    assert email.subject == f"Payment failed: License Invoice {invoice.number}"
    assert "- visa •••• 0341: Your card was declined." in email.body
    assert "Manual payment is needed. We will try again on" in email.body


def test_without_a_card_the_invoice_needs_manual_payment(
    localstripe, hub, mailoutbox, django_capture_on_commit_callbacks
):
    invoice = license_invoice(hub)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = invoice_charge_automatically(invoice_id=invoice.pk)

    assert (outcome.state, outcome.failures) == ("failed", ["No card is saved to charge automatically."])
    assert not PaymentAttempt.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    assert "- No card is saved to charge automatically." in mailoutbox[0].body


def test_dunning_retries_on_days_1_3_5_and_7_then_sends_a_final_notice(
    localstripe, hub, mailoutbox, django_capture_on_commit_callbacks
):
    save_card(localstripe, hub.client, DECLINED_AT_CHARGE)
    invoice = license_invoice(hub)
    failed_at = dt.datetime.now(dt.UTC)
    with time_machine.travel(failed_at, tick=True), django_capture_on_commit_callbacks(execute=True):
        invoice_charge_automatically(invoice_id=invoice.pk)

    retried = []
    for hours in range(0, 9 * 24, 6):
        later = failed_at + dt.timedelta(hours=hours)
        with time_machine.travel(later, tick=True), django_capture_on_commit_callbacks(execute=True):
            if dunning_run_task():
                retried.append(hours // 24)

    assert retried == [1, 3, 5, 7]
    attempts = PaymentAttempt.objects.filter(invoice=invoice).order_by("id")
    assert [(a.purpose, a.round, a.status) for a in attempts] == [
        ("automatic", "auto", "failed"), ("dunning", "dunning-1", "failed"), ("dunning", "dunning-2", "failed"),
        ("dunning", "dunning-3", "failed"), ("dunning", "dunning-4", "failed"),
    ]  # fmt: skip
    assert [m.subject.split(":")[0] for m in mailoutbox] == ["Payment failed"] * 4 + ["Final notice"]
    assert "This was the last automatic attempt." in mailoutbox[-1].body
    dunning = InvoiceDunning.objects.get(invoice=invoice)
    assert (dunning.retries_done, dunning.next_retry_at, dunning.closed_at) == (4, None, None)
    assert dunning.final_notice_at is not None
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID  # suspension is separate: the block stays until it is paid
    assert send_permission(hub_pk=hub.pk).allowed is False


def test_a_card_added_to_an_account_with_an_unpaid_invoice_pays_it_at_once(
    localstripe, hub, django_capture_on_commit_callbacks
):
    save_card(localstripe, hub.client, DECLINED_AT_CHARGE)
    invoice = license_invoice(hub)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_charge_automatically(invoice_id=invoice.pk)
    assert send_permission(hub_pk=hub.pk).allowed is False

    with django_capture_on_commit_callbacks(execute=True):
        card = save_card(localstripe, hub.client, VISA)

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert PaymentAttempt.objects.get(invoice=invoice, status="succeeded").round == f"card-{card.pk}"
    assert send_permission(hub_pk=hub.pk).allowed is True
    assert InvoiceDunning.objects.get(invoice=invoice).closed_at is not None
    assert ledger_audit() == []
