"""Read-only selectors of the staff billing dashboard (the admin index page). Each figure comes with the admin
changelist query that lists the rows behind it, so a link shows exactly what was counted.

The page costs the same queries whatever the data size: every figure is one aggregate query grouped by currency
or kind, and the lists are capped (LIST_LIMIT rows, related rows joined)."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, DecimalField, Q, Sum
from django.urls import reverse
from djmoney.money import Money

from billing.models import (
    AttemptStatus,
    BillingRun,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LedgerEntry,
    PaymentAttempt,
    Restriction,
    StaffJob,
)
from core import clock

LIST_LIMIT = 10
OPEN_STATUSES = (InvoiceStatus.PENDING, InvoiceStatus.UNPAID)
RECURRING_KINDS = (InvoiceKind.LICENSE, InvoiceKind.PARTNER_PLAN)
# An issued invoice counts as delivered once its email with the PDF went out.
DELIVERED_FIELD = "delivered_at"
SUM = {"output_field": DecimalField(max_digits=18, decimal_places=2)}
# Receivables by age: days since the due date (invoices are due on receipt: the issue day). (label, min, max).
AGE_BUCKETS = (("0–7", 0, 7), ("8–30", 8, 30), (">30", 31, None))


def changelist(model, **lookups) -> str:
    query = {key: ",".join(value) if isinstance(value, list | tuple) else str(value) for key, value in lookups.items()}
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


@dataclass(frozen=True)
class Figure:
    """An amount or a count, and the changelist of what it counts."""

    value: Money | int
    url: str
    count: int | None = None


@dataclass
class Receivables:
    buckets: list[str]
    rows: dict[str, list[Figure]]  # currency -> one Figure per bucket, then the total


@dataclass
class BillingDayKind:
    kind: str
    label: str
    expected: int | None
    issued: Figure
    delivered: Figure


@dataclass
class BillingDay:
    run: BillingRun
    kinds: list[BillingDayKind]


@dataclass
class Dashboard:
    today: dt.date
    receivables: Receivables
    blocked: list[Figure]  # one per reason
    blocked_reasons: list[str]
    blocked_latest: list[Restriction]
    payments_failed: list[Figure]  # one per currency
    payments_failed_latest: list[PaymentAttempt]
    billing_day: BillingDay | None
    recurring: dict[str, list[Figure]] = field(default_factory=dict)  # kind label -> one Figure per currency
    usage_revenue: list[Figure] = field(default_factory=list)
    jobs: list[StaffJob] = field(default_factory=list)


def _age_filter(today: dt.date, low: int, high: int | None) -> Q:
    condition = Q(due_date__lte=today - dt.timedelta(days=low))
    return condition & Q(due_date__gte=today - dt.timedelta(days=high)) if high is not None else condition


def _age_lookups(today: dt.date, low: int, high: int | None) -> dict:
    lookups = {"due_date__lte": today - dt.timedelta(days=low)}
    if high is not None:
        lookups["due_date__gte"] = today - dt.timedelta(days=high)
    return lookups


def receivables_by_age(*, today: dt.date) -> Receivables:
    """Open (pending or unpaid) invoices' totals by currency and age. One query."""
    buckets = {f"sum{i}": Sum("total", filter=_age_filter(today, low, high), **SUM)
               for i, (_label, low, high) in enumerate(AGE_BUCKETS)}  # fmt: skip
    counts = {f"n{i}": Count("id", filter=_age_filter(today, low, high))
              for i, (_label, low, high) in enumerate(AGE_BUCKETS)}  # fmt: skip
    open_invoices = Invoice.objects.filter(status__in=OPEN_STATUSES)
    sums = open_invoices.order_by().values("currency").annotate(**buckets, **counts, all=Sum("total", **SUM),
                                                                 n=Count("id"))  # fmt: skip
    rows = {}
    for row in sorted(sums, key=lambda r: r["currency"]):
        currency, base = row["currency"], {"status__in": OPEN_STATUSES, "currency__exact": row["currency"]}
        rows[currency] = [
            Figure(Money(row[f"sum{i}"] or Decimal("0.00"), currency),
                   changelist(Invoice, **base, **_age_lookups(today, low, high)), row[f"n{i}"])
            for i, (_label, low, high) in enumerate(AGE_BUCKETS)
        ] + [Figure(Money(row["all"], currency), changelist(Invoice, **base), row["n"])]  # fmt: skip
    return Receivables(buckets=[label for label, _low, _high in AGE_BUCKETS], rows=rows)


def hubs_blocked() -> tuple[list[Figure], list[str], list[Restriction]]:
    """Active restrictions by reason (one query) and the latest ones (one query)."""
    active = Restriction.objects.filter(lifted_at__isnull=True)
    by_reason = active.order_by("reason").values("reason").annotate(n=Count("id"))
    labels = dict(Restriction._meta.get_field("reason").choices)
    figures = [
        Figure(row["n"], changelist(Restriction, lifted_at__isnull="True", reason__exact=row["reason"]))
        for row in by_reason
    ]
    reasons = [labels.get(row["reason"], row["reason"]) for row in by_reason]
    latest = list(active.select_related("hub__client", "partner").order_by("-started_at", "-id")[:LIST_LIMIT])
    return figures, reasons, latest


