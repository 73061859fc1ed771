"""End to end on PostgreSQL, against localstripe delivering its signed webhooks to the live server: blocks start
when money fails and lift by themselves when it arrives; webhooks replayed or out of order change nothing; a crash
between the charge and its recording charges nothing twice; an automatic top-up fires once per dip."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from djmoney.money import Money

from billing import stripe_api
from billing.audit import ledger_audit
from billing.invoicing.prepayments import topup_issue
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    CreditNote,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LedgerEntry,
    PaymentAttempt,
    Restriction,
    RestrictionReason,
    StripeEvent,
)
from billing.payments import attempts
from billing.payments.charging import invoice_charge_automatically
from billing.payments.manual import invoice_pay
from billing.restrictions import OnboardingBlocked, onboarding_check
from billing.send_permission import send_permission
from billing.tasks import charge_pending_task, payments_reconcile_task
from billing.usage.ingest import usage_record_batch
from tests.billing.payments.conftest import (
    DECLINED_AT_CHARGE,
    VISA,
    brl_rate,
    license_invoice,
    plan_invoice,
    save_card,
    signed_delivery,
    usage_events,
    wait_for,
)
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, WabaFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def active_reasons(**subject) -> set[str]:
    return set(Restriction.objects.filter(lifted_at__isnull=True, **subject).values_list("reason", flat=True))


def processed(event_type: str) -> list[StripeEvent]:
    return list(StripeEvent.objects.filter(type=event_type, status="processed"))


def test_a_declined_license_charge_blocks_the_hub_until_a_new_card_pays_it(localstripe, webhooks, hub, mailoutbox):
    save_card(localstripe, hub.client, DECLINED_AT_CHARGE)
    invoice = license_invoice(hub)

    charge_pending_task()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    assert active_reasons(hub=hub) == {RestrictionReason.LICENSE_UNPAID}
    permission = send_permission(hub_pk=hub.pk)
    assert permission.allowed is False
    assert permission.reasons[0]["detail"] == f"License invoice {invoice.number} unpaid"
    assert [m.subject for m in mailoutbox if m.subject.startswith("Payment failed")] == [
        f"Payment failed: License Invoice {invoice.number}"
    ]

    new_card = save_card(localstripe, hub.client, VISA)  # the client updates the card; nobody else acts

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert active_reasons(hub=hub) == set()
    assert send_permission(hub_pk=hub.pk).allowed is True
    assert Restriction.objects.get(hub=hub, reason="LICENSE_UNPAID").lift_reason == "License invoice paid"
    paid_by = PaymentAttempt.objects.get(invoice=invoice, status="succeeded")
    assert paid_by.payment_method == new_card

    # localstripe's own deliveries (declined, then succeeded) arrive afterwards and change nothing.
    wait_for(lambda: processed("payment_intent.succeeded") and processed("payment_intent.payment_failed"),
             what="localstripe's webhooks")  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert list(PaymentAttempt.objects.filter(invoice=invoice).order_by("id").values_list("status", flat=True)) == [
        "failed", "succeeded",
    ]  # fmt: skip
    assert len(localstripe.charges(hub.client.stripe_customer.stripe_customer_id)) == 1
    assert ledger_audit() == []


def test_usage_drains_the_balance_blocks_the_hub_and_a_paid_top_up_unblocks_it(localstripe, webhooks, rate_card):
    hub = HubFactory(client=ClientFactory(country="DE"))
    CreditAccount.objects.filter(hub=hub).update(auto_renew=False)
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("5.00", "EUR"), key="opening")
    number = PhoneNumberFactory(waba=WabaFactory(hub=hub))

    usage_record_batch(events=usage_events(number, 3, "drain"))  # 3 × 2.00

    assert CreditAccount.objects.get(hub=hub).balance == Decimal("-1")
    assert active_reasons(hub=hub) == {RestrictionReason.CREDIT_BALANCE_DEPLETED}
    assert send_permission(hub_pk=hub.pk).allowed is False
    assert not Invoice.objects.filter(hub=hub).exists()  # no card: no emergency top-up to charge

    save_card(localstripe, hub.client, VISA)
    topup = topup_issue(hub=hub, amount=Decimal("20.00"), request_key="funds-page-1")
    charge_pending_task()

    topup.refresh_from_db()
    assert topup.status == InvoiceStatus.PAID
    assert CreditAccount.objects.get(hub=hub).balance == Decimal("19")
    assert active_reasons(hub=hub) == set()
    assert send_permission(hub_pk=hub.pk).allowed is True
    wait_for(lambda: processed("payment_intent.succeeded"), what="the payment_intent.succeeded webhook")
    assert LedgerEntry.objects.filter(account__hub=hub, kind=EntryKind.FUNDS_ADDED).count() == 2  # opening, top-up
    assert ledger_audit() == []


def test_a_declined_partner_plan_refuses_onboarding_until_paid_by_boleto(vouchers, webhooks, brazilian_partner):
    """The Boleto runs on the adapter-boundary fake (localstripe does not model it); its events are signed and
    delivered to the live server like Stripe's."""
    brl_rate("USD", "5.50")
    save_card(vouchers.localstripe, brazilian_partner, DECLINED_AT_CHARGE)
    invoice = plan_invoice(brazilian_partner)

    charge_pending_task()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    with pytest.raises(OnboardingBlocked) as blocked:
        onboarding_check(partner_id=brazilian_partner.pk)
    assert str(blocked.value) == (
        f"Onboarding new clients is paused: Partner Plan invoice {invoice.number} unpaid. Pay it in the Invoicing "
        "section of the Partner Hub and onboarding resumes automatically."
    )

    started = invoice_pay(invoice=invoice, kind="boleto")
    assert (started.status, started.amount, started.currency) == ("requires_action", Decimal("2750.00"), "BRL")
    attempt = PaymentAttempt.objects.get(pk=started.attempt_id)
    shown = vouchers.event(attempt.stripe_payment_intent_id, "payment_intent.requires_action")
    assert signed_delivery(webhooks, shown).json() == {"id": shown["id"], "status": "processed"}
    with pytest.raises(OnboardingBlocked):
        onboarding_check(partner_id=brazilian_partner.pk)

    paid = vouchers.pay(attempt.stripe_payment_intent_id)
    assert signed_delivery(webhooks, paid).status_code == 200

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    onboarding_check(partner_id=brazilian_partner.pk)  # allowed again
    assert CreditNote.objects.get(invoice=invoice).amount == Decimal("20.00")  # the card fee, waived
    # The same event again, and the earlier one late: nothing changes.
    assert signed_delivery(webhooks, paid).json() == {"id": paid["id"], "status": "processed"}
    assert signed_delivery(webhooks, shown).json() == {"id": shown["id"], "status": "processed"}
    assert StripeEvent.objects.get(pk=paid["id"]).deliveries == 2
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert ledger_audit() == []


