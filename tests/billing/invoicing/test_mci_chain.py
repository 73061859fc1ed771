"""Every ledger entry appears on exactly one Month Closing Invoice (issue 10, money edge 2). A month without billable
usage gets no MCI; what was posted in it (a refund, a reconciliation, an adjustment, funds) is shown on the next MCI
issued, so each MCI starts where the previous one ended plus what it invoiced: S' = E + D.

The months are closed by beat's own entry point (`billing.run_day`, eager in tests)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.ledger import ledger_post
from billing.models import EntryKind, Invoice, InvoiceKind, LedgerEntry, RateCardRate
from billing.tasks import billing_day_task
from tests.billing.invoicing.helpers import messages as record
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

RATE = Decimal("0.123457")  # EUR, marketing to Germany


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def number():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )
    client = ClientFactory(company_name="Bäckerei Müller GmbH", country="DE", partner=PartnerFactory(currency="EUR"))
    return PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)), e164="+4915112345678")


def messages(number, count: int, sent_at: dt.datetime, prefix: str) -> None:
    """`count` marketing messages to Germany, recorded a minute after they were sent."""
    with time_machine.travel(sent_at + dt.timedelta(minutes=1), tick=False):
        record(number, count, sent_at, prefix)


def post(number, kind: str, amount: str, when: dt.datetime, key: str) -> None:
    hub = number.waba.hub
    memo = "Goodwill: outage" if kind == EntryKind.MANUAL_ADJUSTMENT else ""
    with time_machine.travel(when, tick=False):
        ledger_post(
            account=hub.credit_account, kind=kind, amount=Money(amount, hub.currency), key=key, occurred_at=when,
            memo=memo,
        )  # fmt: skip


def close(clock, day: dt.date) -> None:
    """Beat's billing day at 00:05 UTC on `day` (it closes the month before)."""
    clock.move_to(dt.datetime.combine(day, dt.time(0, 5), tzinfo=dt.UTC), tick=False)
    billing_day_task.delay(day.isoformat()).get()


def mci(period_key: str) -> Invoice:
    return Invoice.objects.get(kind=InvoiceKind.MONTH_CLOSING, period_key=period_key)


def figures(invoice: Invoice) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in invoice.summary.items() if k != "hub_id"}


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return list(invoice.lines.order_by("position").values_list("role", "description", "amount"))


def test_a_refund_and_an_adjustment_in_a_month_without_usage_are_shown_on_the_next_mci(number, time_machine):
    # given September: 10.00 of funds and 100 messages (12.35), so its MCI bills 2.35
    post(number, EntryKind.FUNDS_ADDED, "10.00", utc(2026, 9, 2, 8), "funds:sep")
    messages(number, 100, utc(2026, 9, 14, 12), "sep")
    close(time_machine, dt.date(2026, 10, 1))
    # and October without any message: a refund of 1.50, a goodwill adjustment of 2.00, a reconciliation of −0.40
    post(number, EntryKind.REFUND, "1.50", utc(2026, 10, 12, 9), "refund:oct")
    post(number, EntryKind.MANUAL_ADJUSTMENT, "2.00", utc(2026, 10, 20, 9), "adjustment:oct")
    post(number, EntryKind.RECONCILIATION, "-0.40", utc(2026, 10, 25, 3), "reconciliation:oct")
    close(time_machine, dt.date(2026, 11, 1))
    # and November: 10 messages (1.23)
    messages(number, 10, utc(2026, 11, 9, 12), "nov")

    # when November is closed
    close(time_machine, dt.date(2026, 12, 1))

    # then October had no MCI, and November's shows October's entries: R 1.50, C 2.00 − 0.40 = 1.60
    september, november = mci("2026-09"), mci("2026-11")
    assert not Invoice.objects.filter(kind=InvoiceKind.MONTH_CLOSING, period_key="2026-10").exists()
    assert september.summary["ending_balance"] == "-2.35"
    assert september.net_amount == Decimal("2.35")
    assert november.summary == {
        "hub_id": number.waba.hub.hub_id,
        "starting_balance": "0.00",  # September's E −2.35 + D 2.35
        "total_added_funds": "0.00",
        "total_usage": "1.23",
        "total_refunds": "1.50",
        "ending_balance": "1.87",
        "usage_reconciliation": "1.60",
    }
    assert lines(november) == [
        ("usage", "WhatsApp Usage Costs", Decimal("1.23")),
        ("reconciliation", "Usage Reconciliation", Decimal("-1.60")),
        ("settled", "Settled with Credit Balance", Decimal("0.37")),
        ("fee", "Transaction Fee", Decimal("0.00")),
        ("tax", "VAT 19%", Decimal("0.00")),
    ]
    assert november.total == Decimal("0.00")
    assert ledger_audit() == []


