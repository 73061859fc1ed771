"""Formatting for every page, by the active language: billing.formats (Babel) for amounts, numbers and dates."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

from billing import formats
from billing.ledger_texts import ledger_reference_text

register = template.Library()


@register.filter
def money(amount, currency: str = "EUR") -> str:
    """`{{ invoice.total|money:invoice.currency }}` → "€1,234.50" (en), "€1.234,50" (de). Cents for invoices and
    balances."""
    if amount in (None, ""):
        return ""
    return formats.money(amount, currency)


@register.filter
def money_precise(amount, currency: str = "EUR") -> str:
    """Usage costs keep their sub-cent digits (at most 6 places, trailing zeros dropped), e.g. "€0.012345".

    Quantized first: SQLite sums decimals in floating point, so a sum there may carry binary noise."""
    if amount in (None, ""):
        return ""
    if hasattr(amount, "currency") and hasattr(amount, "amount"):
        currency, amount = str(amount.currency), amount.amount
    value = Decimal(str(amount)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP).normalize()
    exponent = value.as_tuple().exponent
    digits = max(2, -exponent) if isinstance(exponent, int) and exponent < 0 else 2
    return formats.money_precise(value, currency, places=digits)


@register.filter
def ledger_reference(reference: str) -> str:
    """`{{ entry.reference|ledger_reference }}`: the ledger's stored English reference in the active language."""
    return ledger_reference_text(reference or "")


# Dates: one style per language on every page (billing.formats); moments in the person's time zone.
@register.filter(expects_localtime=True)
def day(value) -> str:
    """`{{ invoice.issued_at|day }}` → "1 Nov 2026" (en), "1. November 2026" (de)."""
    return formats.day(value)


@register.filter(expects_localtime=True)
def day_month(value) -> str:
    return formats.day_month(value)


@register.filter(expects_localtime=True)
def moment(value) -> str:
    """Date and time: "1 Nov 2026 14:05"."""
    return formats.moment(value)


@register.filter
def month(value) -> str:
    """A billing month: "November 2026"."""
    return formats.month(value)


@register.filter
def month_short(value) -> str:
    return formats.month(value, short=True)


@register.filter
def number(value) -> str:
    if value in (None, ""):
        return ""
    return formats.number(value)


@register.simple_tag(takes_context=True)
def querystring_with(context, **changes) -> str:
    """The current query string with some parameters replaced (pagination, sorting) - filters are kept."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"
