"""load_rate_card answers any file with a line-numbered rejection, never a traceback, and reads a file of bounded
size; a new effective date may not give a day already rated and debited a second rate (issue 11)."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing.models import MessageUsage, RateCardRate
from billing.usage.ingest import usage_record_batch
from billing.usage.rate_card import MAX_FILE_BYTES, RateCardError, rate_card_load, rate_card_text
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

HEADER = "effective_date,currency,market,category,rate"
GOOD = "2026-07-01,EUR,DE,marketing,0.125580"


def rejected(tmp_path, data: bytes) -> str:
    path = tmp_path / "rates.csv"
    path.write_bytes(data)
    stderr = StringIO()
    with pytest.raises(CommandError, match=r"^Rate card rejected \(1 problem\(s\)\); nothing was loaded\.$"):
        call_command("load_rate_card", str(path), stdout=StringIO(), stderr=stderr)
    assert RateCardRate.objects.count() == 0
    return stderr.getvalue().removeprefix(f"{path}:")


def test_spaces_after_the_header_commas_name_the_same_columns(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("effective_date, currency, market, category, rate\n" + GOOD + "\n", encoding="utf-8")
    stdout = StringIO()
    call_command("load_rate_card", str(path), stdout=stdout, stderr=StringIO())
    assert stdout.getvalue() == "Loaded 1 new rate(s); 0 already loaded unchanged.\n"
    assert list(RateCardRate.objects.values_list("market", "rate")) == [("DE", Decimal("0.125580"))]


def test_a_latin1_byte_is_rejected_at_its_line(tmp_path):
    data = f"{HEADER}\n{GOOD}\n2026-07-01,EUR,DE,utility,0.03\xa0\n".encode("latin-1")
    assert rejected(tmp_path, data) == "3: byte 0xa0 at column 31 is not UTF-8; save the file as UTF-8\n"


def test_a_field_over_the_csv_limit_is_rejected_at_its_line(tmp_path):
    data = f'{HEADER}\n{GOOD}\n2026-07-01,EUR,DE,utility,"{"9" * 200_000}"\n'.encode()
    assert rejected(tmp_path, data) == "3: not a CSV line (field larger than field limit (131072))\n"


def test_a_file_over_the_size_limit_is_refused_with_a_clear_message_before_it_is_all_read(tmp_path):
    lines_read = []

    def lines():
        yield (HEADER + "\n").encode()
        for n in range(10_000_000):  # 50 MB and more if the loader read it all
            lines_read.append(n)
            yield (GOOD + "\n").encode()

    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=rate_card_text(lines()))
    line_over, size = 1, len(HEADER) + 1  # the first line that takes the file over the limit
    while size <= MAX_FILE_BYTES:
        line_over, size = line_over + 1, size + len(GOOD) + 1
    assert raised.value.problems == [(line_over, "the file is larger than 2 MB; a rate card is far smaller")]
    assert len(lines_read) == line_over - 1
    assert RateCardRate.objects.count() == 0


def test_a_50_mb_file_is_refused_by_the_command(tmp_path):
    path = tmp_path / "rates.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        handle.write((GOOD + "\n") * (50 * 1024 * 1024 // len(GOOD)))
    stderr = StringIO()
    with pytest.raises(CommandError):
        call_command("load_rate_card", str(path), stdout=StringIO(), stderr=stderr)
    assert stderr.getvalue().endswith(": the file is larger than 2 MB; a rate card is far smaller\n")


@pytest.fixture
def rated_on_3_november():
    """A DE marketing message rated and debited on 3 November at the 1 July rate."""
    rate_card_load(lines=[HEADER, "2026-07-01,EUR,DE,marketing,0.1", "2026-07-01,EUR,OTHER,marketing,0.05"])
    PhoneNumberFactory(e164="+4915112345678", waba=WabaFactory(meta_waba_id="555", timezone="Europe/Berlin"))
    event = {"message_id": "wamid.1", "waba_id": "555", "phone_number": "+4915112345678", "recipient_country": "DE",
             "category": "marketing", "billable": True, "timestamp": "2026-11-03T10:00:00Z"}  # fmt: skip
    with time_machine.travel(dt.datetime(2026, 11, 4, tzinfo=dt.UTC), tick=False):
        assert usage_record_batch(events=[event]).accepted == 1
    assert MessageUsage.objects.get().rate == Decimal("0.100000")


@pytest.mark.parametrize("effective", ["2026-11-03", "2026-10-01"])
def test_a_new_effective_date_on_a_rated_day_is_refused(rated_on_3_november, effective):
    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=[HEADER, f"{effective},EUR,DE,utility,0.03", f"{effective},EUR,DE,marketing,0.2"])
    assert raised.value.problems == [
        (
            3,
            f"EUR DE marketing usage is already rated and debited up to 2026-11-03; a rate effective {effective} "
            "would give those days two rates. Load a later effective date, and correct the past with a "
            "reconciliation",
        )
    ]
    assert RateCardRate.objects.count() == 2


def test_a_new_effective_date_after_the_last_rated_day_is_loaded(rated_on_3_november):
    result = rate_card_load(lines=[HEADER, "2026-11-04,EUR,DE,marketing,0.2", "2026-11-01,USD,DE,marketing,0.2"])
    assert result.created == 2


def test_usage_rated_at_the_fallback_market_also_holds_its_countrys_market(db):
    rate_card_load(lines=[HEADER, "2026-07-01,EUR,OTHER,marketing,0.05"])
    PhoneNumberFactory(e164="+4915112345678", waba=WabaFactory(meta_waba_id="555", timezone="Europe/Berlin"))
    event = {"message_id": "wamid.1", "waba_id": "555", "phone_number": "+4915112345678", "recipient_country": "DE",
             "category": "marketing", "billable": True, "timestamp": "2026-11-03T10:00:00Z"}  # fmt: skip
    with time_machine.travel(dt.datetime(2026, 11, 4, tzinfo=dt.UTC), tick=False):
        assert usage_record_batch(events=[event]).accepted == 1
    with pytest.raises(RateCardError) as raised:
        rate_card_load(lines=[HEADER, "2026-11-01,EUR,DE,marketing,0.2"])
    assert raised.value.problems[0][0] == 2
