import csv
import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage
from billing.usage.rate_card import rate_card_load
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[3] / "billing" / "usage" / "data" / "rate_card_sample.csv"
WABA_ID = "104857600099"
NUMBER = "+4915112345678"
OTHER_NUMBER = "+4915112345699"
CATEGORIES = (
    "marketing, marketing_lite, utility, authentication, authentication_international, service, referral_conversion"
)


def sample_rate(effective_date: str, currency: str, market: str, category: str) -> Decimal:
    """The rate as written in the shipped CSV (read independently of the loader)."""
    with open(SAMPLE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (row["effective_date"], row["currency"], row["market"], row["category"]) == (
                effective_date,
                currency,
                market,
                category,
            ):
                return Decimal(row["rate"])
    raise LookupError(f"{effective_date} {currency} {market} {category} is not in the sample rate card")


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture(autouse=True)
def rate_card():
    with open(SAMPLE, newline="", encoding="utf-8") as handle:
        rate_card_load(lines=handle, source=SAMPLE.name)


@pytest.fixture
def number():
    """A EUR hub's number on a Berlin WABA; a second hub's WABA holds OTHER_NUMBER."""
    PhoneNumberFactory(e164=OTHER_NUMBER)
    return PhoneNumberFactory(e164=NUMBER, waba=WabaFactory(meta_waba_id=WABA_ID, timezone="Europe/Berlin"))


def event(n: int, **overrides) -> str:
    return json.dumps(
        {
            "message_id": f"wamid.{n}",
            "waba_id": WABA_ID,
            "phone_number": NUMBER,
            "recipient_country": "DE",
            "category": "marketing",
            "billable": True,
            "pricing_model": "PMP",
            "timestamp": "2026-11-03T10:15:00Z",
            **overrides,
        }
    )


def write(tmp_path, *lines: str) -> Path:
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(path: Path, *args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("import_usage", str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def usage_rows() -> list[tuple]:
    return list(MessageUsage.objects.order_by("pk").values_list("pk", "cost", "ledger_entry_id"))


def balance(number) -> Decimal:
    return CreditAccount.objects.get(hub=number.waba.hub).balance


def test_good_lines_are_rated_from_the_rate_card_and_debited(tmp_path, number):
    november_marketing = sample_rate("2026-11-01", "EUR", "DE", "marketing")
    july_marketing = sample_rate("2026-07-01", "EUR", "DE", "marketing")
    july_utility = sample_rate("2026-07-01", "EUR", "DE", "utility")
    assert november_marketing != july_marketing  # so picking the wrong effective date would show
    path = write(
        tmp_path,
        event(1),
        event(2, category="utility"),
        event(3, timestamp="2026-10-15T09:00:00Z"),
        event(4, category="service", billable=False),
    )

    stdout, stderr = run(path)

    assert (stdout, stderr) == ("4 accepted, 0 duplicate, 0 rejected.\n", "")
    costs = dict(MessageUsage.objects.values_list("message_id", "cost"))
    assert costs == {
        "wamid.1": november_marketing,
        "wamid.2": july_utility,
        "wamid.3": july_marketing,
        "wamid.4": Decimal(0),
    }
    assert balance(number) == -(november_marketing + july_utility + july_marketing)
    assert sorted(LedgerEntry.objects.values_list("kind", "period", "amount")) == [
        (EntryKind.USAGE, dt.date(2026, 10, 1), -july_marketing),
        (EntryKind.USAGE, dt.date(2026, 11, 1), -(november_marketing + july_utility)),
    ]


def test_a_de_marketing_message_on_3_november_costs_the_november_rate(tmp_path, number):
    run(write(tmp_path, event(1)))

    usage = MessageUsage.objects.get()
    assert (usage.rate_date, usage.market, usage.currency) == (dt.date(2026, 11, 3), "DE", "EUR")
    assert usage.cost == Decimal("0.129720") == sample_rate("2026-11-01", "EUR", "DE", "marketing")
    assert balance(number) == Decimal("-0.129720")


@pytest.mark.parametrize("batch_size", ["1000", "2", "1"])
def test_bad_lines_are_reported_by_line_number_and_the_good_ones_still_recorded(tmp_path, number, batch_size):
    path = write(
        tmp_path,
        event(1),  # 1
        '{"message_id": "wamid.2", ',  # 2 truncated JSON
        "",  # 3 blank
        event(4, category="utility"),  # 4
        event(5, waba_id="999999999"),  # 5
        event(6, phone_number=OTHER_NUMBER),  # 6 a real number, on another hub's WABA
        event(7, category="promotional"),  # 7
        "   ",  # 8 whitespace only
        event(9, category="service", billable=False),  # 9
    )
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_usage", str(path), "--batch-size", batch_size, stdout=stdout, stderr=stderr)

    assert str(raised.value) == "4 line(s) rejected; see above."
    assert raised.value.returncode == 1
    assert stdout.getvalue() == "3 accepted, 0 duplicate, 4 rejected.\n"
    assert stderr.getvalue().splitlines() == [
        "line 2: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 5: unknown WABA 999999999",
        f"line 6: phone number {OTHER_NUMBER} is not on WABA {WABA_ID}",
        f"line 7: unknown category 'promotional' (expected one of: {CATEGORIES})",
    ]
    recorded = sorted(MessageUsage.objects.values_list("message_id", flat=True))
    assert recorded == ["wamid.1", "wamid.4", "wamid.9"]
    marketing = sample_rate("2026-11-01", "EUR", "DE", "marketing")
    assert balance(number) == -(marketing + sample_rate("2026-07-01", "EUR", "DE", "utility"))


def test_a_json_value_that_is_not_an_object_is_rejected(tmp_path, number):
    path = write(tmp_path, "[1, 2]", event(2))
    stderr = StringIO()

    with pytest.raises(CommandError, match="1 line"):
        call_command("import_usage", str(path), stdout=StringIO(), stderr=stderr)

    assert stderr.getvalue() == "line 1: expected a JSON object\n"
    assert MessageUsage.objects.get().message_id == "wamid.2"


def test_importing_the_same_file_twice_records_nothing_new(tmp_path, number):
    path = write(tmp_path, event(1), "", event(2, category="utility"), event(3, category="service", billable=False))
    assert run(path) == ("3 accepted, 0 duplicate, 0 rejected.\n", "")
    usage_before = usage_rows()
    entries_before = list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount"))
    balance_before = balance(number)

    assert run(path) == ("0 accepted, 3 duplicate, 0 rejected.\n", "")

    assert usage_rows() == usage_before
    assert list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount")) == entries_before
    utility = sample_rate("2026-07-01", "EUR", "DE", "utility")
    assert balance(number) == balance_before == Decimal("-0.129720") - utility


def test_a_message_repeated_within_the_file_is_counted_once(tmp_path, number):
    path = write(tmp_path, event(1), event(1))

    assert run(path) == ("1 accepted, 1 duplicate, 0 rejected.\n", "")
    assert balance(number) == Decimal("-0.129720")


def test_a_file_of_blank_lines_records_nothing(tmp_path, number):
    path = write(tmp_path, "", "  ", "\t")

    assert run(path) == ("0 accepted, 0 duplicate, 0 rejected.\n", "")
    assert not MessageUsage.objects.exists()


def test_a_message_from_the_future_is_rejected(tmp_path, number):
    # now is 12:00; ten minutes of clock skew are tolerated
    path = write(tmp_path, event(1, timestamp="2026-11-22T12:11:00Z"), event(2, timestamp="2026-11-22T12:09:00Z"))
    stderr = StringIO()

    with pytest.raises(CommandError):
        call_command("import_usage", str(path), stdout=StringIO(), stderr=stderr)

    assert stderr.getvalue() == "line 1: timestamp is in the future\n"
    assert list(MessageUsage.objects.values_list("message_id", flat=True)) == ["wamid.2"]


@pytest.mark.parametrize("batch_size", ["0", "1001"])
def test_the_batch_size_is_bounded(tmp_path, number, batch_size):
    path = write(tmp_path, event(1))

    with pytest.raises(CommandError) as raised:
        run(path, "--batch-size", batch_size)

    assert str(raised.value) == "--batch-size must be between 1 and 1000."
    assert not MessageUsage.objects.exists()


def test_a_missing_file_is_a_command_error(tmp_path):
    missing = tmp_path / "missing.jsonl"

    with pytest.raises(CommandError) as raised:
        run(missing)

    assert str(raised.value) == f"Cannot read {missing}: No such file or directory"
