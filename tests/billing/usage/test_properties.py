"""Property-based tests (hypothesis): the usage parser, the import line decoder, the money parser and the rate card
reader answer any input with a value or a reason, never an exception (issue 11)."""

import datetime as dt
import json
import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.management.commands.import_usage import Command as ImportUsage
from billing.money import decimal_plain
from billing.usage.ingest import (
    EARLIEST_EVENT,
    FUTURE_TOLERANCE,
    REQUIRED_FIELDS,
    Rejection,
    UsageEvent,
    usage_event_parse,
)
from billing.usage.rate_card import RateCardError, rate_card_parse, rate_card_text

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Plausible events: the required names, each with a value that is sometimes right and often anything at all.
field_values = {
    "message_id": st.text(max_size=140) | json_values,
    "waba_id": st.from_regex(r"\A[0-9]{1,40}\Z") | json_values,
    "phone_number": st.just("+4915112345678") | st.text(max_size=20) | json_values,
    "recipient_country": st.sampled_from(["DE", "de", "XK", "ZZ"]) | json_values,
    "category": st.sampled_from(["marketing", "utility", "nope"]) | json_values,
    "billable": st.booleans() | json_values,
    "timestamp": st.datetimes(timezones=st.timezones()).map(dt.datetime.isoformat)
    | st.integers()
    | st.text(max_size=30)
    | json_values,
    "pricing_model": st.sampled_from(["PMP", "CBP"]) | json_values,
}
events = st.fixed_dictionaries({}, optional=field_values) | st.fixed_dictionaries(
    {name: field_values[name] for name in REQUIRED_FIELDS}, optional={"pricing_model": field_values["pricing_model"]}
)


def storable(text: str) -> bool:
    return "\x00" not in text and text.encode("utf-8", errors="replace").decode("utf-8") == text


@PROPERTY
@given(raw=json_values | events)
def test_usage_event_parse_gives_an_event_or_a_reason_for_any_json_value(raw):
    parsed = usage_event_parse(raw, now=NOW)
    if isinstance(parsed, str):
        assert parsed and len(parsed) < 400
        return
    assert isinstance(parsed, UsageEvent)
    assert EARLIEST_EVENT <= parsed.sent_at <= NOW + FUTURE_TOLERANCE
    assert storable(parsed.message_id) and 0 < len(parsed.message_id) <= 128
    assert parsed.waba_id.isascii() and parsed.waba_id.isdigit()
    assert isinstance(parsed.phone_number, str) and isinstance(parsed.billable, bool)


@PROPERTY
@given(line=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()) | events.map(
    lambda e: json.dumps(e, default=str).encode()))  # fmt: skip
def test_an_import_line_decodes_to_a_value_or_a_rejection_whatever_its_bytes(line):
    decoded = ImportUsage._decode(line)
    if isinstance(decoded, Rejection):
        assert decoded.reason
    else:
        assert json.dumps(decoded) is not None


@PROPERTY
@given(text=st.text(max_size=40) | st.from_regex(r"\A-?[0-9]{1,12}(\.[0-9]{1,6})?\Z"))
def test_the_money_parser_takes_plain_decimal_notation_only(text):
    parsed = decimal_plain(text)
    plain = re.fullmatch(r"-?[0-9]{1,30}(\.[0-9]{1,30})?", text, flags=re.ASCII) is not None
    assert (parsed is not None) == plain
    if plain:
        assert parsed == Decimal(text) and parsed.is_finite()


@PROPERTY
@given(amount=st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9))
def test_the_money_parser_reads_back_every_amount_written_plainly(amount):
    assert decimal_plain(f"{amount:f}") == amount


csv_cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["2026-07-01", "EUR", "DE", "marketing", "0.125", "1e3", ""]
)
csv_lines = st.lists(csv_cells, min_size=0, max_size=7).map(lambda cells: ",".join(cells).encode() + b"\n")
rate_files = st.lists(csv_lines | st.binary(max_size=60), max_size=8).map(
    lambda lines: [b"effective_date,currency,market,category,rate\n", *lines]
) | st.lists(st.binary(max_size=80), max_size=6)


@PROPERTY
@given(lines=rate_files)
def test_the_rate_card_reader_gives_rates_or_line_numbered_problems_for_any_bytes(lines):
    try:
        rates = rate_card_parse(rate_card_text(lines))
    except RateCardError as error:
        assert error.problems
        assert all(isinstance(line, int) and line >= 1 and reason for line, reason in error.problems)
        return
    assert rates and all(0 <= rate.rate <= 1000 for _, rate in rates)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=20), st.booleans())
def test_the_meta_recipient_country_read_from_a_single_country_calling_code_is_libphonenumbers(digits, plus):
    """The shortcut for Meta's recipient_id (billing/usage/meta_webhooks.py) answers only where libphonenumber's
    parse would answer the same country, and steps aside everywhere else."""
    from billing.usage.meta_webhooks import _country_of_number, _recipient_country, _single_region

    recipient = ("+" if plus else "") + digits
    shortcut = _single_region(digits)
    assert shortcut is None or shortcut == _country_of_number(recipient)
    assert _recipient_country({"recipient_id": recipient}) == _country_of_number(recipient)


def test_the_meta_recipient_shortcut_is_taken_for_single_country_codes_and_not_for_shared_ones():
    from billing.usage.meta_webhooks import _single_region

    assert [_single_region(d) for d in ("4915112345678", "5511987654321", "919876543210", "23480123456")] == [
        "DE", "BR", "IN", "NG",
    ]  # fmt: skip
    assert [_single_region(d) for d in ("16505551234", "447911123456", "79161234567", "80012345678", "49")] == [
        None, None, None, None, None,
    ]  # fmt: skip
