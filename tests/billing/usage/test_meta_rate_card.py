"""load_rate_card with Meta's downloadable rate card file, as Meta publishes it."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import RateCardRate

pytestmark = pytest.mark.django_db

META_CARD = (
    "Cost per message in EUR,,,,,,,\n"
    'Market,Currency,Marketing,Utility,Authentication,"Authentication-\n'
    'International",Service,Marketing Lite\n'
    "Germany,EUR,0.1131,0.0456,0.0636,n/a,0.00,0.1000\n"
    "Rest of Western Europe,EUR,0.0592,0.0380,0.0380,0.0380,0.00,n/a\n"
    "Rest of Central & Eastern Europe,EUR,0.0797,0.0389,0.0389,0.0389,0.00,n/a\n"
    "North America,EUR,0.0230,0.0032,0.0125,n/a,0.00,n/a\n"
    "India,EUR,0.0099,0.0013,0.0013,0.0259,0.00,n/a\n"
    "Other,EUR,0.0557,0.0071,0.0071,0.0071,0.00,n/a\n"
)


def load(tmp_path, text, *args):
    path = tmp_path / "meta-rate-card.csv"
    path.write_text(text, encoding="utf-8")
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("load_rate_card", str(path), *args, stdout=stdout, stderr=stderr)
    except CommandError as error:
        return str(error), [line.split(":", 1)[1] for line in stderr.getvalue().splitlines()]
    return stdout.getvalue(), []


def test_metas_file_loads_every_rate_with_the_effective_date(tmp_path):
    out, problems = load(tmp_path, META_CARD, "--effective-date", "2026-07-01")

    assert (out, problems) == ("Loaded 29 new rate(s); 0 already loaded unchanged.\n", [])
    rates = {
        (r.market, r.category): r.rate
        for r in RateCardRate.objects.filter(effective_date=dt.date(2026, 7, 1), currency="EUR")
    }
    assert len(rates) == 29
    assert rates[("DE", "marketing")] == Decimal("0.113100")
    assert rates[("DE", "marketing_lite")] == Decimal("0.100000")
    assert ("DE", "authentication_international") not in rates  # n/a: no rate
    assert rates[("IN", "authentication_international")] == Decimal("0.025900")
    assert rates[("REST_OF_CENTRAL_EASTERN_EUROPE", "utility")] == Decimal("0.038900")
    assert rates[("NORTH_AMERICA", "service")] == Decimal("0")
    assert rates[("OTHER", "marketing")] == Decimal("0.055700")


def test_reloading_the_same_file_changes_nothing(tmp_path):
    load(tmp_path, META_CARD, "--effective-date", "2026-07-01")
    out, _ = load(tmp_path, META_CARD, "--effective-date", "2026-07-01")
    assert out == "Loaded 0 new rate(s); 29 already loaded unchanged.\n"


def test_metas_file_needs_an_effective_date(tmp_path):
    error, _ = load(tmp_path, META_CARD)
    assert error.endswith("is Meta's rate card, which carries no date: give --effective-date.")
    assert RateCardRate.objects.count() == 0


def test_bad_lines_are_reported_by_line_and_nothing_is_loaded(tmp_path):
    bad = (
        META_CARD.replace("India,EUR,0.0099", "Atlantis,EUR,0.0099")
        .replace("Other,EUR,0.0557", "Other,EUR,cheap")
        .replace("North America,EUR,0.0230", "North America,USD,0.0230")
    )
    error, problems = load(tmp_path, bad, "--effective-date", "2026-07-01")

    assert error == "Rate card rejected (3 problem(s)); nothing was loaded."
    assert problems == [
        "7: currency 'USD' differs from the file's currency EUR",
        "8: market 'Atlantis' is not one of Meta's pricing markets",
        "9: marketing rate 'cheap' is not a number (or n/a)",
    ]
    assert RateCardRate.objects.count() == 0


def test_a_rate_the_portal_rules_refuse_is_reported_at_metas_line(tmp_path):
    error, problems = load(
        tmp_path, META_CARD.replace("0.0071,0.0071,0.0071", "0.0071,0.0071,-0.5"), "--effective-date", "2026-07-01"
    )
    assert problems == ["9: rate '-0.5' must be between 0 and 1000"]
    assert RateCardRate.objects.count() == 0


def test_a_changed_rate_for_a_loaded_date_is_refused_by_line(tmp_path):
    load(tmp_path, META_CARD, "--effective-date", "2026-07-01")
    error, problems = load(
        tmp_path, META_CARD.replace("Germany,EUR,0.1131", "Germany,EUR,0.1200"), "--effective-date", "2026-07-01"
    )
    assert problems == [
        "4: 2026-07-01 EUR DE marketing is already loaded at 0.113100; "
        "rates in use cannot change, load a new effective date"
    ]
    assert RateCardRate.objects.filter(market="DE", category="marketing").get().rate == Decimal("0.113100")


def test_a_file_without_the_currency_preamble_is_refused(tmp_path):
    error, problems = load(tmp_path, META_CARD.split("\n", 1)[1], "--effective-date", "2026-07-01")
    assert problems == ["2: no preamble line 'Cost per message in <currency>' before the header"]


def test_an_unknown_header_category_and_a_repeated_market_are_refused(tmp_path):
    text = META_CARD.replace("Marketing Lite", "Carousel") + "Germany,EUR,0.1131,0.0456,0.0636,n/a,0.00,n/a\n"
    error, problems = load(tmp_path, text, "--effective-date", "2026-07-01")
    assert problems == [
        "3: header cell 'Carousel' is not one of Meta's categories (a category Meta introduced loads with"
        " --new-category NAME)",
        "10: market 'Germany' is already on line 4",
    ]
    assert RateCardRate.objects.count() == 0


def test_the_portal_format_refuses_an_effective_date_option(tmp_path):
    error, _ = load(
        tmp_path,
        "effective_date,currency,market,category,rate\n2026-07-01,EUR,DE,marketing,0.1\n",
        "--effective-date",
        "2026-07-01",
    )
    assert error.endswith("has its effective dates on every line: drop --effective-date.")
    assert RateCardRate.objects.count() == 0


def test_a_category_meta_introduced_loads_from_its_file_when_staff_name_it(tmp_path):
    text = META_CARD.replace("Marketing Lite", "Marketing Carousel")
    out, problems = load(tmp_path, text, "--effective-date", "2026-07-01", "--new-category", "marketing_carousel")

    assert problems == []
    assert "Loaded 29 new rate(s)" in out
    assert RateCardRate.objects.get(category="marketing_carousel").market == "DE"
    assert RateCardRate.objects.get(category="marketing_carousel").rate == Decimal("0.100000")


def test_a_new_category_name_must_be_written_as_meta_writes_it(tmp_path):
    error, _ = load(tmp_path, META_CARD, "--effective-date", "2026-07-01", "--new-category", "Marketing Carousel")
    assert error == "new category 'Marketing Carousel' must be lowercase letters, digits and _, as Meta writes it"
    assert RateCardRate.objects.count() == 0
