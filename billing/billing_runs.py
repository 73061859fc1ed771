"""The record of each billing day's run (BillingRun), written by small calls at the run's entry and exit, so the
staff dashboard can show the last billing day: what was expected, issued and delivered, and how long it took.

Expected invoices, by kind, are counted when the run starts, with one cheap query per job due, by the rules the
jobs apply: a License Invoice for each hub with a live number onboarded by then; a Month Closing Invoice for each
hub with billable usage in the previous month; a Partner Plan invoice for each partner; a monthly Prepayment
Invoice for each hub with a monthly prepayment amount. New-numbers invoices depend on what was onboarded during the
day and are not forecast (the dashboard shows what was issued)."""

import datetime as dt

from django.db.models import Exists, F, OuterRef

from billing.models import BillingRun, BillingRunSource, CreditAccount, InvoiceKind, MessageUsage
from core import clock
from hub.models import Hub, PhoneNumber
from partners.models import Partner

LIVE = ("active", "pending_deletion")


def invoices_expected(*, day: dt.date, jobs: list[str], at: dt.datetime) -> dict[str, int]:
    """Invoice kind → how many the jobs due on `day` should issue (see the module's docstring)."""
    expected: dict[str, int] = {}
    month = day.replace(day=1)
    if "licenses" in jobs:
        numbers = PhoneNumber.objects.filter(status__in=LIVE, onboarded_at__lte=at)
        expected[InvoiceKind.LICENSE] = numbers.values("waba__hub_id").distinct().count()
    if "month_closing" in jobs:
        previous = clock.month_start(month - dt.timedelta(days=1))
        # An index probe per hub that stops at its first billable message, as the month close does.
        usage = MessageUsage.objects.filter(hub=OuterRef("pk"), period=previous, billable=True)
        expected[InvoiceKind.MONTH_CLOSING] = Hub.objects.filter(Exists(usage)).count()
    if "partner_plans" in jobs:
        expected[InvoiceKind.PARTNER_PLAN] = Partner.objects.count()
    if "monthly_prepayments" in jobs:
        expected[InvoiceKind.PREPAYMENT] = CreditAccount.objects.filter(monthly_prepayment__gt=0).count()
    return {str(kind): count for kind, count in expected.items()}


def billing_run_begin(*, day: dt.date, jobs: list[str], source: str, at: dt.datetime) -> BillingRun:
    """The run's entry: its start, the jobs due and the invoices expected."""
    return BillingRun.objects.create(
        day=day, source=source, jobs=jobs, expected=invoices_expected(day=day, jobs=jobs, at=at),
        started_at=clock.now(),
    )  # fmt: skip


def billing_run_finish(*, run: BillingRun, issued: int, chunks_total: int | None = None) -> None:
    """The run's exit. With `chunks_total` (beat's fan-out) the run is finished once that many chunks are done;
    chunks already done before this call count."""
    BillingRun.objects.filter(pk=run.pk).update(
        issued=F("issued") + issued, chunks_total=chunks_total, finished_at=clock.now()
    )


def billing_run_chunk_done(*, day: dt.date, issued: int) -> None:
    """A chunk task of beat's fan-out has finished: it counts for the latest run of its day."""
    latest = BillingRun.objects.filter(day=day, source=BillingRunSource.BEAT).order_by("-started_at", "-id")[:1]
    BillingRun.objects.filter(pk__in=latest.values("pk")).update(
        chunks_done=F("chunks_done") + 1, issued=F("issued") + issued, finished_at=clock.now()
    )
