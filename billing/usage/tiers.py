"""Meta's volume tiers: graduated rates by the month's count of charged messages per client × market × category.

Called inside the ingesting batch's transaction: the batch's counter rows are created if missing and locked
(primary-key order), the messages another batch already recorded are left out, each new message takes the next
position in its month and is priced by the tier that position falls in, and the counters move on. Concurrent
batches of one client × market × category therefore take positions one after the other, so a tier boundary is
crossed exactly once whatever the interleaving. Five queries, whatever the batch's size.
"""

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.models import TIERED_CATEGORIES, MessageUsage, RateCardTier, UsageVolumeCounter
from billing.sql import one_of


@dataclass(frozen=True, slots=True)
class TierItem:
    """A charged message of a tiered category, as tier pricing needs it."""

    message_id: str
    client_id: int
    currency: str
    market: str
    category: str
    rate_date: dt.date  # the day in the WABA's time zone: its month is the counting month
    sent_at: dt.datetime


class _Tiers:
    """For one key, each effective date's tier starts and rates, in order."""

    def __init__(self):
        self.by_date: dict[dt.date, list[tuple[int, Decimal]]] = defaultdict(list)

    def rate_at(self, day: dt.date, position: int) -> Decimal | None:
        dates = sorted(d for d in self.by_date if d <= day)
        if not dates:
            return None
        tiers = sorted(self.by_date[dates[-1]])
        starts = [start for start, _ in tiers]
        index = bisect.bisect_left(starts, position) - 1  # the tier whose start is below this position
        return tiers[index][1] if index >= 0 else None


def volume_rates(items: Sequence[TierItem]) -> dict[int, Decimal]:
    """Index of each item -> its tier rate; items without tiers on their day keep their flat rate (absent)."""
    items_tiered = [(i, item) for i, item in enumerate(items) if item.category in TIERED_CATEGORIES]
    if not items_tiered:
        return {}
    tiers = _tiers_load(items_tiered)
    counters = _counters_lock(items_tiered)
    recorded = set(
        MessageUsage.objects.filter(one_of("message_id", {item.message_id for _, item in items_tiered})).values_list(
            "message_id", flat=True
        )
    )
    rates: dict[int, Decimal] = {}
    for index, item in sorted(items_tiered, key=lambda pair: (pair[1].sent_at, pair[1].message_id)):
        if item.message_id in recorded:
            continue  # another batch recorded it: it is a duplicate here and takes no position
        counter = counters[(item.client_id, item.market, item.category, item.rate_date.replace(day=1))]
        counter.count += 1
        key = (item.currency, item.market, item.category)
        rate = tiers[key].rate_at(item.rate_date, counter.count) if key in tiers else None
        if rate is not None:
            rates[index] = rate
    UsageVolumeCounter.objects.bulk_update(counters.values(), ["count"])
    return rates


def _tiers_load(items: list[tuple[int, TierItem]]) -> dict[tuple[str, str, str], _Tiers]:
    rows = RateCardTier.objects.filter(
        one_of("currency", {i.currency for _, i in items}),
        one_of("market", {i.market for _, i in items}),
        effective_date__lte=max(i.rate_date for _, i in items),
    ).values_list("currency", "market", "category", "effective_date", "volume_from", "rate")
    tiers: dict[tuple[str, str, str], _Tiers] = defaultdict(_Tiers)
    for currency, market, category, effective_date, volume_from, rate in rows:
        tiers[(currency, market, category)].by_date[effective_date].append((volume_from, rate))
    return dict(tiers)


def _counters_lock(items: list[tuple[int, TierItem]]) -> dict[tuple, UsageVolumeCounter]:
    keys = sorted({(i.client_id, i.market, i.category, i.rate_date.replace(day=1)) for _, i in items})
    UsageVolumeCounter.objects.bulk_create(
        [UsageVolumeCounter(client_id=c, market=m, category=k, month=month) for c, m, k, month in keys],
        ignore_conflicts=True,
    )
    rows = (
        UsageVolumeCounter.objects.select_for_update()
        .filter(
            one_of("client__id", {k[0] for k in keys}),
            one_of("market", {k[1] for k in keys}),
            one_of("month", {k[3] for k in keys}),
        )
        .order_by("id")
    )
    wanted = set(keys)
    return {key: row for row in rows if (key := (row.client_id, row.market, row.category, row.month)) in wanted}