def payments_failed(*, since: dt.datetime) -> tuple[list[Figure], list[PaymentAttempt]]:
    """Attempts that failed since `since`, by currency (one query), and the latest (one query)."""
    failed = PaymentAttempt.objects.filter(status=AttemptStatus.FAILED, created_at__gte=since)
    sums = failed.order_by("currency").values("currency").annotate(n=Count("id"), amount=Sum("amount", **SUM))
    url = changelist(PaymentAttempt, status__exact=AttemptStatus.FAILED, created_at__gte=since.isoformat())
    figures = [Figure(Money(row["amount"], row["currency"]), f"{url}&currency__exact={row['currency']}", row["n"])
               for row in sums]  # fmt: skip
    return figures, list(failed.select_related("invoice").order_by("-created_at", "-id")[:LIST_LIMIT])


def billing_day_last() -> BillingDay | None:
    """The latest billing run and the invoices issued on its day, by kind, with how many were delivered. Two
    queries."""
    run = BillingRun.objects.order_by("-started_at", "-id").first()
    if run is None:
        return None
    start = dt.datetime.combine(run.day, dt.time.min, tzinfo=dt.UTC)
    window = {"issued_at__gte": start, "issued_at__lt": start + dt.timedelta(days=1)}
    counts = {
        row["kind"]: row
        for row in Invoice.objects.filter(**window).order_by().values("kind")
        .annotate(issued=Count("id"), delivered=Count("id", filter=Q(**{f"{DELIVERED_FIELD}__isnull": False})))
    }  # fmt: skip
    lookups = {key: value.isoformat() for key, value in window.items()}
    kinds = []
    for kind in InvoiceKind:
        expected = run.expected.get(kind.value)
        row = counts.get(kind.value, {"issued": 0, "delivered": 0})
        if expected is None and not row["issued"]:
            continue
        base = {"kind__exact": kind.value, **lookups}
        kinds.append(BillingDayKind(
            kind=kind.value, label=kind.label, expected=expected,
            issued=Figure(row["issued"], changelist(Invoice, **base)),
            delivered=Figure(row["delivered"], changelist(Invoice, **base, **{f"{DELIVERED_FIELD}__isnull": "False"})),
        ))  # fmt: skip
    return BillingDay(run=run, kinds=kinds)


def recurring_revenue(*, month: dt.date) -> dict[str, list[Figure]]:
    """Monthly recurring revenue: the net of this month's License and Partner Plan invoices (voids excluded), by
    kind and currency. One query."""
    issued = Invoice.objects.filter(kind__in=RECURRING_KINDS, period_start=month).exclude(number=None)
    sums = (issued.exclude(status=InvoiceStatus.VOID).order_by("kind", "currency").values("kind", "currency")
            .annotate(net=Sum("net_amount", **SUM), n=Count("id")))  # fmt: skip
    statuses = [InvoiceStatus.PENDING, InvoiceStatus.UNPAID, InvoiceStatus.PAID]
    figures: dict[str, list[Figure]] = defaultdict(list)
    for row in sums:
        url = changelist(Invoice, kind__exact=row["kind"], currency__exact=row["currency"], period_start=month,
                         status__in=statuses)  # fmt: skip
        figures[InvoiceKind(row["kind"]).label].append(Figure(Money(row["net"], row["currency"]), url, row["n"]))
    return dict(figures)


def usage_revenue(*, month: dt.date) -> list[Figure]:
    """This month's usage debited from the credit balances (USAGE entries of the period), by currency. One query."""
    usage = LedgerEntry.objects.filter(kind=EntryKind.USAGE, period=month)
    sums = usage.order_by("currency").values("currency").annotate(amount=Sum("amount", **SUM), n=Count("id"))
    return [
        Figure(Money(-row["amount"], row["currency"]),
               changelist(LedgerEntry, kind__exact=EntryKind.USAGE, period=month, currency__exact=row["currency"]),
               row["n"])
        for row in sums
    ]  # fmt: skip


def billing_dashboard() -> Dashboard:
    now = clock.now()
    today, month = now.date(), clock.month_start(now)
    blocked, reasons, blocked_latest = hubs_blocked()
    failed, failed_latest = payments_failed(since=now - dt.timedelta(days=7))
    return Dashboard(
        today=today, receivables=receivables_by_age(today=today), blocked=blocked, blocked_reasons=reasons,
        blocked_latest=blocked_latest, payments_failed=failed, payments_failed_latest=failed_latest,
        billing_day=billing_day_last(), recurring=recurring_revenue(month=month),
        usage_revenue=usage_revenue(month=month),
        jobs=list(StaffJob.objects.select_related("created_by").order_by("-created_at", "-id")[:5]),
    )  # fmt: skip
