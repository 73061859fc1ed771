"""Meta's volume tiers: graduated rates by the month's count of charged messages per client × market × category.

Called inside the ingesting batch's transaction, in two steps. Before the batch's usage rows are written,
`volume_rates` prices the messages whose counter has tiers in force that month: those counter rows are created if
missing and locked (one statement, in key order), the messages another batch already recorded are left out, and
each new message takes the next position in its month and is priced by the tier that position falls in. After the
rows are written, `volume_count` moves every counter of the batch on by the messages actually written (one
statement). A counter without tiers in force prices nothing, so it is locked only then, at the end of the
transaction like the credit accounts: batches of the same clients do not wait on each other while they write.
Concurrent batches of a tiered counter take positions one after the other, so a tier boundary is crossed exactly
once whatever the interleaving. At most three queries (the tiers; the tiered counters' lock and the recorded ids)
before writing, one after.
"""

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from billing.models import TIERED_CATEGORIES, MessageUsage, RateCardTier, UsageVolumeCounter
from billing.sql import array_literal, one_of
from core import clock


@dataclass(frozen=True, slots=True)
class TierItem:
    """A charged message of a tiered category, as tier pricing needs it (any object with these attributes and
    `counter_key` will do: ingestion passes its own rated messages)."""

    message_id: str
    client_id: int
    currency: str
    market: str
    category: str
    rate_date: dt.date  # the day in the WABA's time zone: its month is the counting month
    sent_at: dt.datetime

    @property
    def counter_key(self) -> tuple[int, str, str, dt.date]:
        return (self.client_id, self.market, self.category, self.rate_date.replace(day=1))


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

    def in_force_before(self, day: dt.date) -> bool:
        return any(d < day for d in self.by_date)


def tiered(items: Iterable[TierItem]) -> list[tuple[int, TierItem]]:
    """The items of a tiered category, with their index."""
    return [(i, item) for i, item in enumerate(items) if item.category in TIERED_CATEGORIES]


def volume_rates(items: Sequence[TierItem]) -> dict[int, Decimal]:
    """Index of each item -> its tier rate; items without tiers on their day keep their flat rate (absent).
    Locks the counters that have tiers in force in their month (for the rest of the transaction)."""
    items_tiered = tiered(items)
    if not items_tiered:
        return {}
    tiers = _tiers_load(items_tiered)
    # A counter is priced (and locked now) when its key has tiers from before the end of its month, whatever the
    # batch: every batch decides the same for the same counter, so they lock it in the same order.
    priced = [
        (index, item)
        for index, item in items_tiered
        if (tier := tiers.get((item.currency, item.market, item.category))) is not None
        and tier.in_force_before(clock.next_month(item.rate_date))
    ]
    if not priced:
        return {}
    counts = _counters_lock({item.counter_key for _, item in priced})
    recorded = set(
        MessageUsage.objects.filter(one_of("message_id", {item.message_id for _, item in priced}))
        .order_by()
        .values_list("message_id", flat=True)
    )
    rates: dict[int, Decimal] = {}
    for index, item in sorted(priced, key=lambda pair: (pair[1].sent_at, pair[1].message_id)):
        if item.message_id in recorded:
            continue  # another batch recorded it: it is a duplicate here and takes no position
        key = item.counter_key
        counts[key] += 1
        rate = tiers[(item.currency, item.market, item.category)].rate_at(item.rate_date, counts[key])
        if rate is not None:
            rates[index] = rate
    return rates


def volume_count(items: Iterable[TierItem]) -> None:
    """Move the counters on by these items (the charged messages the batch wrote): one statement."""
    added: dict[tuple, int] = defaultdict(int)
    for _, item in tiered(items):
        added[item.counter_key] += 1
    if not added:
        return
    keys = sorted(added)
    if connection.vendor != "postgresql":
        _counters_add_portable(keys, added)
        return
    table = UsageVolumeCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS v (client_id, market, category, month, count) "  # noqa: S608 -- model's table
            "SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::date[], %s::bigint[]) "
            "ON CONFLICT (client_id, market, category, month) DO UPDATE SET count = v.count + EXCLUDED.count",
            [*(array_literal(column) for column in zip(*keys, strict=True)), array_literal(added[key] for key in keys)],
        )


def _tiers_load(items: list[tuple[int, TierItem]]) -> dict[tuple[str, str, str], _Tiers]:
    rows = (
        RateCardTier.objects.filter(
            one_of("currency", {i.currency for _, i in items}),
            one_of("market", {i.market for _, i in items}),
            effective_date__lt=clock.next_month(max(i.rate_date for _, i in items)),
        )
        .order_by()
        .values_list("currency", "market", "category", "effective_date", "volume_from", "rate")
    )
    tiers: dict[tuple[str, str, str], _Tiers] = defaultdict(_Tiers)
    for currency, market, category, effective_date, volume_from, rate in rows:
        tiers[(currency, market, category)].by_date[effective_date].append((volume_from, rate))
    return dict(tiers)


def _counters_lock(keys: set[tuple]) -> dict[tuple, int]:
    """Create the counters if missing and lock them, in key order; their counts. One statement on PostgreSQL."""
    ordered = sorted(keys)
    if connection.vendor != "postgresql":
        return {key: row.count for key, row in _counters_portable(ordered).items()}
    table = UsageVolumeCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS v (client_id, market, category, month, count) "  # noqa: S608 -- model's table
            "SELECT *, 0 FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::date[]) "
            "ON CONFLICT (client_id, market, category, month) DO UPDATE SET count = v.count "
            "RETURNING client_id, market, category, month, count",
            [array_literal(column) for column in zip(*ordered, strict=True)],
        )
        return {tuple(row[:4]): row[4] for row in cursor.fetchall()}


def _counters_portable(keys: list[tuple]) -> dict[tuple, UsageVolumeCounter]:
    """Elsewhere than PostgreSQL (one writer at a time): the counter rows, created if missing."""
    UsageVolumeCounter.objects.bulk_create(
        [UsageVolumeCounter(client_id=c, market=m, category=k, month=month) for c, m, k, month in keys],
        ignore_conflicts=True,
    )
    rows = UsageVolumeCounter.objects.filter(
        one_of("client__id", {k[0] for k in keys}), one_of("market", {k[1] for k in keys}),
        one_of("month", {k[3] for k in keys}),
    )  # fmt: skip
    wanted = set(keys)
    return {key: row for row in rows if (key := (row.client_id, row.market, row.category, row.month)) in wanted}


def _counters_add_portable(keys: list[tuple], added: dict[tuple, int]) -> None:
    counters = _counters_portable(keys)
    for key, counter in counters.items():
        counter.count += added[key]
    UsageVolumeCounter.objects.bulk_update(counters.values(), ["count"])
