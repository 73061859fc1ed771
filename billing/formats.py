"""The one formatter of amounts, numbers and dates for every surface: pages, PDFs, emails and CSV exports.

Babel (CLDR) does the work, in the active language unless one is given (an invoice renders in its own language).
One date style per language, so the invoice list, the pay page and the PDF say the same thing:
en "1 Nov 2026" (as the invoices always printed), de "1. Dezember 2026", pt-BR "1 de dezembro de 2026",
es "1 de diciembre de 2026".
"""

import datetime as dt
import functools
from decimal import Decimal

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from billing.markets import COUNTRY_NAMES, market_label
from billing.money import cents

# Amount patterns where the issue asks for something else than CLDR's default: the symbol first in German
# ("€1.234,56"), as in English. Others keep CLDR's ("R$ 1.234,56", "1.234,56 €").
CURRENCY_PATTERNS = {"en": "¤#,##0.00", "de": "¤#,##0.00"}
DAY_PATTERNS = {"en": "d MMM y"}  # others: CLDR's "long" date
DAY_MONTH_PATTERNS = {"en": "d MMM"}  # others: CLDR's MMMd skeleton
MONTH_PATTERNS = {"en": "MMMM y"}  # others: CLDR's yMMMM skeleton
TIME_PATTERN = "HH:mm"
# Meta's regional market labels (hub/markets.py), marked here for the catalogs.
REGIONAL_MARKET_LABELS = (
    gettext_noop("North America"), gettext_noop("Rest of Latin America"), gettext_noop("Rest of Western Europe"),
    gettext_noop("Rest of Central & Eastern Europe"), gettext_noop("Rest of Asia Pacific"),
    gettext_noop("Rest of Middle East"), gettext_noop("Rest of Africa"), gettext_noop("Other"),
)  # fmt: skip


def babel_locale(language: str | None = None) -> str:
    """'pt-br' → 'pt_BR' (Babel's spelling); the active language when none is given."""
    code = (language or translation.get_language() or "en").replace("_", "-")
    base, _, region = code.partition("-")
    return f"{base.lower()}_{region.upper()}" if region else base.lower()


def _base(language: str | None) -> str:
    return babel_locale(language).split("_")[0]


def _amount_parts(amount, currency: str | None) -> tuple[Decimal, str]:
    if hasattr(amount, "currency") and hasattr(amount, "amount"):  # a django-money Money
        return Decimal(amount.amount), str(amount.currency)
    return Decimal(str(amount)), currency or "EUR"


def _currency_pattern(language: str | None) -> str:
    locale = babel_locale(language)
    cldr = Locale.parse(locale).currency_formats["standard"].pattern
    return CURRENCY_PATTERNS.get(_base(language)) or cldr.split(";")[0]


def money(amount, currency: str | None = None, *, language: str | None = None) -> str:
    """An amount in cents, e.g. "€1,234.56" (en), "€1.234,56" (de), "R$ 1.234,56" (pt-BR), "1.234,56 €" (es)."""
    value, currency = _amount_parts(amount, currency)
    return babel_numbers.format_currency(
        value, currency, format=_currency_pattern(language), locale=babel_locale(language)
    )


def money_precise(amount, currency: str | None = None, *, places: int, language: str | None = None) -> str:
    """An amount with `places` decimals (usage costs keep sub-cent digits), in the language's currency layout."""
    value, currency = _amount_parts(amount, currency)
    pattern = _currency_pattern(language).replace("0.00", "0." + "0" * places)
    return babel_numbers.format_currency(
        value, currency, format=pattern, locale=babel_locale(language), currency_digits=False
    )


def number(value, *, language: str | None = None) -> str:
    """A count or quantity: 1200 → "1,200" (en), "1.200" (de); decimals as given, trailing zeros dropped."""
    if isinstance(value, Decimal):
        value = value.normalize()
        if value == value.to_integral():
            value = value.quantize(Decimal(1))
    return babel_numbers.format_decimal(value, locale=babel_locale(language), decimal_quantization=False)


def decimal(value: Decimal, *, places: int = 2, language: str | None = None) -> str:
    """A plain figure with fixed decimals: 25 → "25.00" (en), "25,00" (de)."""
    return babel_numbers.format_decimal(
        value, format="#,##0." + "0" * places, locale=babel_locale(language), decimal_quantization=True
    )


def percent(rate: Decimal, *, language: str | None = None) -> str:
    """0.19 → "19%" (en), "19 %" (de); 0.04 → "4%"."""
    return babel_numbers.format_percent(rate, locale=babel_locale(language), decimal_quantization=False)


def _as_date(value: dt.date | dt.datetime, tz) -> dt.date:
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(tz or timezone.get_current_timezone())
        return value.date()
    return value


def day(value: dt.date | dt.datetime | None, *, language: str | None = None, tz=None) -> str:
    """A date in the language's one style; a moment as its date in `tz` (default: the person's time zone)."""
    if value is None or value == "":
        return ""
    locale = babel_locale(language)
    pattern = DAY_PATTERNS.get(_base(language), "long")
    return babel_dates.format_date(_as_date(value, tz), pattern, locale=locale)


