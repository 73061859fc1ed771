"""Meta's volume tier file: per market and category, the tier bounds (the month's charged messages, as Meta writes
them in its pricing analytics: `0:750000`, `750000:2000000`, `2000000:` or `2000000:MAX` for the open last tier)
and each tier's rate.

    Cost per message in EUR
    Market,Category,Tier,Rate
    India,Utility,0:750000,0.0013
    India,Utility,750000:,0.0009

Tiers of one market and category must start at 0 and follow each other without gap or overlap; the last is open.
All lines or none, problems by line; loaded tiers never change (load a new effective date instead).
"""

import csv
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from billing.models import TIERED_CATEGORIES, RateCardTier
from billing.usage.meta_rate_card import CATEGORY_BY_NAME, MARKET_BY_NAME, PREAMBLE, words
from billing.usage.rate_card import MAX_RATE, RateCardError, RateCardLoadResult

HEADER = ["market", "category", "tier", "rate"]
BOUNDS = re.compile(r"(\d+):(\d*|MAX)", re.IGNORECASE)  # `MAX`: the open last tier, as pricing analytics writes it


def meta_volume_tiers_parse(lines: Iterable[str], *, effective_date: dt.date) -> list[tuple[int, RateCardTier]]:
    reader = csv.reader(lines)
    currency, header, problems, tiers = None, False, [], []
    bounds: dict[tuple[str, str], list[tuple[int, int, int | None]]] = defaultdict(list)
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if not header:
            found = PREAMBLE.search(" ".join(cells))
            if found:
                currency = found.group(1).upper()
            elif [words(c) for c in cells] == HEADER:
                header = True
            else:
                problems.append((line, f"expected the preamble or the header {','.join(h.title() for h in HEADER)}"))
            continue
        parsed = _tier(cells, line, currency, effective_date)
        if isinstance(parsed, str):
            problems.append((line, parsed))
            continue
        tier, upper = parsed
        bounds[(tier.market, tier.category)].append((tier.volume_from, line, upper))
        tiers.append((line, tier))
    if currency is None:
        problems.append((1, "no preamble line 'Cost per message in <currency>'"))
    elif currency not in settings.CURRENCIES:
        problems.append((1, f"currency {currency!r} is not one of {', '.join(settings.CURRENCIES)}"))
    problems.extend(_gaps(bounds))
    if not tiers and not problems:
        problems.append((reader.line_num, "the file holds no tiers"))
    if problems:
        raise RateCardError(sorted(problems))
    return tiers


def _tier(cells, line, currency, effective_date) -> tuple[RateCardTier, int | None] | str:
    if len(cells) != len(HEADER):
        return f"expected {len(HEADER)} columns, found {len(cells)}"
    market = MARKET_BY_NAME.get(words(cells[0]))
    if market is None:
        return f"market {cells[0].strip()!r} is not one of Meta's pricing markets"
    category = CATEGORY_BY_NAME.get(words(cells[1]))
    if category not in TIERED_CATEGORIES:
        return f"category {cells[1].strip()!r} has no volume tiers (only Utility and Authentication)"
    found = BOUNDS.fullmatch(cells[2].strip().replace(",", ""))
    if not found or (found.group(2).isdigit() and int(found.group(2)) <= int(found.group(1))):
        return f"tier {cells[2].strip()!r} is not 'from:to' (to above from) or 'from:' / 'from:MAX' for the last tier"
    try:
        rate = Decimal(cells[3].strip())
    except InvalidOperation:
        return f"rate {cells[3].strip()!r} is not a number"
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        return f"rate {cells[3].strip()!r} must be between 0 and {MAX_RATE}"
    if rate.as_tuple().exponent < -6:
        return f"rate {cells[3].strip()!r} has more than 6 decimal places"
    upper = int(found.group(2)) if found.group(2).isdigit() else None
    tier = RateCardTier(
        effective_date=effective_date,
        currency=currency or "",
        market=market,
        category=category,
        volume_from=int(found.group(1)),
        rate=rate,
    )
    return tier, upper


def _gaps(bounds: dict) -> list[tuple[int, str]]:
    problems = []
    for (market, category), tiers in bounds.items():
        tiers.sort()
        expected = 0
        for index, (start, line, upper) in enumerate(tiers):
            if start != expected:
                problems.append((line, f"{market} {category}: tier starts at {start}, expected {expected}"))
            if upper is None and index != len(tiers) - 1:
                problems.append((line, f"{market} {category}: only the last tier may be open ('{start}:')"))
            expected = upper if upper is not None else start
        if tiers and tiers[-1][2] is not None:
            problems.append((tiers[-1][1], f"{market} {category}: the last tier must be open ('{tiers[-1][0]}:')"))
    return problems


def meta_volume_tiers_load(*, lines: Iterable[str], effective_date: dt.date, source: str = "") -> RateCardLoadResult:
    """Load every tier or none; reloading the same tiers changes nothing, a changed rate is refused."""
    tiers = meta_volume_tiers_parse(lines, effective_date=effective_date)
    with transaction.atomic():
        existing = {
            (t.currency, t.market, t.category, t.volume_from): t.rate
            for t in RateCardTier.objects.select_for_update().filter(effective_date=effective_date)
        }
        problems, new = [], []
        for line, tier in tiers:
            key = (tier.currency, tier.market, tier.category, tier.volume_from)
            if key not in existing:
                tier.source = source[:200]
                new.append(tier)
            elif existing[key] != tier.rate:
                problems.append((line, f"{' '.join(map(str, key))} is already loaded at {existing[key]} for "
                                       f"{effective_date}; load a new effective date"))  # fmt: skip
        if problems:
            raise RateCardError(problems)
        RateCardTier.objects.bulk_create(new)
    return RateCardLoadResult(created=len(new), unchanged=len(tiers) - len(new))
