"""Rating: which Meta rate applies to a message (its market, category and day in the WABA's time zone)."""

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from billing.markets import FALLBACK_MARKET, market_for_country
from billing.models import RateCardRate
from billing.sql import one_of


class RateBook:
    """The rate card in memory for one batch: loaded in one query, looked up by bisection."""

    def __init__(self, rows: Iterable[tuple[dt.date, str, str, str, Decimal]]):
        by_key: dict[tuple[str, str, str], list[tuple[dt.date, Decimal]]] = defaultdict(list)
        for effective_date, currency, market, category, rate in rows:
            by_key[(currency, market, category)].append((effective_date, rate))
        self._dates = {}
        self._rates = {}
        for key, dated in by_key.items():
            dated.sort()
            self._dates[key] = [d for d, _ in dated]
            self._rates[key] = [r for _, r in dated]

    @classmethod
    def load(
        cls,
        *,
        currencies: Iterable[str],
        until: dt.date,
        countries: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> "RateBook":
        """The card's rates in these currencies effective by `until`; only those `rate_for` can look up for these
        recipient countries (their markets and the rest-of-world one) and categories, when given."""
        rows = RateCardRate.objects.filter(one_of("currency", set(currencies)), effective_date__lte=until)
        if countries is not None:
            rows = rows.filter(one_of("market", {market_for_country(c) for c in countries} | {FALLBACK_MARKET}))
        if categories is not None:
            rows = rows.filter(one_of("category", set(categories)))
        # No ORDER BY (the model's ordering): the book sorts its own, and compiling it costs more than the query.
        return cls(rows.order_by().values_list("effective_date", "currency", "market", "category", "rate"))

    def _rate_on(self, key: tuple[str, str, str], day: dt.date) -> Decimal | None:
        dates = self._dates.get(key)
        if not dates:
            return None
        index = bisect.bisect_right(dates, day) - 1
        return self._rates[key][index] if index >= 0 else None

    def rate_for(self, *, currency: str, country: str, category: str, day: dt.date) -> tuple[str, Decimal] | None:
        """(market, rate) for a message to `country` on `day`; the rest-of-world market when the country's own
        market has no rate for that category and day; None when neither has one."""
        market = market_for_country(country)
        for candidate in (market, FALLBACK_MARKET):
            rate = self._rate_on((currency, candidate, category), day)
            if rate is not None:
                return candidate, rate
        return None
