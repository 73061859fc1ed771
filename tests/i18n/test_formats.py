"""One formatter for every surface (billing/formats.py): amounts and dates in each language's style."""

import datetime as dt
from decimal import Decimal

import pytest

from billing import formats
from core.company import language_for_country

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("language", "amount", "day", "month"),
    [
        ("en", "€1,234.56", "1 Dec 2026", "December 2026"),
        ("de", "€1.234,56", "1. Dezember 2026", "Dezember 2026"),
        ("pt-br", f"€{NBSP}1.234,56", "1 de dezembro de 2026", "dezembro de 2026"),
        ("es", f"1.234,56{NBSP}€", "1 de diciembre de 2026", "diciembre de 2026"),
    ],
)
def test_amounts_and_dates_by_language(language, amount, day, month):
    assert formats.money(Decimal("1234.56"), "EUR", language=language) == amount
    assert formats.day(dt.date(2026, 12, 1), language=language) == day
    assert formats.month(dt.date(2026, 12, 1), language=language) == month


def test_reais_in_brazilian_portuguese_and_usage_costs_keep_their_sub_cent_digits():
    assert formats.money(Decimal("1234.56"), "BRL", language="pt-br") == f"R${NBSP}1.234,56"
    assert formats.money_precise(Decimal("0.012345"), "EUR", places=6, language="de") == "€0,012345"


def test_a_moment_is_shown_in_the_given_time_zone():
    moment = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")

    assert formats.moment(moment, language="en", tz=berlin) == "2 Mar 2026 00:30"
    assert formats.moment(moment, language="de", tz=berlin) == "2. März 2026 00:30"


@pytest.mark.parametrize(
    ("country", "language"),
    [("DE", "de"), ("AT", "de"), ("CH", "de"), ("BR", "pt-br"), ("ES", "es"), ("MX", "es"), ("AR", "es"),
     ("CO", "es"), ("CL", "es"), ("PE", "es"), ("PT", "en"), ("US", "en"), ("FR", "en")],
)  # fmt: skip
def test_the_invoice_language_defaults_from_the_country(country, language):
    assert language_for_country(country) == language