def test_funds_added_before_the_first_usage_are_shown_on_the_first_mci(number, time_machine):
    # given a prepayment of 50.00 in September, a month without any message (closed without an MCI)
    post(number, EntryKind.FUNDS_ADDED, "50.00", utc(2026, 9, 25, 8), "funds:sep")
    close(time_machine, dt.date(2026, 10, 1))
    messages(number, 100, utc(2026, 10, 14, 12), "oct")

    # when October is closed
    close(time_machine, dt.date(2026, 11, 1))

    # then its MCI, the hub's first, shows September's funds: no entry stays off every invoice
    assert figures(mci("2026-10")) == {
        "starting_balance": Decimal("0.00"),
        "total_added_funds": Decimal("50.00"),
        "total_usage": Decimal("12.35"),
        "total_refunds": Decimal("0.00"),
        "ending_balance": Decimal("37.65"),
        "usage_reconciliation": Decimal("0.00"),
    }


def test_over_a_sequence_of_months_each_mci_starts_where_the_previous_ended_and_every_entry_is_on_one(
    number, time_machine
):
    # given eight months, some with usage and some without, with every kind of money movement
    month_events = {
        dt.date(2026, 5, 1): [("funds", "20.00"), ("usage", 30)],
        dt.date(2026, 6, 1): [("refund", "0.75")],  # no usage: no MCI
        dt.date(2026, 7, 1): [("usage", 250), ("reconciliation", "-0.20")],  # a debt
        dt.date(2026, 8, 1): [("adjustment", "5.00"), ("funds", "15.00")],  # no usage
        dt.date(2026, 9, 1): [("returned", "-4.00")],  # no usage
        dt.date(2026, 10, 1): [("usage", 7), ("refund", "1.10")],
        dt.date(2026, 11, 1): [("reconciliation", "0.35")],  # no usage, the last month closed
        dt.date(2026, 12, 1): [("usage", 3)],
    }
    kinds = {
        "funds": EntryKind.FUNDS_ADDED, "refund": EntryKind.REFUND, "reconciliation": EntryKind.RECONCILIATION,
        "adjustment": EntryKind.MANUAL_ADJUSTMENT, "returned": EntryKind.FUNDS_RETURNED,
    }  # fmt: skip
    for month, events in month_events.items():
        for n, (what, value) in enumerate(events):
            at = dt.datetime.combine(month.replace(day=10 + n), dt.time(12), tzinfo=dt.UTC)
            if what == "usage":
                messages(number, value, at, f"{month:%Y-%m}")
            else:
                post(number, kinds[what], value, at, f"{what}:{month:%Y-%m}")
        close(time_machine, dt.date(month.year + month.month // 12, month.month % 12 + 1, 1))

    # then MCIs exist only for the months with usage
    mcis = list(Invoice.objects.filter(kind=InvoiceKind.MONTH_CLOSING).order_by("period_start"))
    assert [i.period_key for i in mcis] == ["2026-05", "2026-07", "2026-10", "2026-12"]
    # each starts where the previous one ended plus what it invoiced (S' = E + D)
    for previous, following in zip(mcis, mcis[1:], strict=False):
        assert figures(following)["starting_balance"] == figures(previous)["ending_balance"] + previous.net_amount
    # and every entry but the MCI_INVOICED openings is on exactly one of them: the figures add up to the ledger's
    entries = LedgerEntry.objects.filter(account__hub=number.waba.hub)

    def total(*kinds_) -> Decimal:
        value = entries.filter(kind__in=kinds_).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        return Decimal(value).quantize(Decimal("0.01"))

    shown = {key: sum(figures(i)[key] for i in mcis) for key in figures(mcis[0])}
    assert shown["total_added_funds"] == total(EntryKind.FUNDS_ADDED, EntryKind.FUNDS_RETURNED) == Decimal("31.00")
    assert shown["total_usage"] == -total(EntryKind.USAGE, EntryKind.ROUNDING) == Decimal("35.79")
    assert shown["total_refunds"] == total(EntryKind.REFUND) == Decimal("1.85")
    assert (
        shown["usage_reconciliation"] == total(EntryKind.RECONCILIATION, EntryKind.MANUAL_ADJUSTMENT) == Decimal("5.15")
    )
    assert figures(mcis[0])["starting_balance"] == Decimal("0.00")
    # the last MCI's Ending Balance is the whole ledger up to it, less the debts moved to earlier invoices
    assert figures(mcis[-1])["ending_balance"] == total(*EntryKind.values) - mcis[-1].net_amount
    assert ledger_audit() == []
