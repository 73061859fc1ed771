"""Loading Meta's rate card from CSV: all lines valid, or nothing loaded."""

import codecs
import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from billing.markets import MARKETS, market_for_country
from billing.models import CATEGORY_NAME, Category, MessageUsage, RateCardRate
from billing.money import decimal_plain

COLUMNS = ["effective_date", "currency", "market", "category", "rate"]
MAX_RATE = Decimal("1000")
# Meta's whole card is a few thousand lines (~100 kB) per effective date; 2 MB holds dozens of them. A bigger file
# is not a rate card, and refusing it up front keeps the loader's memory bounded.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_PROBLEMS = 100  # enough to fix a file by; a file of nothing but bad lines is not listed whole
NEW_CATEGORY_HINT = "a category Meta introduced loads with --new-category NAME"


def new_categories_checked(names: Iterable[str]) -> frozenset[str]:
    """Categories Meta introduced that a card may carry (staff name them, so a typo in a file is still refused):
    lowercase as Meta writes `pricing.category`. ValueError naming a malformed one."""
    for name in names:
        if not re.fullmatch(CATEGORY_NAME, name):
            raise ValueError(f"new category {name!r} must be lowercase letters, digits and _, as Meta writes it")
    return frozenset(names)


class RateCardError(Exception):
    """The file was rejected; `problems` lists (line number, reason). Nothing was loaded."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {reason}" for line, reason in problems[:20]))


@dataclass(frozen=True)
class RateCardLoadResult:
    created: int
    unchanged: int


def _parse_row(row: dict, new_categories: frozenset[str] = frozenset()) -> RateCardRate | str:
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
    if category not in Category.values and category not in new_categories:
        return f"category {category!r} is not one of {', '.join(Category.values)} ({NEW_CATEGORY_HINT})"
    rate = decimal_plain(row["rate"].strip())
    if rate is None:
        return f"rate {row['rate']!r} is not a number"  # plain decimal notation only: not 1e-2, not ١٠٠
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        return f"rate {row['rate']!r} must be between 0 and {MAX_RATE}"
    if rate.as_tuple().exponent < -6:
        return f"rate {row['rate']!r} has more than 6 decimal places"
    return RateCardRate(effective_date=effective_date, currency=currency, market=market, category=category, rate=rate)


def rate_card_text(raw_lines: Iterable[bytes]) -> Iterator[str]:
    """The lines of a rate card file read in binary, as text: UTF-8 (a spreadsheet's byte order mark allowed), at
    most MAX_FILE_BYTES. A byte that is not UTF-8, or a file too large, is a RateCardError at its line."""
    size = 0
    for number, raw in enumerate(raw_lines, start=1):
        size += len(raw)
        if size > MAX_FILE_BYTES:
            raise RateCardError(
                [(number, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; a rate card is far smaller")]
            )
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start]
            raise RateCardError(
                [(number, f"byte {byte:#04x} at column {exc.start + 1} is not UTF-8; save the file as UTF-8")]
            ) from None


def rate_card_parse(
    lines: Iterable[str], *, new_categories: frozenset[str] = frozenset()
) -> list[tuple[int, RateCardRate]]:
    """(file line number, rate) for every line, or RateCardError listing every bad line. A category outside
    Category is refused unless it is one of `new_categories`."""
    reader = csv.DictReader(lines)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise RateCardError([(1, f"not a CSV line ({exc})")]) from None
    if header is None or [f.strip() for f in header] != COLUMNS:
        raise RateCardError([(1, f"header must be exactly: {','.join(COLUMNS)}")])
    reader.fieldnames = COLUMNS  # "effective_date, currency, ..." names the same columns
    rates, problems, seen = [], [], {}
    for row in _rows(reader, problems):
        line = reader.line_num
        if None in row or any(value is None for value in row.values()):
            problems.append((line, f"expected {len(COLUMNS)} columns"))
            continue
        parsed = _parse_row(row, new_categories)
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
        raise RateCardError(problems[:MAX_PROBLEMS])
    return rates


def _rows(reader: csv.DictReader, problems: list[tuple[int, str]]) -> Iterator[dict]:
    """The reader's rows; a line the csv module cannot read (a field over its size limit) ends the file there, as
    a problem at that line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append((reader.line_num + 1, f"not a CSV line ({exc})"))  # line_num counts lines read whole
            return


def rate_card_load(*, lines: Iterable[str], source: str = "", new_categories: Iterable[str] = ()) -> RateCardLoadResult:
    """Load every rate or none. Reloading the same rates changes nothing; a different rate for a key already
    loaded is refused, since usage may already be rated with it (publish a new effective date instead); so is a
    new effective date on or before a day whose usage is already rated and debited (one day, one rate)."""
    rates = rate_card_parse(lines, new_categories=new_categories_checked(new_categories))
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
        problems += _new_dates_on_rated_days(new, {id(rate): line for line, rate in rates})
        if problems:
            raise RateCardError(sorted(problems)[:MAX_PROBLEMS])
        RateCardRate.objects.bulk_create(new)
    return RateCardLoadResult(created=len(new), unchanged=len(rates) - len(new))


def _new_dates_on_rated_days(new: list[RateCardRate], line_of: dict[int, int]) -> list[tuple[int, str]]:
    """Problems for the new rates that would apply to usage already rated (and debited) under another rate. Usage
    counts for its own market and, having been rated at the rest-of-world fallback, for its country's market."""
    if not new:
        return []
    last_rated: dict[tuple[str, str, str], dt.date] = {}
    rows = (
        MessageUsage.objects.filter(
            billable=True,
            rate_date__gte=min(r.effective_date for r in new),
            currency__in={r.currency for r in new},
            category__in={r.category for r in new},
        )
        .values_list("currency", "category", "market", "recipient_country")
        .annotate(last=Max("rate_date"))
    )
    for currency, category, market, country, last in rows:
        for rated_market in {market, market_for_country(country)}:
            key = (currency, rated_market, category)
            last_rated[key] = max(last, last_rated.get(key, last))
    problems = []
    for rate in new:
        last = last_rated.get((rate.currency, rate.market, rate.category))
        if last is not None and last >= rate.effective_date:
            problems.append(
                (
                    line_of[id(rate)],
                    f"{rate.currency} {rate.market} {rate.category} usage is already rated and debited up to {last}; "
                    f"a rate effective {rate.effective_date} would give those days two rates. Load a later "
                    "effective date, and correct the past with a reconciliation",
                )
            )
    return problems