def test_duplicate_and_reordered_webhooks_change_nothing(localstripe, webhooks, hub):
    save_card(localstripe, hub.client, VISA)
    topup = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="dup-1")
    charge_pending_task()
    (delivered,) = wait_for(lambda: processed("payment_intent.succeeded"), what="localstripe's webhook")
    balance = CreditAccount.objects.get(hub=hub).balance
    assert balance == Decimal("150")

    replay = signed_delivery(webhooks, delivered.payload)
    older = {**delivered.payload, "id": "evt_older", "type": "payment_intent.processing"}
    late_failure = {**delivered.payload, "id": "evt_late_failure", "type": "payment_intent.payment_failed"}
    responses = [signed_delivery(webhooks, event) for event in (older, late_failure, older)]

    assert replay.json() == {"id": delivered.pk, "status": "processed"}
    assert [r.json()["status"] for r in responses] == ["processed"] * 3
    assert StripeEvent.objects.get(pk=delivered.pk).deliveries == 2
    assert StripeEvent.objects.get(pk="evt_older").deliveries == 2
    topup.refresh_from_db()
    assert topup.status == InvoiceStatus.PAID
    assert CreditAccount.objects.get(hub=hub).balance == balance
    assert LedgerEntry.objects.filter(account__hub=hub, kind=EntryKind.FUNDS_ADDED).count() == 2
    assert PaymentAttempt.objects.get(invoice=topup).status == "succeeded"
    assert ledger_audit() == []


