"""Monthly free allowances per phone number and category, as the rate card sets them (off unless it does).

Inside the ingesting batch's transaction, like volume tiers: the batch's counter rows are created if missing and
locked (primary-key order), messages another batch already recorded are left out, and each number's first messages
of the month up to the allowance cost nothing. Those are not charged, so they take no volume-tier position.
One query when no allowance applies, five when one does.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from billing.models import MessageUsage, NumberAllowanceCounter, RateCardAllowance
from billing.sql import one_of


@dataclass(frozen=True, slots=True)
class AllowanceItem:
    """A message as the allowances read it (any object with these attributes will do: ingestion passes its own
    rated messages)."""

    message_id: str
    number_id: int
    category: str
    rate_date: dt.date
    sent_at: dt.datetime


def allowance_free(items: Sequence[AllowanceItem]) -> set[int]:
    """Indexes of the items that the allowance makes free."""
    if not items:
        return set()
    allowances = _allowances(items)
    covered = [(i, item) for i, item in enumerate(items) if _allowed(allowances, item)]
    if not covered:
        return set()
    counters = _counters_lock(covered)
    recorded = set(
        MessageUsage.objects.filter(one_of("message_id", {item.message_id for _, item in covered}))
        .order_by()
        .values_list("message_id", flat=True)
    )
    free = set()
    for index, item in sorted(covered, key=lambda pair: (pair[1].sent_at, pair[1].message_id)):
        counter = counters[(item.number_id, item.category, item.rate_date.replace(day=1))]
        if item.message_id not in recorded and counter.used < _allowed(allowances, item):
            counter.used += 1
            free.add(index)
    NumberAllowanceCounter.objects.bulk_update(counters.values(), ["used"])
    return free


def _allowances(items: Sequence[AllowanceItem]) -> dict[str, list[tuple[dt.date, int]]]:
    rows = (
        RateCardAllowance.objects.filter(
            one_of("category", {i.category for i in items}), effective_date__lte=max(i.rate_date for i in items)
        )
        .order_by()
        .values_list("category", "effective_date", "free_per_month")
    )
    found: dict[str, list[tuple[dt.date, int]]] = {}
    for category, effective_date, free in rows:
        found.setdefault(category, []).append((effective_date, free))
    return {category: sorted(dated) for category, dated in found.items()}


def _allowed(allowances: dict, item: AllowanceItem) -> int:
    """The allowance in force on the item's day (0: none)."""
    dated = [free for day, free in allowances.get(item.category, []) if day <= item.rate_date]
    return dated[-1] if dated else 0


def _counters_lock(covered: list[tuple[int, AllowanceItem]]) -> dict[tuple, NumberAllowanceCounter]:
    keys = sorted({(i.number_id, i.category, i.rate_date.replace(day=1)) for _, i in covered})
    NumberAllowanceCounter.objects.bulk_create(
        [NumberAllowanceCounter(phone_number_id=n, category=c, month=m) for n, c, m in keys], ignore_conflicts=True
    )
    rows = (
        NumberAllowanceCounter.objects.select_for_update()
        .filter(one_of("phone_number__id", {k[0] for k in keys}), one_of("month", {k[2] for k in keys}))
        .order_by("id")
    )
    wanted = set(keys)
    return {key: row for row in rows if (key := (row.phone_number_id, row.category, row.month)) in wanted}
