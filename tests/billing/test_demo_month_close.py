"""The Done-when of the invoicing issue, on the demo world: the 1st's billing run issues what the seeds describe,
every Month Closing Invoice satisfies DESIGN.md's identities, a rerun issues nothing, the books stay proven."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from billing.audit import ledger_audit
from billing.invoicing.calendar import billing_run
from billing.models import CreditAccount, Invoice, InvoiceKind, LedgerEntry
from hub.models import Hub
from partners.models import Partner

pytestmark = pytest.mark.django_db


SEED_LABELS = {  # the seeds' labels, in each invoice language
    "en": ("WhatsApp Usage Costs", "Settled with Credit Balance"),
    "de": ("WhatsApp-Nutzungskosten", "Mit Guthaben verrechnet"),
    "es": ("Costes de uso de WhatsApp", "Liquidado con saldo de crédito"),
    "pt-br": ("Custos de uso do WhatsApp", "Liquidado com saldo de crédito"),
}


def D(value: str) -> Decimal:
    return Decimal(value)


def test_the_first_of_december_closes_november_for_the_demo_world():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    with time_machine.travel(dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC), tick=False):
        report = billing_run(day=dt.date(2026, 12, 1))
        rerun = billing_run(day=dt.date(2026, 12, 1))

    kinds = sorted(i.kind for i in report.issued)
    hubs_with_numbers = Hub.objects.filter(wabas__numbers__status__in=["active", "pending_deletion"]).distinct()
    assert kinds.count(InvoiceKind.LICENSE) == hubs_with_numbers.count()
    assert kinds.count(InvoiceKind.PARTNER_PLAN) == Partner.objects.count()
    assert kinds.count(InvoiceKind.MONTH_CLOSING) == Hub.objects.count()  # every demo hub sent billable messages
    assert rerun.issued == []
    for mci in [i for i in report.issued if i.kind == InvoiceKind.MONTH_CLOSING]:
        s = mci.summary
        ending = (
            D(s["starting_balance"])
            + D(s["total_added_funds"])
            - D(s["total_usage"])
            + D(s["total_refunds"])
            + D(s["usage_reconciliation"])
        )
        assert D(s["ending_balance"]) == ending, mci.number
        due = max(Decimal("0.00"), -ending)
        assert mci.net_amount == due, mci.number
        lines = list(mci.lines.order_by("position"))
        assert sum(line.amount for line in lines) == mci.total, mci.number
        usage, settled = SEED_LABELS[mci.language]  # each client's invoice language (hub/demo.py)
        assert [line.description for line in lines][:1] == [usage]
        assert settled in [line.description for line in lines]
        account = CreditAccount.objects.get(hub_id=mci.hub_id)
        assert account.closed_through == dt.date(2026, 11, 1)
        opening = LedgerEntry.objects.filter(account=account, kind="MCI_INVOICED", reference=mci.number)
        assert [e.amount for e in opening] == ([due] if due else [])
    # November's starting balances are October's ending balances plus what October's MCIs moved to invoices
    for hub in Hub.objects.all():
        october = Invoice.objects.get(hub=hub, kind=InvoiceKind.MONTH_CLOSING, period_key="2026-10")
        november = Invoice.objects.get(hub=hub, kind=InvoiceKind.MONTH_CLOSING, period_key="2026-11")
        assert D(november.summary["starting_balance"]) == D(october.summary["ending_balance"]) + october.net_amount
    assert ledger_audit() == []
