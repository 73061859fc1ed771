"""load_volume_tiers: Meta's volume tier file, all lines or none; then rating by those tiers."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import RateCardTier

pytestmark = pytest.mark.django_db

TIERS = (
    "Cost per message in EUR\n"
    "Market,Category,Tier,Rate\n"
    "India,Utility,0:750000,0.0013\n"
    "India,Utility,750000:2000000,0.0011\n"
    'India,Utility,"2,000,000:",0.0009\n'
    "Germany,Authentication,0:,0.0636\n"
)


def load(tmp_path, text, date="2026-07-01"):
    path = tmp_path / "tiers.csv"
    path.write_text(text, encoding="utf-8")
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("load_volume_tiers", str(path), "--effective-date", date, stdout=stdout, stderr=stderr)
    except CommandError as error:
        return str(error), [line.split(":", 1)[1] for line in stderr.getvalue().splitlines()]
    return stdout.getvalue(), []


def test_the_tier_file_loads(tmp_path):
    assert load(tmp_path, TIERS) == ("Loaded 4 new tier(s); 0 already loaded unchanged.\n", [])
    assert sorted(RateCardTier.objects.values_list("market", "category", "volume_from", "rate")) == [
        ("DE", "authentication", 0, Decimal("0.063600")),
        ("IN", "utility", 0, Decimal("0.001300")),
        ("IN", "utility", 750000, Decimal("0.001100")),
        ("IN", "utility", 2000000, Decimal("0.000900")),
    ]
    assert set(RateCardTier.objects.values_list("effective_date", "currency")) == {(dt.date(2026, 7, 1), "EUR")}
    assert load(tmp_path, TIERS)[0] == "Loaded 0 new tier(s); 4 already loaded unchanged.\n"


def test_bad_lines_are_reported_by_line_and_nothing_is_loaded(tmp_path):
    bad = (
        TIERS.replace("750000:2000000,0.0011", "800000:2000000,0.0011").replace(
            "Germany,Authentication", "Germany,Marketing"
        )
        + "Atlantis,Utility,0:,0.1\n"
    )
    error, problems = load(tmp_path, bad)
    assert error == "Tier file rejected (3 problem(s)); nothing was loaded."
    assert problems == [
        "4: IN utility: tier starts at 800000, expected 750000",
        "6: category 'Marketing' has no volume tiers (only Utility and Authentication)",
        "7: market 'Atlantis' is not one of Meta's pricing markets",
    ]
    assert RateCardTier.objects.count() == 0


def test_the_last_tier_must_be_open(tmp_path):
    _, problems = load(tmp_path, TIERS.replace('"2,000,000:"', "2000000:3000000"))
    assert problems == ["5: IN utility: the last tier must be open ('2000000:')"]


def test_a_changed_rate_is_refused(tmp_path):
    load(tmp_path, TIERS)
    _, problems = load(tmp_path, TIERS.replace("0:,0.0636", "0:,0.0700"))
    assert problems == [
        "6: EUR DE authentication 0 is already loaded at 0.063600 for 2026-07-01; load a new effective date"
    ]


def test_the_open_last_tier_may_be_written_as_pricing_analytics_writes_it(tmp_path):
    text = (
        "Cost per message in EUR\nMarket,Category,Tier,Rate\n"
        "India,Utility,0:750000,0.0013\nIndia,Utility,750000:MAX,0.0009\n"
    )
    assert load(tmp_path, text) == ("Loaded 2 new tier(s); 0 already loaded unchanged.\n", [])
    assert sorted(RateCardTier.objects.values_list("volume_from", "rate")) == [
        (0, Decimal("0.001300")),
        (750000, Decimal("0.000900")),
    ]
