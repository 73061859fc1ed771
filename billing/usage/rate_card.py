"""Loading Meta's rate card from CSV: all lines valid, or nothing loaded."""

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from billing.markets import MARKETS
from billing.models import Category, RateCardRate

COLUMNS = ["effective_date", "currency", "market", "category", "rate"]
MAX_RATE = Decimal("1000")


class RateCardError(Exception):
    """The file was rejected; `problems` lists (line number, reason). Nothing was loaded."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {reason}" for line, reason in problems[:20]))


@dataclass(frozen=True)
class RateCardLoadResult:
    created: int
    unchanged: int


def _parse_row(row: dict) -> RateCardRate | str:
    try:
        effective_date = dt.date.fromisoformat(row["effective_date"].strip())
    except ValueError:
        return f"effective_date {row['effective_date']!r} is not a date (YYYY-MM-DD)"
    currency = row["currency"].strip()
    if currency not in settings.CURRENCIES:
        return f"currency {currency!r} is not one of {', '.join(settings.CURRENCIES)}"
    market = row["market"].strip()
    if market not in MARKETS:
        return f"market {market!r} is not a country with its own market nor one of Meta's regional markets"
    category = row["category"].strip()
    if category not in Category.values:
        return f"category {category!r} is not one of {', '.join(Category.values)}"
    try:
        rate = Decimal(row["rate"].strip())
    except InvalidOperation:
        return f"rate {row['rate']!r} is not a number"
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        return f"rate {row['rate']!r} must be between 0 and {MAX_RATE}"
    if rate.as_tuple().exponent < -6:
        return f"rate {row['rate']!r} has more than 6 decimal places"
    return RateCardRate(effective_date=effective_date, currency=currency, market=market, category=category, rate=rate)


def rate_card_parse(lines: Iterable[str]) -> list[tuple[int, RateCardRate]]:
    """(file line number, rate) for every line, or RateCardError listing every bad line."""
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != COLUMNS:
        raise RateCardError([(1, f"header must be exactly: {','.join(COLUMNS)}")])
    rates, problems, seen = [], [], {}
    for row in reader:
        line = reader.line_num
        if None in row or any(value is None for value in row.values()):
            problems.append((line, f"expected {len(COLUMNS)} columns"))
            continue
        parsed = _parse_row(row)
        if isinstance(parsed, str):
            problems.append((line, parsed))
            continue
        key = (parsed.effective_date, parsed.currency, parsed.market, parsed.category)
        if key in seen:
            problems.append((line, f"duplicate of line {seen[key]} for the same date, currency, market and category"))
            continue
        seen[key] = line
        rates.append((line, parsed))
    if not rates and not problems:
        problems.append((1, "the file holds no rates"))
    if problems:
        raise RateCardError(problems)
    return rates


def rate_card_load(*, lines: Iterable[str], source: str = "") -> RateCardLoadResult:
    """Load every rate or none. Reloading the same rates changes nothing; a different rate for a key already
    loaded is refused, since usage may already be rated with it (publish a new effective date instead)."""
    rates = rate_card_parse(lines)
    with transaction.atomic():
        existing = {
            (r.effective_date, r.currency, r.market, r.category): r.rate
            for r in RateCardRate.objects.select_for_update().filter(
                effective_date__in={r.effective_date for _, r in rates}
            )
        }
        problems, new = [], []
        for line, rate in rates:
            key = (rate.effective_date, rate.currency, rate.market, rate.category)
            if key not in existing:
                rate.source = source[:200]
                new.append(rate)
            elif existing[key] != rate.rate:
                problems.append(
                    (
                        line,
                        f"{' '.join(map(str, key))} is already loaded at {existing[key]}; "
                        "rates in use cannot change, load a new effective date",
                    )
                )
        if problems:
            raise RateCardError(problems)
        RateCardRate.objects.bulk_create(new)
    return RateCardLoadResult(created=len(new), unchanged=len(rates) - len(new))
