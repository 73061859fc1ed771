"""The usage breakdown printed on a Month Closing Invoice (its PDF and its page in the Client Hub): one row per
WABA × phone number × category × market, whose amounts add up exactly to the invoice's WhatsApp Usage Costs line."""

import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Count, Sum

from billing import formats
from billing.models import Category, Invoice, InvoiceKind, InvoiceLine, MessageUsage
from billing.money import CENT, cents, micros

logger = logging.getLogger(__name__)


class UsageBreakdownError(Exception):
    """The invoice's usage line is not the rounded sum of the usage it bills: the rows cannot be printed under it."""


@dataclass(frozen=True)
class UsageRow:
    """Billable usage of one WABA × phone number × category × market in a billing period."""

    waba_id: str
    phone_number: str
    category: str
    market: str
    messages: int
    cost: Decimal  # in cents, allocated so that the rows add up to the usage line (see cents_allocate)

    @property
    def category_label(self) -> str:
        return str(Category(self.category).label) if self.category in Category.values else self.category

    @property
    def market_label(self) -> str:
        return formats.market_name(self.market)


def cents_allocate(exact: list[Decimal], total: Decimal) -> list[Decimal]:
    """Round each of `exact` to cents so that they add up to `total` (largest remainder, Hamilton's method).

    Every amount is first rounded down to the cent; the cents still missing to reach `total` go one each to the
    amounts that lost the most by rounding down (ties: the earlier row). So each amount stays within a cent of its
    exact value, and three rows of 0.006 under a total of 0.02 print as 0.01, 0.01 and 0.00, never 0.01 three times.
    Raises UsageBreakdownError when `total` is not within those cents of the exact sum (it is not their total)."""
    floors = [amount.quantize(CENT, rounding=ROUND_FLOOR) for amount in exact]
    missing = (total - sum(floors, Decimal(0))) / CENT
    if total != cents(total) or not 0 <= missing <= len(exact):
        raise UsageBreakdownError(
            f"The usage rows add up to {micros(sum(exact, Decimal(0)))}, which cannot be rounded to {total}."
        )
    by_remainder = sorted(range(len(exact)), key=lambda i: (floors[i] - exact[i], i))  # most lost first
    allocated = list(floors)
    for i in by_remainder[: int(missing)]:
        allocated[i] += CENT
    return allocated


def mci_usage_breakdown(*, invoice: Invoice) -> list[UsageRow]:
    """A Month Closing Invoice's billable usage, one row per WABA × number × category × market, adding up to its
    WhatsApp Usage Costs line (other invoices have none: []).

    One GROUP BY query (and one for the line): a month of millions of messages prints as a few dozen rows.
    Should the line not be the rounded sum of the usage (the ledger audit would name the hub: a USAGE entry that is
    not the cost of its messages), the rows are printed rounded half-up each and the mismatch is logged as an error:
    a breakdown that does not add up is shown as recorded, never made to add up with invented figures."""
    if invoice.kind != InvoiceKind.MONTH_CLOSING or invoice.hub_id is None:
        return []
    groups = list(
        MessageUsage.objects.filter(hub_id=invoice.hub_id, billable=True, period=invoice.period_start)
        .values_list("waba__meta_waba_id", "phone_number__e164", "category", "market")
        .annotate(messages=Count("id"), cost=Sum("cost"))
        .order_by("waba__meta_waba_id", "phone_number__e164", "category", "market")
    )
    exact = [micros(Decimal(cost)) for *_, cost in groups]  # SQLite sums in floats; costs have 6 places
    line = invoice.lines.filter(role=InvoiceLine.Role.USAGE).values_list("amount", flat=True).first()
    try:
        allocated = cents_allocate(exact, cents(sum(exact, Decimal(0))) if line is None else line)
    except UsageBreakdownError as error:
        logger.error("usage breakdown of invoice %s: %s", invoice.number, error)
        allocated = [cents(amount) for amount in exact]
    return [
        UsageRow(waba, number, category, market, messages, cost)
        for (waba, number, category, market, messages, _), cost in zip(groups, allocated, strict=True)
    ]
