import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing.models import RateCardRate
from billing.usage.rate_card import RateCardError, rate_card_load

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[3] / "billing" / "usage" / "data" / "rate_card_sample.csv"
HEADER = "effective_date,currency,market,category,rate"
GOOD_BEFORE = "2026-07-01,EUR,DE,marketing,0.125580"
GOOD_AFTER = "2026-07-01,EUR,FR,utility,0.030000"
NOT_A_MARKET = "is not a country with its own market nor one of Meta's regional markets"
CATEGORIES = (
    "marketing, marketing_lite, utility, authentication, authentication_international, service, referral_conversion"
    " (a category Meta introduced loads with --new-category NAME)"
)


def sample_data_lines() -> list[str]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[1:]
    return [line for line in lines if line.strip()]


def write(tmp_path, *lines: str, name: str = "rates.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_command(path: Path) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("load_rate_card", str(path), stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_the_shipped_sample_loads_every_line():
    expected = len(sample_data_lines())

    stdout, _ = load_command(SAMPLE)

    assert stdout == f"Loaded {expected} new rate(s); 0 already loaded unchanged.\n"
    assert RateCardRate.objects.count() == expected
    row = RateCardRate.objects.get(
        effective_date=dt.date(2026, 7, 1), currency="USD", market="DE", category="marketing"
    )
    assert row.rate == Decimal("0.136500")
    assert row.source == str(SAMPLE)


def test_the_sample_loads_through_the_service_with_a_later_effective_date():
    with open(SAMPLE, newline="", encoding="utf-8") as handle:
        result = rate_card_load(lines=handle, source="sample.csv")

    assert (result.created, result.unchanged) == (len(sample_data_lines()), 0)
    november = RateCardRate.objects.get(
        effective_date=dt.date(2026, 11, 1), currency="EUR", market="DE", category="marketing"
    )
    assert (november.rate, november.source) == (Decimal("0.129720"), "sample.csv")


def test_reloading_the_sample_changes_nothing():
    load_command(SAMPLE)
    before = list(RateCardRate.objects.order_by("pk").values_list("pk", "rate", "loaded_at"))

    stdout, _ = load_command(SAMPLE)

    assert stdout == f"Loaded 0 new rate(s); {len(before)} already loaded unchanged.\n"
    assert list(RateCardRate.objects.order_by("pk").values_list("pk", "rate", "loaded_at")) == before


def test_reloading_with_a_new_effective_date_adds_only_the_new_rates():
    rate_card_load(lines=[HEADER, GOOD_BEFORE, GOOD_AFTER])

    result = rate_card_load(lines=[HEADER, GOOD_BEFORE, GOOD_AFTER, "2027-01-01,EUR,DE,marketing,0.130000"])

    assert (result.created, result.unchanged) == (1, 2)
    assert RateCardRate.objects.count() == 3


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("2026-13-01,EUR,DE,marketing,0.1", "effective_date '2026-13-01' is not a date (YYYY-MM-DD)"),
        ("01.07.2026,EUR,DE,marketing,0.1", "effective_date '01.07.2026' is not a date (YYYY-MM-DD)"),
        ("2026-07-01,GBP,DE,marketing,0.1", "currency 'GBP' is not one of EUR, USD"),
        ("2026-07-01,eur,DE,marketing,0.1", "currency 'eur' is not one of EUR, USD"),
        ("2026-07-01,EUR,ATLANTIS,marketing,0.1", f"market 'ATLANTIS' {NOT_A_MARKET}"),
        (
            "2026-07-01,EUR,rest_of_western_europe,marketing,0.1",
            f"market 'rest_of_western_europe' {NOT_A_MARKET}",
        ),
        # Austria is priced in REST_OF_WESTERN_EUROPE, not as a market of its own
        ("2026-07-01,EUR,AT,marketing,0.1", f"market 'AT' {NOT_A_MARKET}"),
        ("2026-07-01,EUR,DE,promotional,0.1", f"category 'promotional' is not one of {CATEGORIES}"),
        ("2026-07-01,EUR,DE,Marketing,0.1", f"category 'Marketing' is not one of {CATEGORIES}"),
        ("2026-07-01,EUR,DE,marketing,-0.01", "rate '-0.01' must be between 0 and 1000"),
        ("2026-07-01,EUR,DE,marketing,1000.000001", "rate '1000.000001' must be between 0 and 1000"),
        ("2026-07-01,EUR,DE,marketing,NaN", "rate 'NaN' is not a number"),
        ("2026-07-01,EUR,DE,marketing,1e-2", "rate '1e-2' is not a number"),
        ("2026-07-01,EUR,DE,marketing,٠.١", "rate '٠.١' is not a number"),
        ("2026-07-01,EUR,DE,marketing,0.1234567", "rate '0.1234567' has more than 6 decimal places"),
        ("2026-07-01,EUR,DE,marketing,0,12", "expected 5 columns"),
        ("2026-07-01,EUR,DE,marketing,abc", "rate 'abc' is not a number"),
        ("2026-07-01,EUR,DE,marketing", "expected 5 columns"),
        ("2026-07-01,EUR,DE,marketing,0.1,extra", "expected 5 columns"),
        (
            "2026-07-01,EUR,DE,marketing,0.2",
            "duplicate of line 2 for the same date, currency, market and category",
        ),
    ],
)
def test_one_malformed_line_rejects_the_whole_file(tmp_path, bad_line, reason):
    path = write(tmp_path, HEADER, GOOD_BEFORE, bad_line, GOOD_AFTER)

    with pytest.raises(CommandError, match=r"^Rate card rejected \(1 problem\(s\)\); nothing was loaded\.$"):
        load_command(path)

    assert RateCardRate.objects.count() == 0
    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=[HEADER, GOOD_BEFORE, bad_line, GOOD_AFTER])
    assert raised.value.problems == [(3, reason)]
    assert RateCardRate.objects.count() == 0


