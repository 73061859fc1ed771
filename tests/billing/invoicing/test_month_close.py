"""The Month Closing Invoice and the month close of the credit ledger (DESIGN.md, "Month Closing Invoice"):

    S = earlier months (+ MCI_INVOICED opening the month)   A = FUNDS_ADDED + FUNDS_RETURNED
    U = −(USAGE + ROUNDING)   R = REFUND   C = RECONCILIATION + MANUAL_ADJUSTMENT
    E = S + A − U + R + C     D = max(0, −E)

October 2026 for a German client's EUR hub, closed on 1 November at 00:10 UTC."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.invoicing.month_close import month_close
from billing.invoicing.settlement import invoice_void
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LedgerEntry,
    MessageUsage,
    PaymentMethod,
    PaymentMethodKind,
    RateCardRate,
)
from tests.billing.invoicing.helpers import messages
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

SEP, OCT, NOV, DEC = dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)
RATE = Decimal("0.123457")  # EUR, marketing to Germany
UTILITY_RATE = Decimal("0.050000")
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
DEC_ISSUED_AT = dt.datetime(2026, 12, 1, 0, 10, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now(time_machine):
    time_machine.move_to(ISSUED_AT, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def rate_card():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="utility", rate=UTILITY_RATE
    )


def hub_with_number(*, e164: str = "+4915112345678", company: str = "Bäckerei Müller GmbH", **client_fields):
    client_fields.setdefault("country", "DE")
    client = ClientFactory(company_name=company, partner=PartnerFactory(currency="EUR"), **client_fields)
    return PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)), e164=e164)


@pytest.fixture
def number():
    return hub_with_number()


@pytest.fixture
def hub(number):
    return number.waba.hub


def post(hub, kind: str, amount: str, when: dt.datetime, key: str, memo: str = "") -> LedgerEntry:
    return ledger_post(
        account=hub.credit_account,
        kind=kind,
        amount=Money(amount, hub.currency),
        key=key,
        occurred_at=when,
        memo=memo,
    )


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return list(invoice.lines.order_by("position").values_list("role", "description", "amount"))


def account_of(hub) -> CreditAccount:
    return CreditAccount.objects.get(hub=hub)


def ledger_sum(hub, **filters) -> Decimal:
    """The entries' sum to the ledger's 6 places (SQLite sums in binary floating point)."""
    total = LedgerEntry.objects.filter(account__hub=hub, **filters).aggregate(total=Sum("amount"))["total"]
    return Decimal(total).quantize(Decimal("0.000001"))


def summary_figures(invoice: Invoice) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in invoice.summary.items() if k != "hub_id"}


def busy_october(hub, number) -> None:
    """Every kind of activity, before, in and after October. September has no usage, so it gets no MCI and its
    funds are shown on October's, the hub's first (every entry is on exactly one MCI): S = 0.00;
    A = 5.00 (September) + 20.00 − 3.00 returned = 22.00; U = 250 × 0.123457 = 30.864250 → 30.86;
    R = 1.50; C = −0.40 + 0.25 = −0.15; E = 0.00 + 22.00 − 30.86 + 1.50 − 0.15 = −7.51; D = 7.51."""
    post(hub, EntryKind.FUNDS_ADDED, "5.00", utc(2026, 9, 10, 8), "funds:sep")
    post(hub, EntryKind.FUNDS_ADDED, "20.00", utc(2026, 10, 5, 8), "funds:oct")
    messages(number, 100, utc(2026, 10, 3, 12), prefix="oct-a")
    messages(number, 5, utc(2026, 10, 4, 12), prefix="oct-free", billable=False)
    post(hub, EntryKind.REFUND, "1.50", utc(2026, 10, 12, 9), "refund:1")
    messages(number, 150, utc(2026, 10, 17, 12), prefix="oct-b")
    post(hub, EntryKind.FUNDS_RETURNED, "-3.00", utc(2026, 10, 20, 9), "returned:1")
    post(hub, EntryKind.RECONCILIATION, "-0.40", utc(2026, 10, 25, 3), "reconciliation:1")
    post(hub, EntryKind.MANUAL_ADJUSTMENT, "0.25", utc(2026, 10, 28, 14), "adjustment:1", memo="Goodwill: outage")
    # November usage recorded before the close does not count in October.
    messages(number, 1, utc(2026, 11, 1, 0, 2), prefix="nov-early")


# --- The invoice ------------------------------------------------------------------------------------------------------


def test_the_mci_bills_what_the_credit_balance_did_not_cover(hub, number):
    # given a busy October
    busy_october(hub, number)

    # when October is closed
    issued = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    # then one MCI, its lines in order: usage, reconciliation, settled with credit, fee, VAT on what is payable
    assert len(issued) == 1
    invoice = Invoice.objects.get()
    assert invoice.kind == InvoiceKind.MONTH_CLOSING
    assert invoice.number == "INV-2026-000001"
    assert (invoice.period_key, invoice.period_start, invoice.period_end) == ("2026-10", OCT, NOV)
    assert lines(invoice) == [
        ("usage", "WhatsApp Usage Costs", Decimal("30.86")),
        ("reconciliation", "Usage Reconciliation", Decimal("0.15")),
        ("settled", "Settled with Credit Balance", Decimal("-23.50")),
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("1.43")),  # 19% of 7.51 = 1.4269
    ]
    assert (invoice.net_amount, invoice.fee_amount, invoice.tax_amount, invoice.total) == (
        Decimal("7.51"),
        Decimal("0.00"),
        Decimal("1.43"),
        Decimal("8.94"),
    )
    assert sum(amount for _, _, amount in lines(invoice)) == invoice.total
    # and the summary block
    assert invoice.summary == {
        "hub_id": hub.hub_id,
        "starting_balance": "0.00",
        "total_added_funds": "22.00",
        "total_usage": "30.86",
        "total_refunds": "1.50",
        "ending_balance": "-7.51",
        "usage_reconciliation": "-0.15",
    }
    # and the header: the hub owner's company, the hub, the billing period
    assert invoice.billed_company["company_name"] == "Bäckerei Müller GmbH"
    assert invoice.billed_company["hub_id"] == hub.hub_id
    assert (invoice.hub_id, invoice.client_id) == (hub.id, hub.client_id)
    # D > 0: the automatic payment is scheduled
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.paid_at is None
    assert (invoice.issued_at, invoice.due_date) == (ISSUED_AT, dt.date(2026, 11, 1))
    assert ledger_audit() == []


def test_the_summary_adds_up_and_the_ledger_agrees_with_it(hub, number):
    busy_october(hub, number)

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    f = summary_figures(invoice)
    ending = (
        f["starting_balance"]
        + f["total_added_funds"]
        - f["total_usage"]
        + f["total_refunds"]
        + f["usage_reconciliation"]
    )
    assert ending == f["ending_balance"] == Decimal("-7.51")
    # the ledger, squared to the cent, holds exactly E for everything up to October
    assert ledger_sum(hub, period__lte=OCT) == Decimal("-7.51")
    # (September, closed without an MCI, is shown on this one: nothing came before it)
    assert f["starting_balance"] == Decimal("0.00")
    assert ledger_sum(hub, period__lte=OCT, kind__in=[EntryKind.FUNDS_ADDED, EntryKind.FUNDS_RETURNED]) == Decimal(
        f["total_added_funds"]
    )
    assert -ledger_sum(hub, period=OCT, kind__in=[EntryKind.USAGE, EntryKind.ROUNDING]) == f["total_usage"]
    # the amount payable is D
    assert invoice.net_amount == -f["ending_balance"]
    assert ledger_audit() == []


def test_a_card_payer_pays_the_fee_on_the_amount_due_and_vat_on_both(hub, number):
    PaymentMethod.objects.create(client=hub.client, kind=PaymentMethodKind.CARD, position=0)
    busy_october(hub, number)

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    # 4% of 7.51 = 0.3004 → 0.30; 19% of 7.81 = 1.4839 → 1.48
    assert lines(invoice) == [
        ("usage", "WhatsApp Usage Costs", Decimal("30.86")),
        ("reconciliation", "Usage Reconciliation", Decimal("0.15")),
        ("settled", "Settled with Credit Balance", Decimal("-23.50")),
        ("fee", "Transaction Fee", Decimal("0.30")),
        ("tax", "VAT 19%", Decimal("1.48")),
    ]
    assert (invoice.net_amount, invoice.fee_amount, invoice.total) == (
        Decimal("7.51"),
        Decimal("0.30"),
        Decimal("9.29"),
    )
    # the ledger moves D, not the fee or the tax
    assert LedgerEntry.objects.get(kind=EntryKind.MCI_INVOICED).amount == Decimal("7.51")
    assert ledger_audit() == []


def test_a_reverse_charge_client_pays_no_vat_on_the_amount_due():
    number = hub_with_number(country="FR", vat_id="FR40303265045")
    hub = number.waba.hub
    messages(number, 3, utc(2026, 10, 3, 12), prefix="oct")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    assert lines(invoice)[-1] == ("tax", "VAT 0% (reverse charge)", Decimal("0.00"))
    assert invoice.total == Decimal("0.37")
    assert "FR40303265045" in invoice.tax_note


# --- The ledger: ROUNDING and MCI_INVOICED ----------------------------------------------------------------------------


def test_closing_posts_the_debt_to_the_next_month_and_the_sub_cent_rounding_to_this_one(hub, number):
    busy_october(hub, number)

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    rounding = LedgerEntry.objects.get(kind=EntryKind.ROUNDING)
    assert rounding.amount == Decimal("0.004250")  # 30.864250 exact − 30.86 printed
    assert rounding.period == OCT
    assert rounding.occurred_at == utc(2026, 10, 31, 23, 59, 59, 999999)
    assert rounding.idempotency_key == f"rounding:{hub.credit_account.id}:2026-10"
    invoiced = LedgerEntry.objects.get(kind=EntryKind.MCI_INVOICED)
    assert invoiced.amount == Decimal("7.51")
    assert invoiced.period == NOV
    assert invoiced.occurred_at == utc(2026, 11, 1)
    assert invoiced.idempotency_key == f"mci:{invoice.number}"
    assert invoiced.reference == invoice.number
    account = account_of(hub)
    assert account.closed_through == OCT
    # E + D = 0.00, less the November message recorded before the close
    assert account.balance == Decimal("-0.123457")
    assert ledger_audit() == []


@pytest.mark.parametrize(
    ("count", "printed", "rounding"),
    [
        (3, "0.37", "0.000371"),  # 0.370371
        (5, "0.62", "-0.002715"),  # 0.617285 rounds up: the remainder is negative
        (81, "10.00", "0.000017"),  # 10.000017
    ],
)
def test_the_rounding_entry_is_the_exact_usage_minus_the_printed_usage(hub, number, count, printed, rounding):
    messages(number, count, utc(2026, 10, 9, 12), prefix="oct")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    entry = LedgerEntry.objects.get(kind=EntryKind.ROUNDING)
    assert (entry.amount, entry.period) == (Decimal(rounding), OCT)
    assert lines(invoice)[0] == ("usage", "WhatsApp Usage Costs", Decimal(printed))
    assert invoice.summary["total_usage"] == printed
    assert invoice.summary["ending_balance"] == f"-{printed}"
    assert ledger_sum(hub, period=OCT) == -Decimal(printed)
    assert ledger_audit() == []


def test_three_messages_of_a_client_without_credit(hub, number):
    messages(number, 3, utc(2026, 10, 9, 12), prefix="oct")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    # U = 0.370371 → 0.37, nothing settled with credit, 19% of 0.37 = 0.0703 → 0.07
    assert lines(invoice) == [
        ("usage", "WhatsApp Usage Costs", Decimal("0.37")),
        ("settled", "Settled with Credit Balance", Decimal("0.00")),
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("0.07")),
    ]
    assert invoice.total == Decimal("0.44")
    assert summary_figures(invoice) == {
        "starting_balance": Decimal("0.00"),
        "total_added_funds": Decimal("0.00"),
        "total_usage": Decimal("0.37"),
        "total_refunds": Decimal("0.00"),
        "ending_balance": Decimal("-0.37"),
        "usage_reconciliation": Decimal("0.00"),
    }
    assert LedgerEntry.objects.get(kind=EntryKind.MCI_INVOICED).amount == Decimal("0.37")
    assert account_of(hub).balance == Decimal("0.00")
    assert ledger_audit() == []


def test_usage_in_whole_cents_needs_no_rounding_entry(hub, number):
    messages(number, 4, utc(2026, 10, 9, 12), prefix="oct", category="utility")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    assert not LedgerEntry.objects.filter(kind=EntryKind.ROUNDING).exists()
    assert invoice.summary["total_usage"] == "0.20"
    assert ledger_audit() == []


@pytest.mark.parametrize(
    ("kind", "amount", "field", "reconciliation_line"),
    [
        # Funds returned to the client's card count in Total Added Funds, as a negative.
        (EntryKind.FUNDS_RETURNED, "-2.00", {"total_added_funds": "8.00", "ending_balance": "7.63"}, None),
        (EntryKind.REFUND, "0.80", {"total_refunds": "0.80", "ending_balance": "10.43"}, None),
        (EntryKind.RECONCILIATION, "0.30", {"usage_reconciliation": "0.30", "ending_balance": "9.93"}, "-0.30"),
        # A staff adjustment counts in Usage Reconciliation.
        (EntryKind.MANUAL_ADJUSTMENT, "-1.25", {"usage_reconciliation": "-1.25", "ending_balance": "8.38"}, "1.25"),
    ],
)
def test_each_entry_kind_counts_in_its_summary_figure(hub, number, kind, amount, field, reconciliation_line):
    # given 10.00 of funds and 0.37 of usage in October (E = 9.63), and one more entry
    post(hub, EntryKind.FUNDS_ADDED, "10.00", utc(2026, 10, 2, 8), "funds:oct")
    messages(number, 3, utc(2026, 10, 9, 12), prefix="oct")
    post(hub, kind, amount, utc(2026, 10, 15, 8), "extra", memo="Staff correction")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    expected = {
        "hub_id": hub.hub_id,
        "starting_balance": "0.00",
        "total_added_funds": "10.00",
        "total_usage": "0.37",
        "total_refunds": "0.00",
        "ending_balance": "9.63",
        "usage_reconciliation": "0.00",
        **field,
    }
    assert invoice.summary == expected
    reconciliation = [amount for role, _, amount in lines(invoice) if role == "reconciliation"]
    assert reconciliation == ([Decimal(reconciliation_line)] if reconciliation_line else [])
    assert invoice.total == Decimal("0.00")
    assert sum(amount for _, _, amount in lines(invoice)) == invoice.total
    assert ledger_audit() == []


# --- Nothing to pay, nothing to invoice -------------------------------------------------------------------------------


def test_usage_covered_by_credit_leaves_nothing_payable_and_the_invoice_is_paid(hub, number):
    # given 50.00 of credit and 0.37 of usage
    post(hub, EntryKind.FUNDS_ADDED, "50.00", utc(2026, 10, 2, 8), "funds:oct")
    messages(number, 3, utc(2026, 10, 9, 12), prefix="oct")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    assert lines(invoice) == [
        ("usage", "WhatsApp Usage Costs", Decimal("0.37")),
        ("settled", "Settled with Credit Balance", Decimal("-0.37")),
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("0.00")),
    ]
    assert invoice.total == Decimal("0.00")
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.paid_at == ISSUED_AT
    assert invoice.summary["ending_balance"] == "49.63"
    # nothing moves to the invoice
    assert not LedgerEntry.objects.filter(kind=EntryKind.MCI_INVOICED).exists()
    assert account_of(hub).balance == Decimal("49.63")
    assert ledger_audit() == []


def test_a_card_payer_with_nothing_payable_pays_no_fee(hub, number):
    PaymentMethod.objects.create(client=hub.client, kind=PaymentMethodKind.CARD, position=0)
    post(hub, EntryKind.FUNDS_ADDED, "50.00", utc(2026, 10, 2, 8), "funds:oct")
    messages(number, 3, utc(2026, 10, 9, 12), prefix="oct")

    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    assert lines(invoice)[-2:] == [
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("0.00")),
    ]
    assert (invoice.total, invoice.status) == (Decimal("0.00"), InvoiceStatus.PAID)


def test_a_month_without_billable_usage_has_no_mci_but_is_closed(hub, number):
    # given funds and free messages only
    post(hub, EntryKind.FUNDS_ADDED, "10.00", utc(2026, 10, 2, 8), "funds:oct")
    messages(number, 4, utc(2026, 10, 9, 12), prefix="oct-free", billable=False)

    issued = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    assert issued == []
    assert not Invoice.objects.exists()
    assert account_of(hub).closed_through == OCT
    assert LedgerEntry.objects.count() == 1
    # and late October usage now counts in November
    messages(number, 1, utc(2026, 10, 30, 12), prefix="late")
    assert LedgerEntry.objects.get(kind=EntryKind.USAGE).period == NOV
    assert ledger_audit() == []


def test_a_hub_with_usage_only_in_the_next_month_has_no_mci(hub, number):
    messages(number, 2, utc(2026, 11, 1, 0, 1), prefix="nov")

    assert month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT) == []
    assert not LedgerEntry.objects.filter(kind=EntryKind.ROUNDING).exists()


# --- Re-running, late data and the next month -------------------------------------------------------------------------


def test_closing_a_month_again_changes_nothing(hub, number):
    busy_october(hub, number)
    month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    entries, balance = LedgerEntry.objects.count(), account_of(hub).balance

    again = month_close(hub_ids=[hub.id], period=OCT, issued_at=utc(2026, 11, 1, 6))

    assert again == []
    assert Invoice.objects.count() == 1
    assert LedgerEntry.objects.count() == entries
    assert account_of(hub).balance == balance
    assert account_of(hub).closed_through == OCT
    assert ledger_audit() == []


def test_late_october_usage_counts_in_november_and_novembers_mci_picks_it_up(hub, number, now):
    # given October closed with D = 7.51
    busy_october(hub, number)
    (october,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)

    # when a message sent on 30 October is reported after the close
    messages(number, 1, utc(2026, 10, 30, 18), prefix="late")

    # then it counts in November, and October's invoice and figures do not change
    late = MessageUsage.objects.get(message_id="wamid.late.0")
    assert late.period == NOV
    assert late.ledger_entry.period == NOV
    assert ledger_sum(hub, period__lte=OCT) == Decimal("-7.51")
    october.refresh_from_db()
    assert october.total == Decimal("8.94")

    # when November is closed
    now.move_to(DEC_ISSUED_AT, tick=False)
    (november,) = month_close(hub_ids=[hub.id], period=NOV, issued_at=DEC_ISSUED_AT)

    # then November starts at October's E + D = -7.51 + 7.51 and bills both November-period messages:
    # 2 × 0.123457 = 0.246914 → 0.25; VAT 19% of 0.25 = 0.0475 → 0.05
    assert november.summary == {
        "hub_id": hub.hub_id,
        "starting_balance": "0.00",
        "total_added_funds": "0.00",
        "total_usage": "0.25",
        "total_refunds": "0.00",
        "ending_balance": "-0.25",
        "usage_reconciliation": "0.00",
    }
    assert lines(november) == [
        ("usage", "WhatsApp Usage Costs", Decimal("0.25")),
        ("settled", "Settled with Credit Balance", Decimal("0.00")),
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("0.05")),
    ]
    assert (november.number, november.period_key, november.total) == ("INV-2026-000002", "2026-11", Decimal("0.30"))
    assert LedgerEntry.objects.get(kind=EntryKind.ROUNDING, period=NOV).amount == Decimal("-0.003086")
    assert LedgerEntry.objects.get(idempotency_key=f"mci:{november.number}").period == DEC
    assert account_of(hub).closed_through == NOV
    assert account_of(hub).balance == Decimal("0.00")
    assert ledger_audit() == []


def test_credit_left_at_the_end_of_a_month_is_the_next_months_starting_balance(hub, number, now):
    post(hub, EntryKind.FUNDS_ADDED, "50.00", utc(2026, 10, 2, 8), "funds:oct")
    messages(number, 3, utc(2026, 10, 9, 12), prefix="oct")
    (october,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    now.move_to(DEC_ISSUED_AT, tick=False)
    messages(number, 5, utc(2026, 11, 9, 12), prefix="nov")
    post(hub, EntryKind.FUNDS_ADDED, "10.00", utc(2026, 11, 12, 8), "funds:nov")

    (november,) = month_close(hub_ids=[hub.id], period=NOV, issued_at=DEC_ISSUED_AT)

    assert october.summary["ending_balance"] == november.summary["starting_balance"] == "49.63"
    # 49.63 + 10.00 − 0.62 (5 × 0.123457 = 0.617285)
    assert november.summary["ending_balance"] == "59.01"
    assert november.status == InvoiceStatus.PAID
    assert account_of(hub).balance == Decimal("59.01")
    assert ledger_audit() == []


def test_novembers_starting_balance_after_a_debt_is_zero_even_when_the_mci_is_unpaid(hub, number, now):
    messages(number, 100, utc(2026, 10, 9, 12), prefix="oct")  # 12.345700 → 12.35
    (october,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    now.move_to(DEC_ISSUED_AT, tick=False)
    messages(number, 3, utc(2026, 11, 9, 12), prefix="nov")

    (november,) = month_close(hub_ids=[hub.id], period=NOV, issued_at=DEC_ISSUED_AT)

    # October's debt (E = −12.35) moved to its invoice: November does not bill it again
    assert october.net_amount == Decimal("12.35")
    assert november.summary["starting_balance"] == "0.00"
    assert november.net_amount == Decimal("0.37")
    assert ledger_audit() == []


def test_closing_several_hubs_issues_each_its_own_mci_and_leaves_other_hubs_open():
    first = hub_with_number(e164="+4915110000001", company="First GmbH")
    second = hub_with_number(e164="+4915110000002", company="Second GmbH")
    other = hub_with_number(e164="+4915110000003", company="Other GmbH")
    messages(first, 3, utc(2026, 10, 9, 12), prefix="first")
    messages(second, 5, utc(2026, 10, 9, 12), prefix="second")
    messages(other, 1, utc(2026, 10, 9, 12), prefix="other")

    issued = month_close(hub_ids=[first.waba.hub_id, second.waba.hub_id], period=OCT, issued_at=ISSUED_AT)

    by_hub = {invoice.hub_id: invoice for invoice in issued}
    assert by_hub[first.waba.hub_id].summary["total_usage"] == "0.37"
    assert by_hub[second.waba.hub_id].summary["total_usage"] == "0.62"
    assert by_hub[first.waba.hub_id].billed_company["company_name"] == "First GmbH"
    assert sorted(i.number for i in issued) == ["INV-2026-000001", "INV-2026-000002"]
    assert account_of(other.waba.hub).closed_through is None
    assert not Invoice.objects.filter(hub=other.waba.hub).exists()
    assert ledger_audit() == []


def test_a_voided_mcis_debt_comes_back_on_the_next_mci_as_usage_reconciliation(hub, number, now):
    # given October's MCI (100 × 0.123457 = 12.35 due), voided by staff in November
    messages(number, 100, utc(2026, 10, 9, 12), prefix="oct")
    (october,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    now.move_to(utc(2026, 11, 20, 9), tick=False)
    invoice_void(invoice=october, reason="Card expired, billed again in December")
    messages(number, 3, utc(2026, 11, 9, 12), prefix="nov")

    # when November is closed
    now.move_to(DEC_ISSUED_AT, tick=False)
    (november,) = month_close(hub_ids=[hub.id], period=NOV, issued_at=DEC_ISSUED_AT)

    # then the void's −12.35 counts in Usage Reconciliation and is payable again with November's 0.37
    assert november.summary == {
        "hub_id": hub.hub_id,
        "starting_balance": "0.00",
        "total_added_funds": "0.00",
        "total_usage": "0.37",
        "total_refunds": "0.00",
        "ending_balance": "-12.72",
        "usage_reconciliation": "-12.35",
    }
    assert lines(november) == [
        ("usage", "WhatsApp Usage Costs", Decimal("0.37")),
        ("reconciliation", "Usage Reconciliation", Decimal("12.35")),
        ("settled", "Settled with Credit Balance", Decimal("0.00")),
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("2.42")),  # 19% of 12.72 = 2.4168
    ]
    assert november.total == Decimal("15.14")
    assert account_of(hub).balance == Decimal("0.00")
    assert ledger_audit() == []


def test_closing_a_month_while_an_earlier_one_is_open_closes_the_earlier_one_first(hub, number, now):
    # given October's usage (0.370371) and November's (0.123457), October never closed (its billing day was missed)
    messages(number, 3, utc(2026, 10, 9, 12), prefix="oct")
    now.move_to(DEC_ISSUED_AT, tick=False)
    messages(number, 1, utc(2026, 11, 9, 12), prefix="nov")

    # when November is closed
    october, november = month_close(hub_ids=[hub.id], period=NOV, issued_at=DEC_ISSUED_AT)

    # then October gets its own MCI first, and each month is squared to the cent
    assert [(i.period_key, i.number, i.net_amount) for i in (october, november)] == [
        ("2026-10", "INV-2026-000001", Decimal("0.37")),
        ("2026-11", "INV-2026-000002", Decimal("0.12")),
    ]
    assert november.summary["starting_balance"] == "0.00"
    assert sorted(LedgerEntry.objects.filter(kind=EntryKind.ROUNDING).values_list("period", "amount")) == [
        (OCT, Decimal("0.000371")),
        (NOV, Decimal("0.003457")),
    ]
    assert ledger_sum(hub, period__lte=OCT) == Decimal("-0.37")
    assert ledger_sum(hub, period__lte=NOV) == Decimal(november.summary["ending_balance"]) == Decimal("-0.12")
    assert account_of(hub).closed_through == NOV
    # and a late run for October finds nothing left to do
    assert month_close(hub_ids=[hub.id], period=OCT, issued_at=DEC_ISSUED_AT) == []
    assert ledger_audit() == []
