"""Every bad request to the API gets a 4xx in the API's error shape and changes nothing (issue 11)."""

import json

import pytest

from billing.models import Invoice, MessageUsage
from tests.api.test_errors import shape

TOPUP = "/api/v1/hubs/{}/top-ups"


def test_period_of_year_0_is_a_400_not_a_crash(world):
    for url, who in (("/api/v1/invoices", "client_a"), ("/api/v1/partner/invoices", "partner")):
        response = world.api(who).get(url, {"period": "0000-01"})
        assert shape(response) == (400, "invalid")
        assert response.json()["error"]["fields"] == {"period": ["This value does not match the required pattern."]}


@pytest.mark.parametrize("cursor", ["cD1hYmM=", "cD0xJTAw"])
def test_a_forged_ledger_cursor_is_a_404_in_the_error_shape(world, cursor):
    response = world.api("client_a").get("/api/v1/ledger-entries", {"cursor": cursor})
    assert shape(response) == (404, "not_found")
    assert response.json()["error"]["message"] == "Invalid cursor"


def test_a_20_mb_body_is_413_in_the_error_shape(world):
    body = json.dumps({"amount": "20.00", "padding": "x" * 20_000_000})
    response = world.api("client_a").post(TOPUP.format(world.hub_a.hub_id), body, content_type="application/json")
    assert shape(response) == (413, "request_too_large")
    assert response.json()["error"]["message"] == "The request body is larger than 2.5 MB."
    assert Invoice.objects.count() == 4


def test_a_20_mb_batch_of_usage_events_is_413_in_the_error_shape(world):
    body = json.dumps({"events": [{"message_id": "x" * 1000}] * 20_000})
    response = world.api("service").post("/api/v1/usage-events", body, content_type="application/json")
    assert shape(response) == (413, "request_too_large")


@pytest.mark.parametrize("content_type", ["text/plain", ""])
def test_usage_events_not_sent_as_json_are_415(world, content_type):
    body = json.dumps({"events": [{"message_id": "wamid.1"}]})
    response = world.api("service").generic("POST", "/api/v1/usage-events", body, content_type=content_type)
    assert shape(response) == (415, "unsupported_media_type")
    assert MessageUsage.objects.count() == 0


def test_a_top_up_without_a_content_type_is_415(world):
    response = world.api("client_a").generic("POST", TOPUP.format(world.hub_a.hub_id), '{"amount": "20.00"}',
                                             content_type="")  # fmt: skip
    assert shape(response) == (415, "unsupported_media_type")


@pytest.mark.parametrize("url", ["/api/v1/usage-events", TOPUP])
def test_json_nested_100000_deep_is_a_400_parse_error(world, url):
    who = "service" if "usage" in url else "client_a"
    body = '{"events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = world.api(who).post(url.format(world.hub_a.hub_id), body, content_type="application/json")
    assert shape(response) == (400, "parse_error")
    assert response.json()["error"]["message"] == "JSON parse error - nested too deeply"


@pytest.mark.parametrize("amount", ["1e3", " 50 ", "\u0661\u0660\u0660", "50.", ".5", "+50", "NaN", "Infinity", "0x32"])
def test_a_top_up_amount_in_anything_but_plain_decimal_notation_is_refused(world, amount):
    response = world.api("client_a").post(TOPUP.format(world.hub_a.hub_id), {"amount": amount}, format="json",
                                          HTTP_IDEMPOTENCY_KEY=f"k-{amount!r}")  # fmt: skip
    assert shape(response) == (400, "invalid")
    assert response.json()["error"]["fields"] == {
        "amount": ["Enter the amount in plain decimal notation, such as 20.00."]
    }
    assert Invoice.objects.count() == 4


def test_usage_events_with_bad_values_are_rejected_by_index(world):
    events = [
        {"message_id": "wamid.\ud800", "waba_id": "111111111", "phone_number": "+4915110000001",
         "recipient_country": "DE", "category": "marketing", "billable": True, "timestamp": "2026-11-03T10:00:00Z"},
        {"message_id": "wamid.2", "waba_id": "111111111", "phone_number": {"a": 1},
         "recipient_country": "DE", "category": "marketing", "billable": True, "timestamp": "2026-11-03T10:00:00Z"},
        {"message_id": "wamid.3", "waba_id": "111111111", "phone_number": "+4915110000001",
         "recipient_country": "DE", "category": "marketing", "billable": False, "timestamp": "0001-01-01T00:00:00Z"},
    ]  # fmt: skip
    body = json.dumps({"events": events})  # ensure_ascii: the lone surrogate travels as the escape \ud800
    response = world.api("service").post("/api/v1/usage-events", body, content_type="application/json")
    assert shape(response) == (400, "invalid")
    assert response.json()["error"]["fields"] == {
        "events": {
            "0": ["message_id must be a non-empty string of at most 128 characters"],
            "1": ["phone number must be in E.164 format (+ and country code)"],
            "2": ["timestamp is before 2015-01-01, earlier than any WhatsApp Business message"],
        }
    }
    assert MessageUsage.objects.count() == 0
