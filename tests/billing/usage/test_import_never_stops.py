"""import_usage reads every line of any file to its end: each line is recorded or reported by number with its reason,
and the summary is printed (issue 11). Each line below once crashed the command and lost its batch."""

# ruff: noqa: F811  -- the fixtures of test_import_usage (number, now, rate_card) are imported to be used here
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import MessageUsage
from tests.billing.usage.test_import_usage import NUMBER, OTHER_NUMBER, event, now, number, rate_card  # noqa: F401

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def run_bytes(tmp_path, data: bytes) -> tuple[str, str]:
    path = tmp_path / "usage.jsonl"
    path.write_bytes(data)
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_usage", str(path), stdout=stdout, stderr=stderr)
    assert raised.value.returncode == 1
    return stdout.getvalue(), stderr.getvalue()


def recorded() -> list[str]:
    return sorted(MessageUsage.objects.values_list("message_id", flat=True))


def test_every_bad_line_is_reported_by_number_and_every_good_line_recorded(tmp_path, number):
    lines = [
        event(1, timestamp="0001-01-01T00:00:00+05:30").encode(),
        event(2, timestamp="9999-12-31T23:00:00-05:00").encode(),
        event(3, timestamp="0001-01-01T00:00:00Z", billable=False).encode(),
        event(4, phone_number={"e164": NUMBER}).encode(),
        event(5, phone_number=[NUMBER]).encode(),
        event(6).replace('"wamid.6"', '"wamid.\\ud800"').encode(),
        DEEP.encode(),
        event(8).encode().replace(b"DE", b"D\xff"),
        event(9).replace('"billable": true', '"billable": ' + "9" * 5000).encode(),
        event(10).encode(),
        event(11, timestamp=99999999999999999999).encode(),
    ]
    stdout, stderr = run_bytes(tmp_path, b"\n".join(lines) + b"\n")
    column_of_e = event(8).index('"DE"') + 3  # 1-based column of the E replaced by 0xff

    assert stderr.splitlines() == [
        "line 1: timestamp is out of range",
        "line 2: timestamp is out of range",
        "line 3: timestamp is before 2015-01-01, earlier than any WhatsApp Business message",
        "line 4: phone number must be in E.164 format (+ and country code)",
        "line 5: phone number must be in E.164 format (+ and country code)",
        "line 6: message_id must be a non-empty string of at most 128 characters",
        "line 7: line is longer than 65536 bytes",
        f"line 8: not valid UTF-8 (byte 0xff at column {column_of_e})",
        "line 9: not valid JSON (Exceeds the limit (4300 digits) for integer string conversion: value has 5000 "
        "digits; use sys.set_int_max_str_digits() to increase the limit)",
        "line 11: timestamp is out of range",
    ]
    assert stdout == "1 accepted, 0 duplicate, 10 rejected.\n"
    assert recorded() == ["wamid.10"]


def test_json_nested_100000_deep_is_rejected_not_a_crash(tmp_path, number):
    deep_object = '{"a":' * 100_000 + "1" + "}" * 100_000
    stdout, stderr = run_bytes(tmp_path, f"{deep_object}\n{event(2)}\n".encode())
    assert stderr == "line 1: line is longer than 65536 bytes\n"
    assert stdout == "1 accepted, 0 duplicate, 1 rejected.\n"


def test_json_nested_deeper_than_python_recurses_within_the_line_limit(tmp_path, number):
    deep = "[" * 30_000 + "]" * 30_000
    stdout, stderr = run_bytes(tmp_path, f"{deep}\n{event(2)}\n".encode())
    assert stderr == "line 1: not valid JSON (nested too deeply)\n"
    assert recorded() == ["wamid.2"]


def test_a_file_with_a_utf8_byte_order_mark_is_accepted(tmp_path, number):
    path = tmp_path / "usage.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + f"{event(1)}\n{event(2)}\n".encode())
    stdout = StringIO()
    call_command("import_usage", str(path), stdout=stdout, stderr=StringIO())
    assert stdout.getvalue() == "2 accepted, 0 duplicate, 0 rejected.\n"
    assert recorded() == ["wamid.1", "wamid.2"]


@pytest.mark.parametrize("batch_size", ["1000", "1"])
def test_a_duplicate_id_whose_first_copy_is_rejected_keeps_the_valid_second_copy(tmp_path, number, batch_size):
    # The first copy names a number that is on another hub's WABA: rejected. The second is the real message.
    first = event(1, phone_number=OTHER_NUMBER)
    path = tmp_path / "usage.jsonl"
    path.write_text(f"{first}\n{event(1)}\n{event(1)}\n", encoding="utf-8")
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("import_usage", str(path), "--batch-size", batch_size, stdout=stdout, stderr=stderr)
    assert stderr.getvalue() == f"line 1: phone number {OTHER_NUMBER} is not on WABA 104857600099\n"
    assert stdout.getvalue() == "1 accepted, 1 duplicate, 1 rejected.\n"
    assert recorded() == ["wamid.1"]
    assert json.loads(first)["message_id"] == "wamid.1"
