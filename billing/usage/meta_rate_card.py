"""Meta's downloadable rate card, as Meta publishes it: one currency per file, one row per market.

    Cost per message in EUR
    Market,Currency,Marketing,Utility,Authentication,"Authentication-
    International",Service
    Germany,EUR,0.1131,0.0456,0.0636,n/a,0.00
    Rest of Western Europe,EUR,0.0592,0.0380,0.0380,0.0380,0.00

The preamble names the currency; the header's category cells may wrap ("Authentication-" newline
"International"); markets are named in words; `n/a` means Meta has no rate there. The file carries no date, so the
caller gives the effective date. Rates are handed to `rate_card_load` as the portal's own long format, so both
formats share one rule set (all lines or none, loaded rates never change); its problems are reported with this
file's line numbers.
"""

import csv
import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings

from billing.markets import COUNTRY_MARKETS, REGIONAL_MARKETS
from billing.models import Category
from billing.usage.rate_card import (
    COLUMNS,
    NEW_CATEGORY_HINT,
    RateCardError,
    RateCardLoadResult,
    new_categories_checked,
    rate_card_load,
)

PREAMBLE = re.compile(r"cost per message in ([A-Za-z]{3})\b", re.IGNORECASE)
NO_RATE = {"n/a", "na", "-", ""}
NOT_CATEGORIES = {"market", "currency", "country", "region"}


def words(text: str) -> str:
    """A label as a key: lowercase, hyphens, line breaks, ampersands and spaces folded."""
    text = text.replace("&", " and ").replace("-\n", " ").replace("-", " ")
    return " ".join(text.lower().split())


MARKET_BY_NAME = {words(label): code for code, label in {**COUNTRY_MARKETS, **REGIONAL_MARKETS}.items()}
CATEGORY_BY_NAME = {words(value.replace("_", " ")): value for value in Category.values}


def is_meta_rate_card(first_line: str) -> bool:
    """Whether a file is Meta's rate card (its preamble, or its header, first) rather than the portal's long CSV."""
    return bool(PREAMBLE.search(first_line)) or words(first_line.split(",")[0]) == "market"


def meta_rate_card_rows(
    lines: Iterable[str], *, effective_date: dt.date, new_categories: frozenset[str] = frozenset()
) -> list[tuple[int, dict]]:
    """(file line, rate row in the portal's long format) for every rate; RateCardError listing every bad line. A
    header cell names one of Category's, or a category in `new_categories` (`Marketing Carousel` is
    marketing_carousel)."""
    categories = {**CATEGORY_BY_NAME, **{words(name.replace("_", " ")): name for name in new_categories}}
    reader = csv.reader(lines)
    currency, header, problems, rows, markets = None, None, [], [], {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            found = PREAMBLE.search(" ".join(cells))
            if found:
                currency = found.group(1).upper()
            elif cells[0].strip().lower() == "market":
                header = _header(cells, line, problems, categories)
                if currency is None:
                    problems.append((line, "no preamble line 'Cost per message in <currency>' before the header"))
            continue
        market = words(cells[0])
        if market in markets:
            problems.append((line, f"market {cells[0].strip()!r} is already on line {markets[market]}"))
            continue
        markets[market] = line
        rows.extend(_rates(cells, line, header, currency, effective_date, problems))
    if header is None:
        problems.append((reader.line_num or 1, "no header row starting with 'Market'"))
    elif currency is not None and currency not in settings.CURRENCIES:
        problems.insert(0, (1, f"currency {currency!r} is not one of {', '.join(settings.CURRENCIES)}"))
    if not rows and not problems:
        problems.append((reader.line_num, "the file holds no rates"))
    if problems:
        raise RateCardError(sorted(problems))
    return rows


def _header(cells: list[str], line: int, problems: list, categories: dict[str, str]) -> list[str | None]:
    """Per column: a category value, "currency", or None for the market column."""
    columns: list[str | None] = [None]
    for cell in cells[1:]:
        name = words(cell)
        if name == "currency":
            columns.append("currency")
        elif name in categories:
            columns.append(categories[name])
        else:
            problems.append((line, f"header cell {cell!r} is not one of Meta's categories ({NEW_CATEGORY_HINT})"))
            columns.append(None)
    return columns


def _rates(cells, line, header, currency, effective_date, problems) -> list[tuple[int, dict]]:
    if len(cells) != len(header):
        problems.append((line, f"expected {len(header)} columns, found {len(cells)}"))
        return []
    market = MARKET_BY_NAME.get(words(cells[0]))
    if market is None:
        problems.append((line, f"market {cells[0].strip()!r} is not one of Meta's pricing markets"))
        return []
    rates = []
    for column, cell in zip(header[1:], cells[1:], strict=True):
        value = cell.strip()
        if column == "currency":
            if currency is not None and value.upper() != currency:
                problems.append((line, f"currency {value!r} differs from the file's currency {currency}"))
            continue
        if column is None or value.lower() in NO_RATE:
            continue
        try:
            Decimal(value)
        except InvalidOperation:
            problems.append((line, f"{column} rate {value!r} is not a number (or n/a)"))
            continue
        row = dict(zip(COLUMNS, [effective_date.isoformat(), currency or "", market, column, value], strict=True))
        rates.append((line, row))
    return rates


def meta_rate_card_load(
    *, lines: Iterable[str], effective_date: dt.date, source: str = "", new_categories: Iterable[str] = ()
) -> RateCardLoadResult:
    """Load Meta's rate card file: every rate or none, checked by the same rules as the portal's own format."""
    new_categories = new_categories_checked(new_categories)
    rows = meta_rate_card_rows(lines, effective_date=effective_date, new_categories=new_categories)
    long_lines = [",".join(COLUMNS)] + [",".join(row[c] for c in COLUMNS) for _, row in rows]
    origin = {index + 2: line for index, (line, _) in enumerate(rows)}  # long line 2 is the first rate
    try:
        return rate_card_load(lines=long_lines, source=source, new_categories=new_categories)
    except RateCardError as error:
        raise RateCardError([(origin.get(n, n), reason) for n, reason in error.problems]) from error
