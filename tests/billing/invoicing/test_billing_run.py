"""`manage.py billing_run`: every billing job due on a date, as beat runs it, on a small world of two partners
(EUR and USD) with a hub each."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from djmoney.money import Money

from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    LedgerEntry,
    RateCardRate,
)
from hub.models import LicenseTier, PhoneNumber
from partners.models import Plan
from tests.billing.invoicing.helpers import messages
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)  # beat's billing-day task runs at 00:05 UTC
HUB_A, HUB_B = "HUB-AAAA2222", "HUB-BBBB3333"


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now(time_machine):
    time_machine.move_to(DEC_1, tick=False)
    return time_machine


def funds(hub, amount: str, when: dt.datetime, key: str) -> None:
    ledger_post(
        account=hub.credit_account,
        kind=EntryKind.FUNDS_ADDED,
        amount=Money(amount, hub.currency),
        key=key,
        occurred_at=when,
    )


@pytest.fixture
def world():
    """Alpha Partner (EUR, Germany, Growth) with a German client's hub A: a Regular number and a Premium one whose
    deletion was requested on 20 November; 10.00 of funds and 3 messages in October, 5.00 and 200 messages in
    November. Bravo Partner (USD, United States, Premium plan) with an American client's hub B: a Premium number;
    20.00 of funds in October and 7 messages in November."""
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate="0.123457"
    )
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="USD", market="DE", category="marketing", rate="0.087500"
    )
    regular, premium = LicenseTier.objects.get(code="regular"), LicenseTier.objects.get(code="premium")
    alpha = PartnerFactory(name="Alpha Partner", company_name="Alpha Partner GmbH", currency="EUR", country="DE")
    bravo = PartnerFactory(
        name="Bravo Partner",
        company_name="Bravo Partner Inc.",
        currency="USD",
        country="US",
        plan=Plan.objects.get(code="premium"),
    )
    hub_a = HubFactory(client=ClientFactory(partner=alpha, country="DE"), hub_id=HUB_A)
    hub_b = HubFactory(client=ClientFactory(partner=bravo, country="US"), hub_id=HUB_B)
    waba_a, waba_b = WabaFactory(hub=hub_a), WabaFactory(hub=hub_b)
    number_a = PhoneNumberFactory(waba=waba_a, e164="+4915110000001", tier=regular, onboarded_at=utc(2026, 9, 1))
    PhoneNumberFactory(
        waba=waba_a,
        e164="+4915110000002",
        tier=premium,
        onboarded_at=utc(2026, 9, 1),
        status=PhoneNumber.Status.PENDING_DELETION,
        deletion_requested_at=utc(2026, 11, 20, 10),
    )
    number_b = PhoneNumberFactory(waba=waba_b, e164="+12025550143", tier=premium, onboarded_at=utc(2026, 9, 1))
    funds(hub_a, "10.00", utc(2026, 10, 2, 8), "funds:a:oct")
    messages(number_a, 3, utc(2026, 10, 14, 12), "a-oct")
    funds(hub_a, "5.00", utc(2026, 11, 3, 8), "funds:a:nov")
    messages(number_a, 200, utc(2026, 11, 14, 12), "a-nov")
    funds(hub_b, "20.00", utc(2026, 10, 2, 8), "funds:b:oct")
    messages(number_b, 7, utc(2026, 11, 14, 12), "b-nov")
    return hub_a, hub_b


def billing_run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("billing_run", *args, stdout=out)
    return out.getvalue().splitlines()


def row(number: str, kind: str, party: str, period_key: str, total: str, currency: str, status: str) -> str:
    """One issued invoice as the command lists it."""
    return f"  {number:<16} {kind:<20} {party:<14} {period_key:<10} {total:>10} {currency} {status}"


def books(*hubs) -> tuple:
    """What a dry run must leave as it found it."""
    return (
        Invoice.objects.count(),
        list(InvoiceSequence.objects.values_list("series", "year", "last_number")),
        LedgerEntry.objects.count(),
        [CreditAccount.objects.get(hub=hub).closed_through for hub in hubs],
        list(PhoneNumber.objects.order_by("e164").values_list("e164", "status")),
    )


def test_the_first_of_the_month_issues_licenses_the_closing_invoices_and_partner_plans(world):
    # given November's billing day has run
    billing_run("--date", "2026-11-01")

    # when December's runs
    output = billing_run("--date", "2026-12-01")

    # then the deletion requested in November takes effect, and each invoice due is issued and listed:
    # hub A: License 25.00 + 4.75 VAT; MCI: S 9.63 + A 5.00 − U 24.69 (200 × 0.123457) = −10.06 → 10.06 + 1.91 VAT;
    # hub B: License 49.00 USD; MCI: S 20.00 − U 0.61 (7 × 0.0875) = 19.39, nothing payable;
    # partner plans: Growth 500.00 + 95.00 VAT; Premium 1000.00 USD
    assert output == [
        "Billing run for 2026-12-01 (number_deletions, new_numbers, licenses, month_closing, partner_plans)",
        "  1 number(s) deleted at the start of the month",
        row("INV-2026-000006", "LICENSE", HUB_A, "2026-12", "29.75", "EUR", "pending"),
        row("INV-2026-000007", "LICENSE", HUB_B, "2026-12", "49.00", "USD", "pending"),
        row("INV-2026-000008", "MONTH_CLOSING", HUB_A, "2026-11", "11.97", "EUR", "pending"),
        row("INV-2026-000009", "MONTH_CLOSING", HUB_B, "2026-11", "0.00", "USD", "paid"),
        row("INV-2026-000010", "PARTNER_PLAN", "Alpha Partner GmbH", "2026-12", "595.00", "EUR", "pending"),
        row("INV-2026-000011", "PARTNER_PLAN", "Bravo Partner Inc.", "2026-12", "1000.00", "USD", "pending"),
        "Issued 6 invoice(s).",
    ]
    december = Invoice.objects.filter(issued_at=DEC_1)
    assert sorted(december.values_list("kind", flat=True)) == sorted(
        [InvoiceKind.LICENSE] * 2 + [InvoiceKind.MONTH_CLOSING] * 2 + [InvoiceKind.PARTNER_PLAN] * 2
    )
    hub_a, hub_b = world
    assert set(CreditAccount.objects.values_list("closed_through", flat=True)) == {dt.date(2026, 11, 1)}
    assert PhoneNumber.objects.get(e164="+4915110000002").deleted_at == utc(2026, 12, 1)
    mci_a = Invoice.objects.get(number="INV-2026-000008")
    assert mci_a.summary == {
        "hub_id": HUB_A,
        "starting_balance": "9.63",
        "total_added_funds": "5.00",
        "total_usage": "24.69",
        "total_refunds": "0.00",
        "ending_balance": "-10.06",
        "usage_reconciliation": "0.00",
    }
    assert LedgerEntry.objects.get(idempotency_key="mci:INV-2026-000008").amount == Decimal("10.06")


def test_the_billing_day_of_november_closes_october(world):
    output = billing_run("--date", "2026-11-01")

    # hub A: License 74.00 + 14.06 VAT; MCI: 10.00 − 0.37, nothing payable; hub B had no October usage: no MCI
    assert output == [
        "Billing run for 2026-11-01 (number_deletions, new_numbers, licenses, month_closing, partner_plans)",
        row("INV-2026-000001", "LICENSE", HUB_A, "2026-11", "88.06", "EUR", "pending"),
        row("INV-2026-000002", "LICENSE", HUB_B, "2026-11", "49.00", "USD", "pending"),
        row("INV-2026-000003", "MONTH_CLOSING", HUB_A, "2026-10", "0.00", "EUR", "paid"),
        row("INV-2026-000004", "PARTNER_PLAN", "Alpha Partner GmbH", "2026-11", "595.00", "EUR", "pending"),
        row("INV-2026-000005", "PARTNER_PLAN", "Bravo Partner Inc.", "2026-11", "1000.00", "USD", "pending"),
        "Issued 5 invoice(s).",
    ]
    hub_a, hub_b = world
    assert CreditAccount.objects.get(hub=hub_b).closed_through == dt.date(2026, 10, 1)


def test_a_dry_run_shows_what_would_be_issued_and_changes_nothing(world):
    hub_a, hub_b = world
    before = books(hub_a, hub_b)

    dry = billing_run("--date", "2026-12-01", "--dry-run")

    assert dry[0] == (
        "Billing run for 2026-12-01 (number_deletions, new_numbers, licenses, month_closing, partner_plans) — dry run"
    )
    # (October was never closed in this world: its Month Closing Invoice comes first, then November's)
    assert dry[-1] == "Would issue 7 invoice(s)."
    assert books(hub_a, hub_b) == before
    assert Invoice.objects.count() == 0
    assert not InvoiceSequence.objects.exists()
    assert PhoneNumber.objects.get(e164="+4915110000002").status == PhoneNumber.Status.PENDING_DELETION
    # and the real run issues exactly what the dry run showed, under the same numbers
    real = billing_run("--date", "2026-12-01")
    assert real[1:-1] == dry[1:-1]
    assert real[-1] == "Issued 7 invoice(s)."
    assert Invoice.objects.count() == 7


def test_running_the_same_day_twice_issues_nothing_new(world):
    hub_a, hub_b = world
    billing_run("--date", "2026-11-01")
    billing_run("--date", "2026-12-01")
    before = books(hub_a, hub_b)
    balances = list(CreditAccount.objects.order_by("id").values_list("balance", flat=True))

    again = billing_run("--date", "2026-12-01")

    assert again == [
        "Billing run for 2026-12-01 (number_deletions, new_numbers, licenses, month_closing, partner_plans)",
        "Issued 0 invoice(s).",
    ]
    assert books(hub_a, hub_b) == before
    assert list(CreditAccount.objects.order_by("id").values_list("balance", flat=True)) == balances


def test_the_last_day_of_a_month_issues_the_monthly_prepayments(world):
    hub_a, hub_b = world
    CreditAccount.objects.filter(hub=hub_a).update(monthly_prepayment=Decimal("100.00"))

    output = billing_run("--date", "2026-11-30")

    assert output == [
        "Billing run for 2026-11-30 (monthly_prepayments, new_numbers)",
        row("INV-2026-000001", "PREPAYMENT", HUB_A, "monthly:2026-12", "119.00", "EUR", "pending"),
        "Issued 1 invoice(s).",
    ]
    invoice = Invoice.objects.get()
    assert (invoice.period_start, invoice.issued_at) == (dt.date(2026, 12, 1), utc(2026, 11, 30))


def test_a_mid_month_run_sweeps_up_new_numbers_missed_earlier_in_the_month(world):
    # given numbers onboarded on 10 and 20 November whose queued invoices were lost
    hub_a, hub_b = world
    premium = LicenseTier.objects.get(code="premium")
    PhoneNumberFactory(waba=hub_b.wabas.get(), e164="+12025550144", tier=premium, onboarded_at=utc(2026, 11, 10, 14))
    PhoneNumberFactory(waba=hub_a.wabas.get(), e164="+4915110000003", tier=premium, onboarded_at=utc(2026, 11, 20, 9))

    # when the run for 18 November happens
    output = billing_run("--date", "2026-11-18")

    # then the 10 November number is invoiced: 49.00 × 21/30 = 34.30 USD; the 20 November one is not due yet
    assert output == [
        "Billing run for 2026-11-18 (new_numbers)",
        row("INV-2026-000001", "LICENSE_NEW_NUMBERS", HUB_B, "2026-11-10", "34.30", "USD", "pending"),
        "Issued 1 invoice(s).",
    ]
    # and the number onboarded on 20 November at 09:00 is swept up by the run of the 21st, not of the 20th
    assert billing_run("--date", "2026-11-20")[-1] == "Issued 0 invoice(s)."
    assert billing_run("--date", "2026-11-21")[1:] == [
        row("INV-2026-000002", "LICENSE_NEW_NUMBERS", HUB_A, "2026-11-20", "21.38", "EUR", "pending"),
        "Issued 1 invoice(s).",
    ]


def test_a_number_onboarded_on_the_last_day_after_the_run_is_swept_up_the_next_day(world):
    # given a number onboarded on 30 November after that day's run, whose queued invoice was lost
    hub_a, _ = world
    billing_run("--date", "2026-11-01")
    billing_run("--date", "2026-11-30")
    PhoneNumberFactory(
        waba=hub_a.wabas.get(),
        e164="+4915110000004",
        tier=LicenseTier.objects.get(code="regular"),
        onboarded_at=utc(2026, 11, 30, 15),
    )

    # when December's billing day runs
    output = billing_run("--date", "2026-12-01")

    # then it is pro-rated for November (1/30 of 25.00 = 0.83, + 0.16 VAT) and licensed in full for December
    assert output[2] == row("INV-2026-000006", "LICENSE_NEW_NUMBERS", HUB_A, "2026-11-30", "0.99", "EUR", "pending")
    assert output[3] == row("INV-2026-000007", "LICENSE", HUB_A, "2026-12", "59.50", "EUR", "pending")
    assert output[-1] == "Issued 7 invoice(s)."
    assert billing_run("--date", "2026-12-02")[-1] == "Issued 0 invoice(s)."
    assert InvoiceLine.objects.filter(details__number="+4915110000004").count() == 2


def test_a_bad_date_is_refused():
    with pytest.raises(CommandError) as refused:
        call_command("billing_run", "--date", "x", stdout=io.StringIO())

    assert str(refused.value) == "--date must be YYYY-MM-DD, got 'x'"
    assert not Invoice.objects.exists()


def test_without_a_date_the_run_is_for_today(world):
    output = billing_run()

    assert output[0] == (
        "Billing run for 2026-12-01 (number_deletions, new_numbers, licenses, month_closing, partner_plans)"
    )
    assert Invoice.objects.filter(kind=InvoiceKind.LICENSE).first().issued_at == DEC_1


def test_the_books_audit_clean_after_the_billing_days(world):
    for day in ("2026-11-01", "2026-11-18", "2026-11-30", "2026-12-01"):
        billing_run("--date", day)

    out = io.StringIO()
    call_command("billing_audit", stdout=out)

    assert out.getvalue().strip() == "OK: 2 credit account(s) audited, no violations."