def day_month(value: dt.date | dt.datetime | None, *, language: str | None = None, tz=None) -> str:
    """A day without its year, for charts: "1 Nov" (en), "1. Nov." (de)."""
    if value is None or value == "":
        return ""
    locale, base = babel_locale(language), _base(language)
    the_day = _as_date(value, tz)
    if base in DAY_MONTH_PATTERNS:
        return babel_dates.format_date(the_day, DAY_MONTH_PATTERNS[base], locale=locale)
    return babel_dates.format_skeleton("MMMd", the_day, locale=locale)


def month(value: dt.date | dt.datetime | None, *, language: str | None = None, short: bool = False) -> str:
    """A billing month: "November 2026" (en), "November 2026" (de), "novembro de 2026" (pt-BR)."""
    if value is None or value == "":
        return ""
    return _month(_as_date(value, dt.UTC).replace(day=1), babel_locale(language), short)


@functools.lru_cache(maxsize=4096)
def _month(the_day: dt.date, locale: str, short: bool) -> str:
    """Memoised: a month close writes a month's name on ~10,000 license lines, ~0.15 ms of Babel each."""
    base = locale.split("_")[0]
    if short:
        return babel_dates.format_skeleton("yMMM", the_day, locale=locale)
    if base in MONTH_PATTERNS:
        return babel_dates.format_date(the_day, MONTH_PATTERNS[base], locale=locale)
    return babel_dates.format_skeleton("yMMMM", the_day, locale=locale)


def moment(value: dt.datetime | None, *, language: str | None = None, tz=None) -> str:
    """A date and time in the person's time zone: "1 Nov 2026 14:05" (en), "1. November 2026 14:05" (de)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = value.astimezone(tz or timezone.get_current_timezone())
    time = babel_dates.format_time(value, TIME_PATTERN, locale=babel_locale(language))
    return f"{day(value, language=language, tz=tz)} {time}"


def country_name(code: str, *, language: str | None = None) -> str:
    """A country by its name in the language (English: the project's ISO table, as invoices always printed)."""
    if _base(language) == "en":
        return COUNTRY_NAMES.get(code, code)
    return Locale.parse(babel_locale(language)).territories.get(code, COUNTRY_NAMES.get(code, code))


def market_name(code: str, *, language: str | None = None) -> str:
    """A pricing market: a country's name, or a regional market's label, in the active language."""
    if code.upper() in COUNTRY_NAMES and _base(language) != "en":
        return country_name(code.upper(), language=language)
    label = market_label(code)
    return gettext(label) if label in REGIONAL_MARKET_LABELS else label


# CSV downloads: a spreadsheet set to the reader's language must read the figures as numbers and the dates as dates,
# so figures carry the language's decimal sign without grouping ("1234,56" in de), the delimiter is ";" where the
# decimal sign is a comma (what German, Brazilian and Spanish spreadsheets expect), and dates are numeric.
CSV_DATE_PATTERNS = {"en": "yyyy-MM-dd", "de": "dd.MM.yyyy", "pt": "dd/MM/yyyy", "es": "dd/MM/yyyy"}


def csv_delimiter(*, language: str | None = None) -> str:
    return ";" if babel_numbers.get_decimal_symbol(babel_locale(language)) == "," else ","


def csv_decimal(value: Decimal | int | None, *, language: str | None = None) -> str:
    """A figure as given (no rounding, no grouping), with the language's decimal sign: 0.226200 → "0,226200" (de)."""
    if value is None or value == "":
        return ""
    text = format(Decimal(str(value)), "f")
    return text.replace(".", babel_numbers.get_decimal_symbol(babel_locale(language)))


def csv_day(value: dt.date | dt.datetime | None, *, language: str | None = None, tz=None) -> str:
    """A date a spreadsheet reads as a date: "2026-12-01" (en), "01.12.2026" (de), "01/12/2026" (pt-BR, es)."""
    if value is None or value == "":
        return ""
    pattern = CSV_DATE_PATTERNS.get(_base(language), "yyyy-MM-dd")
    return babel_dates.format_date(_as_date(value, tz), pattern, locale=babel_locale(language))


def csv_moment(value: dt.datetime | None, *, language: str | None = None, tz=None) -> str:
    """A moment as its date and time in `tz` (default: the person's time zone): "01.12.2026 14:05" (de)."""
    if value is None or value == "":
        return ""
    if timezone.is_aware(value):
        value = value.astimezone(tz or timezone.get_current_timezone())
    return f"{csv_day(value, language=language)} {value:%H:%M}"


MINUS = "\u2212"  # a real minus sign: a hyphen before an amount is easy to miss on paper

# The Monthly Summary of a Month Closing Invoice: the seed's labels, in the seed's order (PDF, page, e-invoice).
SUMMARY_LABELS = (
    ("starting_balance", gettext_noop("Starting Balance")),
    ("total_added_funds", gettext_noop("Total Added Funds")),
    ("total_usage", gettext_noop("Total Usage")),
    ("total_refunds", gettext_noop("Total Refunds")),
    ("ending_balance", gettext_noop("Ending Balance")),
    ("usage_reconciliation", gettext_noop("Usage Reconciliation")),
)


def money_format(amount: Decimal | str, currency: str) -> str:
    """'€1,234.50', '$25.00', '−€50.00' (en; the active language's layout otherwise): half-up to cents, a real
    minus sign before the amount."""
    value = cents(Decimal(amount))
    sign = MINUS if value < 0 else ""
    return f"{sign}{money(abs(value), currency)}"