def test_the_command_prints_file_line_and_reason_for_every_bad_line(tmp_path):
    path = write(
        tmp_path,
        HEADER,
        GOOD_BEFORE,
        "2026-07-01,GBP,DE,marketing,0.1",
        GOOD_AFTER,
        "2026-07-01,EUR,ATLANTIS,marketing,0.1",
    )
    stderr = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("load_rate_card", str(path), stdout=StringIO(), stderr=stderr)

    assert str(raised.value) == "Rate card rejected (2 problem(s)); nothing was loaded."
    assert stderr.getvalue().splitlines() == [
        f"{path}:3: currency 'GBP' is not one of EUR, USD",
        f"{path}:5: market 'ATLANTIS' {NOT_A_MARKET}",
    ]
    assert RateCardRate.objects.count() == 0


def test_line_numbers_count_blank_lines_in_the_file():
    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=[HEADER, GOOD_BEFORE, "", "2026-07-01,EUR,DE,spam,0.1"])

    assert raised.value.problems == [(4, f"category 'spam' is not one of {CATEGORIES}")]


@pytest.mark.parametrize(
    "header",
    [
        "date,currency,market,category,rate",
        "effective_date,currency,market,category",
        "currency,effective_date,market,category,rate",
        "effective_date,currency,market,category,rate,note",
    ],
)
def test_a_wrong_header_is_rejected(tmp_path, header):
    path = write(tmp_path, header, GOOD_BEFORE)
    stderr = StringIO()

    with pytest.raises(CommandError, match=r"\(1 problem\(s\)\)"):
        call_command("load_rate_card", str(path), stdout=StringIO(), stderr=stderr)

    assert stderr.getvalue() == f"{path}:1: header must be exactly: {HEADER}\n"
    assert RateCardRate.objects.count() == 0


def test_a_file_with_only_a_header_is_rejected():
    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=[HEADER])

    assert raised.value.problems == [(1, "the file holds no rates")]


def test_a_byte_order_mark_from_a_spreadsheet_export_is_accepted(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(f"{HEADER}\r\n{GOOD_BEFORE}\r\n", encoding="utf-8-sig")

    stdout, _ = load_command(path)

    assert stdout == "Loaded 1 new rate(s); 0 already loaded unchanged.\n"
    assert RateCardRate.objects.get().rate == Decimal("0.125580")


def test_a_different_rate_for_a_loaded_key_is_refused_and_nothing_of_the_file_is_loaded(tmp_path):
    rate_card_load(lines=[HEADER, GOOD_BEFORE])
    path = write(tmp_path, HEADER, GOOD_AFTER, "2026-07-01,EUR,DE,marketing,0.2", "2026-08-01,EUR,DE,marketing,0.13")
    stderr = StringIO()

    with pytest.raises(CommandError, match=r"^Rate card rejected \(1 problem\(s\)\); nothing was loaded\.$"):
        call_command("load_rate_card", str(path), stdout=StringIO(), stderr=stderr)

    assert stderr.getvalue() == (
        f"{path}:3: 2026-07-01 EUR DE marketing is already loaded at 0.125580; "
        "rates in use cannot change, load a new effective date\n"
    )
    assert list(RateCardRate.objects.values_list("market", "rate")) == [("DE", Decimal("0.125580"))]


def test_the_same_rate_written_differently_is_not_a_conflict():
    rate_card_load(lines=[HEADER, GOOD_BEFORE])

    result = rate_card_load(lines=[HEADER, "2026-07-01,EUR,DE,marketing,0.12558"])

    assert (result.created, result.unchanged) == (0, 1)


def test_a_conflict_is_reported_at_its_file_line_when_the_file_has_blank_lines():
    rate_card_load(lines=[HEADER, GOOD_BEFORE])

    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=[HEADER, "", GOOD_AFTER, "2026-07-01,EUR,DE,marketing,0.2"])

    assert [line for line, _ in raised.value.problems] == [4]


def test_a_missing_file_is_a_command_error(tmp_path):
    missing = tmp_path / "nope.csv"

    with pytest.raises(CommandError) as raised:
        call_command("load_rate_card", str(missing), stdout=StringIO(), stderr=StringIO())

    assert str(raised.value) == f"Cannot read {missing}: No such file or directory"


def test_a_category_meta_introduced_loads_only_when_named():
    lines = [HEADER, "2026-07-01,EUR,OTHER,marketing_carousel,0.0471"]
    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=lines)
    assert raised.value.problems == [(2, f"category 'marketing_carousel' is not one of {CATEGORIES}")]
    assert RateCardRate.objects.count() == 0

    result = rate_card_load(lines=lines, new_categories=["marketing_carousel"])

    assert (result.created, RateCardRate.objects.get().category) == (1, "marketing_carousel")
