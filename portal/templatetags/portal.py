"""Formatting for every page: money by currency and the active locale (Babel, which django-money uses)."""

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency
from django import template
from django.utils import translation

register = template.Library()


def _locale() -> str:
    return (translation.get_language() or "en").replace("-", "_")


@register.filter
def money(amount, currency: str = "EUR") -> str:
    """`{{ invoice.total|money:invoice.currency }}` → "€1,234.50" (en). Cents for invoices and balances."""
    if amount in (None, ""):
        return ""
    if hasattr(amount, "currency") and hasattr(amount, "amount"):  # a django-money Money
        currency, amount = str(amount.currency), amount.amount
    return format_currency(Decimal(amount), currency, locale=_locale())


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
    return format_currency(value, currency, format="¤#,##0." + "0" * digits, locale=_locale(), currency_digits=False)


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
