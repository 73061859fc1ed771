"""The messaging platform's endpoints: usage events in batches, send permission per hub (service key only)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money
from rest_framework.test import APIClient

from api.keys import api_key_create, api_key_revoke
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage, RateCardRate
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, WabaFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
USAGE_URL = "/api/v1/usage-events"


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def rate_card():
    RateCardRate.objects.bulk_create(
        RateCardRate(effective_date=dt.date(2026, 7, 1), currency="EUR", market=market, category=category, rate=rate)
        for market, category, rate in [
            ("DE", "marketing", Decimal("0.130000")),
            ("DE", "utility", Decimal("0.040000")),
            ("DE", "service", Decimal("0")),
        ]
    )


@pytest.fixture
def platform():
    _, plaintext = api_key_create(name="Messaging platform")
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


@pytest.fixture
def number():
    return PhoneNumberFactory(e164="+4915112345678", waba=WabaFactory(meta_waba_id="2001"))


def event(number, n, **overrides):
    return {
        "message_id": f"wamid.{n}",
        "waba_id": number.waba.meta_waba_id,
        "phone_number": number.e164,
        "recipient_country": "DE",
        "category": "marketing",
        "billable": True,
        "pricing_model": "PMP",
        "timestamp": "2026-11-03T10:15:00Z",
        **overrides,
    }


def post_events(client, events):
    return client.post(USAGE_URL, {"events": events}, format="json")


def test_a_batch_records_the_valid_events_and_reports_each_rejection_by_index(platform, number):
    response = post_events(
        platform,
        [event(number, 1), event(number, 2, category="bulk"), event(number, 3, category="utility"), {"oops": 1}],
    )

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 2,
        "rejections": [
            {
                "index": 1,
                "reason": "unknown category 'bulk' (expected one of: marketing, marketing_lite, utility, "
                "authentication, authentication_international, service, referral_conversion)",
            },
            {
                "index": 3,
                "reason": "missing field(s): message_id, waba_id, phone_number, recipient_country, category, "
                "billable, timestamp",
            },
        ],
    }
    assert sorted(MessageUsage.objects.values_list("message_id", "cost")) == [
        ("wamid.1", Decimal("0.130000")),
        ("wamid.3", Decimal("0.040000")),
    ]
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.170000")


def test_a_retried_batch_posts_nothing_twice(platform, number):
    batch = [event(number, 1), event(number, 2), event(number, 2)]
    first = post_events(platform, batch)
    retried = post_events(platform, batch)

    assert first.json() == {"accepted": 2, "duplicates": 1, "rejected": 0, "rejections": []}
    assert (retried.status_code, retried.json()) == (
        200,
        {"accepted": 0, "duplicates": 3, "rejected": 0, "rejections": []},
    )
    assert MessageUsage.objects.count() == 2
    assert LedgerEntry.objects.filter(kind=EntryKind.USAGE).count() == 1
    assert CreditAccount.objects.get(hub=number.waba.hub).balance == Decimal("-0.260000")


def test_a_batch_without_one_valid_event_is_refused_with_each_reason(platform, number):
    response = post_events(platform, [event(number, 1, waba_id="999"), event(number, 2, billable="yes")])

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "No event in the batch is valid.",
            "fields": {"events": {"0": ["unknown WABA 999"], "1": ["billable must be true or false"]}},
        }
    }
    assert not MessageUsage.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": []}, "Send at least one event."),
        ({"events": {"message_id": "x"}}, "Expected a list of events."),
        ({}, "This field is required."),
    ],
)
def test_a_malformed_envelope_is_refused(platform, body, message):
    response = platform.post(USAGE_URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": "The request has invalid fields.", "fields": {"events": [message]}}
    }


def test_more_than_1000_events_are_refused_and_none_recorded(platform, number):
    response = post_events(platform, [event(number, n) for n in range(1001)])

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"events": ["A batch holds at most 1000 events, got 1001."]}
    assert not MessageUsage.objects.exists()


def test_a_full_batch_costs_as_many_queries_as_a_small_one(platform, number):
    """No per-event database work in the endpoint: the usage service's constant number of queries, no more."""
    other = PhoneNumberFactory(e164="+4915112345679", waba=number.waba)
    post_events(platform, [event(number, "warm")])  # the key lookup is cached from here on

    with CaptureQueriesContext(connection) as small:
        assert post_events(platform, [event(number, "a"), event(other, "b")]).json()["accepted"] == 2
    with CaptureQueriesContext(connection) as full:
        events = [event(number if n % 2 else other, f"full.{n}") for n in range(1000)]
        assert post_events(platform, events).json()["accepted"] == 1000

    assert len(full) == len(small)


@pytest.mark.parametrize("path", [USAGE_URL, "/api/v1/hubs/HUB-AAAAAAAA/send-permission"])
def test_only_the_service_key_gets_in(path):
    client_key = api_key_create(name="Client key", party=ClientFactory())[1]
    revoked, revoked_plaintext = api_key_create(name="Old platform key")
    api_key_revoke(key=revoked)

    def call(headers):
        client = APIClient(**headers)
        return client.post(path, {}, format="json") if path == USAGE_URL else client.get(path)

    no_key = call({})
    wrong_kind = call({"HTTP_AUTHORIZATION": f"Bearer {client_key}"})
    revoked_key = call({"HTTP_AUTHORIZATION": f"Bearer {revoked_plaintext}"})

    assert (no_key.status_code, no_key.json()["error"]["code"]) == (401, "not_authenticated")
    assert (wrong_kind.status_code, wrong_kind.json()["error"]["code"]) == (403, "permission_denied")
    assert revoked_key.status_code == 401
    assert revoked_key.json()["error"] == {
        "code": "authentication_failed",
        "message": "Unknown or revoked API key.",
        "fields": {},
    }


def test_a_blocked_hub_is_not_allowed_to_send_and_is_told_why(platform):
    hub = HubFactory()  # a new hub's balance is 0.00

    response = platform.get(f"/api/v1/hubs/{hub.hub_id}/send-permission")

    assert response.status_code == 200
    assert response.json() == {
        "allowed": False,
        "reasons": [
            {
                "reason": "CREDIT_BALANCE_DEPLETED",
                "detail": "Credit balance 0.00 EUR",
                "since": "2026-11-22T12:00:00+00:00",
            }
        ],
    }


def test_a_funded_hub_is_allowed_to_send(platform):
    hub = HubFactory()
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("5.00", "EUR"), key="funds")

    response = platform.get(f"/api/v1/hubs/{hub.hub_id}/send-permission")

    assert (response.status_code, response.json()) == (200, {"allowed": True})


@pytest.mark.parametrize("hub_id", ["HUB-ZZZZZZZZ", "HUB-%20x", "x" * 40])
def test_an_unknown_hub_is_404(platform, hub_id):
    HubFactory()

    response = platform.get(f"/api/v1/hubs/{hub_id}/send-permission")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No hub with this id.", "fields": {}}}


def test_the_schema_documents_both_endpoints(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    usage = schema["paths"]["/api/v1/usage-events"]["post"]
    permission = schema["paths"]["/api/v1/hubs/{hub_id}/send-permission"]["get"]
    assert (usage["operationId"], permission["operationId"]) == ("usage_events_create", "hub_send_permission")
    assert sorted(usage["responses"]) == ["200", "400", "401", "403", "413", "415"]
    assert sorted(permission["responses"]) == ["200", "400", "401", "403", "404"]
    assert usage["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UsageEventBatchRequest"
    }
