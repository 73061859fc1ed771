"""Automatic top-ups: issued and charged once per dip below the threshold; an emergency top-up below zero even with
auto-renewal off."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, Invoice, InvoiceKind, InvoiceStatus
from billing.payments.charging import invoice_charge_automatically
from billing.payments.topups import auto_topup_evaluate, topup_amount
from billing.usage.ingest import usage_record_batch
from hub.models import Hub
from tests.billing.payments.conftest import DECLINED_AT_CHARGE, VISA, save_card, usage_events
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db


def funded_hub(amount: str, **account) -> Hub:
    hub = HubFactory(client=ClientFactory(country="DE"))
    CreditAccount.objects.filter(hub=hub).update(**account)
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money(amount, "EUR"), key=f"f{hub.pk}")
    return hub


def spend(hub, amount: str, key: str) -> None:
    ledger_post(
        account=CreditAccount.objects.get(hub=hub), kind=EntryKind.MANUAL_ADJUSTMENT, amount=Money(f"-{amount}", "EUR"),
        key=key, memo="Credit used",
    )  # fmt: skip


def auto_topups(hub):
    return Invoice.objects.filter(hub=hub, kind=InvoiceKind.PREPAYMENT, period_key__startswith="topup:auto:")


def test_a_dip_below_the_threshold_issues_one_top_up_of_the_set_amount(localstripe):
    hub = funded_hub("12.00")
    save_card(localstripe, hub.client, VISA)
    spend(hub, "3.00", "s1")

    invoice = auto_topup_evaluate(account_id=hub.credit_account.pk)
    spend(hub, "1.00", "s2")  # usage goes on while the top-up is being charged

    assert (invoice.net_amount, invoice.status, invoice.period_key) == (
        Decimal("50.00"), InvoiceStatus.PENDING, f"topup:auto:{hub.credit_account.pk}:1",
    )  # fmt: skip
    assert auto_topup_evaluate(account_id=hub.credit_account.pk) is None
    assert invoice_charge_automatically(invoice_id=invoice.pk).state == "paid"
    assert CreditAccount.objects.get(hub=hub).balance == Decimal("58")
    assert auto_topup_evaluate(account_id=hub.credit_account.pk) is None  # above the threshold again
    spend(hub, "50.00", "s3")  # a new dip
    assert auto_topup_evaluate(account_id=hub.credit_account.pk).period_key.endswith(":2")
    assert auto_topups(hub).count() == 2


def test_the_ledger_queues_the_top_up_when_usage_takes_the_balance_below_the_threshold(
    localstripe, rate_card, django_capture_on_commit_callbacks
):
    hub = funded_hub("12.00")
    save_card(localstripe, hub.client, VISA)
    number = PhoneNumberFactory(waba=WabaFactory(hub=hub))

    with django_capture_on_commit_callbacks(execute=True):
        usage_record_batch(events=usage_events(number, 2, "a"))  # 4.00: balance 8.00

    (invoice,) = auto_topups(hub)
    assert invoice.status == InvoiceStatus.PAID
    assert CreditAccount.objects.get(hub=hub).balance == Decimal("58")
    assert ledger_audit() == []


def test_below_zero_an_emergency_top_up_is_issued_even_with_auto_renewal_off(localstripe):
    hub = funded_hub("5.00", auto_renew=False, auto_renew_amount=Decimal("20.00"))
    save_card(localstripe, hub.client, VISA)
    spend(hub, "4.00", "s1")
    assert auto_topup_evaluate(account_id=hub.credit_account.pk) is None  # low, but auto-renewal is off

    spend(hub, "31.00", "s2")  # balance −30.00
    invoice = auto_topup_evaluate(account_id=hub.credit_account.pk)

    assert invoice.net_amount == Decimal("40.00")  # enough to reach the threshold (10.00) again
    assert invoice_charge_automatically(invoice_id=invoice.pk).state == "paid"
    assert CreditAccount.objects.get(hub=hub).balance == Decimal("10")


def test_an_unpaid_top_up_holds_further_ones_and_without_a_card_none_is_issued(localstripe):
    no_card = funded_hub("1.00")
    assert auto_topup_evaluate(account_id=no_card.credit_account.pk) is None

    hub = funded_hub("1.00")
    save_card(localstripe, hub.client, DECLINED_AT_CHARGE)
    invoice = auto_topup_evaluate(account_id=hub.credit_account.pk)
    assert invoice_charge_automatically(invoice_id=invoice.pk).state == "failed"
    spend(hub, "5.00", "s1")

    assert auto_topup_evaluate(account_id=hub.credit_account.pk) is None
    assert auto_topups(hub).count() == 1


@pytest.mark.parametrize(
    ("balance", "amount", "expected"),
    [
        ("9.99", "50.00", "50.00"),
        ("-5.00", "50.00", "50.00"),
        ("-75.005", "50.00", "85.01"),
        ("5", "1.00", "10.00"),
        ("-20000", "50.00", "10000.00"),
    ],  # fmt: skip
)
def test_the_top_up_amount(balance, amount, expected):
    account = CreditAccount(balance=Decimal(balance), auto_renew_amount=Decimal(amount))
    assert topup_amount(account) == Decimal(expected)
