"""Reconciliation report: Meta's cost against our rating per WABA × day, with the adjustment posted, by month; under
each WABA day its breakdown by category × country (Meta's pricing analytics beside the messages rated here)."""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum

from billing.models import Category, MessageUsage, MetaPricingPoint, UsageReconciliation
from billing.money import micros
from core import clock
from hub.models import Hub

CATEGORY_LABELS = dict(Category.choices)  # lazy labels: shown in the language of the page
DAY_REACH = dt.timedelta(days=1)  # a day in any WABA's time zone lies within a day of the same UTC date


@dataclass
class BreakdownRow:
    """One category × country of a WABA day: Meta's messages and cost (its analytics; None when Meta reported
    none) beside the messages rated here and their cost."""

    category: str
    country: str
    meta_volume: int | None = None
    meta_cost: Decimal | None = None
    messages: int = 0
    rated_cost: Decimal = Decimal("0.000000")

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    @property
    def difference(self) -> Decimal:
        """Meta's cost less ours (what reconciliation moves towards Meta's figure); 0 where Meta reported none."""
        return (self.meta_cost - self.rated_cost) if self.meta_cost is not None else Decimal(0)


@dataclass
class ReconciledDay:
    reconciliation: UsageReconciliation
    breakdown: list[BreakdownRow] = field(default_factory=list)


def reconciliation_month(raw: str | None, *, default: dt.date) -> dt.date:
    """The month a `YYYY-MM` filter names; the default for a missing or malformed one."""
    try:
        return dt.date.fromisoformat(f"{raw}-01") if raw else default
    except ValueError:
        return default


def month_reconciliations(*, month: dt.date) -> QuerySet[UsageReconciliation]:
    """Every WABA day of the month reconciled with Meta, newest day first (staff report)."""
    return (
        UsageReconciliation.objects.filter(day__gte=month, day__lt=clock.next_month(month))
        .select_related("waba__hub")
        .order_by("-day", "waba__meta_waba_id")
    )


def hub_reconciliations(*, hub: Hub, month: dt.date) -> list[ReconciledDay]:
    """The hub's WABA days of the month reconciled with Meta, with their breakdown (the client's Funds page)."""
    rows = UsageReconciliation.objects.filter(waba__hub=hub, day__gte=month, day__lt=clock.next_month(month))
    return reconciled_days(list(rows.select_related("waba").order_by("day", "waba__meta_waba_id")))


def reconciled_days(reconciliations: Sequence[UsageReconciliation]) -> list[ReconciledDay]:
    """Each reconciliation with its breakdown by category × country: two queries whatever the number of days."""
    if not reconciliations:
        return []
    days = {r.day for r in reconciliations}
    wabas = {r.waba_id for r in reconciliations}
    rows: dict[tuple[int, dt.date], dict[tuple[str, str], BreakdownRow]] = defaultdict(dict)

    def row(waba_id: int, day: dt.date, category: str, country: str) -> BreakdownRow:
        return rows[(waba_id, day)].setdefault((category, country), BreakdownRow(category, country))

    meta = (
        MetaPricingPoint.objects.filter(waba_id__in=wabas, day__in=days)
        .values("waba_id", "day", "category", "country")
        .annotate(volume=Sum("volume"), cost=Sum("cost", output_field=DecimalField(max_digits=18, decimal_places=6)))
        .order_by()
    )
    for point in meta:
        found = row(point["waba_id"], point["day"], point["category"], point["country"])
        found.meta_volume, found.meta_cost = point["volume"], micros(Decimal(point["cost"]))
    for used in _rated(wabas, days):
        found = row(used["waba_id"], used["rate_date"], used["category"], used["recipient_country"])
        found.messages, found.rated_cost = used["messages"], micros(Decimal(used["cost"] or 0))
    return [
        ReconciledDay(r, sorted(rows[(r.waba_id, r.day)].values(), key=lambda b: (b.category, b.country)))
        for r in reconciliations
    ]


def _rated(wabas: set[int], days: set[dt.date]):
    """Messages rated here and the cost of the billable ones, per WABA × day (its time zone) × category × country;
    bounded by sent_at so the (waba, sent_at) index serves it."""
    first = dt.datetime.combine(min(days), dt.time.min, tzinfo=dt.UTC) - DAY_REACH
    last = dt.datetime.combine(max(days), dt.time.min, tzinfo=dt.UTC) + 2 * DAY_REACH
    return (
        MessageUsage.objects.filter(waba_id__in=wabas, sent_at__gte=first, sent_at__lt=last, rate_date__in=days)
        .values("waba_id", "rate_date", "category", "recipient_country")
        .annotate(
            messages=Count("id"),
            cost=Sum("cost", filter=Q(billable=True), output_field=DecimalField(max_digits=18, decimal_places=6)),
        )
        .order_by()
    )