def test_a_crash_between_the_charge_and_its_recording_charges_once_and_records_once(localstripe, hub, monkeypatch):
    save_card(localstripe, hub.client, VISA)
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="crash-1")
    real_record = attempts.attempt_record
    confirmed = []
    real_confirm = stripe_api.intent_confirm

    def confirm(**kwargs):
        confirmed.append(kwargs["idempotency_key"])
        return real_confirm(**kwargs)

    def crash(**kwargs):
        raise ConnectionError("worker killed after Stripe charged, before anything was recorded")

    monkeypatch.setattr(stripe_api, "intent_confirm", confirm)
    monkeypatch.setattr(attempts, "attempt_record", crash)
    with pytest.raises(ConnectionError):
        invoice_charge_automatically(invoice_id=invoice.pk)
    monkeypatch.setattr(attempts, "attempt_record", real_record)

    attempt = PaymentAttempt.objects.get(invoice=invoice)
    customer = hub.client.stripe_customer.stripe_customer_id
    assert attempt.status == "created" and attempt.stripe_payment_intent_id  # open, its intent known
    assert len(localstripe.charges(customer)) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert charge_pending_task() == 0  # something is in flight: the minute sweep leaves it alone

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3), tick=True):
        assert payments_reconcile_task() == 1  # the stale attempt is resumed with the same key

    (resumed,) = PaymentAttempt.objects.filter(invoice=invoice)
    assert (resumed.pk, resumed.idempotency_key, resumed.stripe_payment_intent_id) == (
        attempt.pk, attempt.idempotency_key, attempt.stripe_payment_intent_id,
    )  # fmt: skip
    assert resumed.status == "succeeded"
    assert confirmed == [f"{attempt.idempotency_key}:confirm"]  # confirmed once: the retry re-read the intent
    (charge,) = localstripe.charges(customer)
    assert charge["payment_intent"] == attempt.stripe_payment_intent_id
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert (
        LedgerEntry.objects.filter(
            account__hub=hub, kind=EntryKind.FUNDS_ADDED, reference=charge["payment_intent"]
        ).count()
        == 1
    )
    assert ledger_audit() == []


def test_auto_renewal_fires_once_for_a_dip_while_usage_keeps_arriving_during_the_charge(
    localstripe, rate_card, monkeypatch
):
    hub = HubFactory(client=ClientFactory(country="DE"))
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("12.00", "EUR"), key="opening")
    save_card(localstripe, hub.client, VISA)
    number = PhoneNumberFactory(waba=WabaFactory(hub=hub))
    in_flight, release = threading.Event(), threading.Event()
    real_confirm = stripe_api.intent_confirm

    def slow_confirm(**kwargs):
        in_flight.set()
        assert release.wait(timeout=60)
        return real_confirm(**kwargs)

    monkeypatch.setattr(stripe_api, "intent_confirm", slow_confirm)
    errors = []

    def batch(name: str) -> None:
        try:
            usage_record_batch(events=usage_events(number, 2, name))  # 4.00 each
        except BaseException as error:  # noqa: BLE001 -- reported by the test
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=batch, args=("dip",))
    first.start()  # 12.00 → 8.00: below the threshold; its top-up is issued and charged, slowly
    assert in_flight.wait(timeout=60)
    more = [threading.Thread(target=batch, args=(f"during-{n}",)) for n in range(3)]
    for thread in more:
        thread.start()
    for thread in more:
        thread.join(timeout=60)
    release.set()
    first.join(timeout=60)

    assert errors == []
    topups = Invoice.objects.filter(hub=hub, kind=InvoiceKind.PREPAYMENT)
    assert [(t.net_amount, t.status) for t in topups] == [(Decimal("50.00"), InvoiceStatus.PAID)]
    assert len(localstripe.charges(hub.client.stripe_customer.stripe_customer_id)) == 1
    assert CreditAccount.objects.get(hub=hub).balance == Decimal("12") - 4 * Decimal("4") + Decimal("50")
    assert LedgerEntry.objects.filter(account__hub=hub, kind=EntryKind.FUNDS_ADDED).count() == 2
    assert ledger_audit() == []
