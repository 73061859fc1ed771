"""Meta's own documented webhook samples, verbatim (fixtures/meta/, sources in fixtures/meta/SOURCES.md), signed
and posted to /webhooks/meta/ for a test WABA and number: each is handled as issue 12 says.

Only the WABA id and phone_number_id of Meta's samples were changed, to the test WABA's and number's below.
"""

import copy
import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from billing.models import LedgerEntry, MessageUsage, MetaWebhookSkip
from tests.billing.usage.meta import balance, meta_number, meta_signature, rates_create, signed_post

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
SECRET = "meta-app-secret-for-the-samples"
WABA_ID = "109876543210987"  # Meta's samples: 102290129340398
PHONE_NUMBER_ID = "110000000000042"  # Meta's samples: 106540352242922
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="  # the wamid of Meta's status samples
RATES = [
    ("EUR", "NORTH_AMERICA", "marketing", "0.025200"),
    ("EUR", "NORTH_AMERICA", "utility", "0.003400"),
    ("EUR", "OTHER", "marketing", "0.060400"),
]


def sample(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def setup(settings):
    settings.META_APP_SECRET = SECRET
    rates_create(RATES)
    with time_machine.travel(dt.datetime(2025, 7, 1, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def number():
    return meta_number(waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)


def post(payload: dict):
    """Signed as Meta signs (X-Hub-Signature-256 over the raw body); the drain queued on commit runs eagerly."""
    body = json.dumps(payload).encode()
    response = signed_post(body, meta_signature(body, SECRET))
    assert response.status_code == 200
    return response


def with_pricing(payload: dict, pricing: dict) -> dict:
    changed = copy.deepcopy(payload)
    changed["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = pricing
    return changed


def test_the_sent_sample_debits_the_test_hub_exactly_at_the_cards_rate(number):
    post(sample("status_sent_marketing.json"))

    usage = MessageUsage.objects.get()
    assert (usage.message_id, usage.recipient_country, usage.market, usage.category, usage.pricing_type) == (
        WAMID,
        "US",
        "NORTH_AMERICA",
        "marketing",
        "regular",
    )
    assert (usage.cost, usage.estimated, usage.unrated, usage.phone_number_id) == (
        Decimal("0.025200"),
        False,
        False,
        number.pk,
    )
    assert usage.sent_at == dt.datetime(2025, 6, 15, 23, 27, 53, tzinfo=dt.UTC)
    assert balance(number) == Decimal("-0.025200")
    assert MetaWebhookSkip.objects.count() == 0


def test_sent_then_v24_read_then_delivered_of_the_same_wamid_rate_it_once(number):
    # Meta's samples share one wamid: the sent one (with pricing and the older `conversation` object), the v24.0
    # one without pricing (it was on another status), and the 2026 delivered one with recipient_user_id.
    post(sample("status_sent_marketing.json"))
    post(sample("status_v24_without_pricing.json"))
    post(sample("bsuid_delivered_to_phone_number.json"))

    assert MessageUsage.objects.get().message_id == WAMID
    assert LedgerEntry.objects.get().amount == Decimal("-0.025200")
    assert balance(number) == Decimal("-0.025200")
    assert MetaWebhookSkip.objects.count() == 0


def test_the_delivered_sample_alone_is_rated_by_its_phone_number(number):
    post(sample("bsuid_delivered_to_phone_number.json"))

    usage = MessageUsage.objects.get()
    assert (usage.recipient_country, usage.market, usage.estimated, usage.cost) == (
        "US",
        "NORTH_AMERICA",
        False,
        Decimal("0.025200"),
    )


@pytest.mark.parametrize("name", ["status_failed.json", "bsuid_failed.json"])
def test_the_failed_samples_are_never_charged(number, name):
    post(sample(name))

    assert (MessageUsage.objects.count(), LedgerEntry.objects.count(), MetaWebhookSkip.objects.count()) == (0, 0, 0)
    assert balance(number) == 0


def test_the_recipient_without_a_phone_number_is_rated_at_rest_of_world_and_flagged_estimated(number):
    post(sample("bsuid_delivered_to_bsuid.json"))

    usage = MessageUsage.objects.get()
    assert (usage.recipient_country, usage.market, usage.estimated, usage.cost) == (
        "",
        "OTHER",
        True,
        Decimal("0.060400"),
    )
    assert balance(number) == Decimal("-0.060400")


def test_the_incoming_message_sample_is_acknowledged_and_listed_for_staff_with_the_reason(number, admin_client):
    post(sample("bsuid_incoming_text.json"))

    skip = MetaWebhookSkip.objects.get()
    assert (skip.reason, skip.waba_id, skip.phone_number_id, skip.field) == (
        "1 incoming message(s): customers' messages are not billed",
        WABA_ID,
        PHONE_NUMBER_ID,
        "messages",
    )
    assert skip.payload["messages"][0]["text"] == {"body": "Does it come in another color?"}
    assert MessageUsage.objects.count() == 0
    page = admin_client.get("/admin/billing/metawebhookskip/").content.decode()
    assert "1 incoming message(s): customers&#x27; messages are not billed" in page


def test_a_sample_for_a_number_nobody_onboarded_is_acknowledged_and_listed_for_staff(admin_client):
    response = post(sample("status_sent_marketing.json"))

    assert response.json()["received"] > 0
    skip = MetaWebhookSkip.objects.get()
    reason = "unknown phone number ID '110000000000042' (set it on the number in admin)"
    assert (skip.reason, skip.message_id, skip.waba_id) == (reason, WAMID, WABA_ID)
    assert MessageUsage.objects.count() == 0
    page = admin_client.get("/admin/billing/metawebhookskip/", {"q": PHONE_NUMBER_ID}).content.decode()
    assert "unknown phone number ID &#x27;110000000000042&#x27; (set it on the number in admin)" in page


@pytest.mark.parametrize(
    ("pricing", "pricing_type", "category"),
    [
        (sample("pricing_free_customer_service_service.json"), "free_customer_service", "service"),
        (sample("pricing_free_customer_service_utility.json"), "free_customer_service", "utility"),
        # Meta documents the value but publishes no literal sample of it: the reference's pricing object, typed so.
        ({"billable": False, "pricing_model": "PMP", "type": "free_entry_point", "category": "marketing"},
         "free_entry_point", "marketing"),
    ],
)  # fmt: skip
def test_the_free_pricing_samples_cost_nothing_and_are_recorded_with_their_type(
    number, pricing, pricing_type, category
):
    post(with_pricing(sample("status_sent_marketing.json"), pricing))

    usage = MessageUsage.objects.get()
    assert (usage.pricing_type, usage.category, usage.billable, usage.cost) == (pricing_type, category, False, 0)
    assert (LedgerEntry.objects.count(), balance(number)) == (0, 0)


NEW_CATEGORY = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing_carousel"}


def test_a_category_meta_introduces_without_a_rate_is_held_at_zero_unrated_and_listed_for_staff(number, admin_client):
    post(with_pricing(sample("status_sent_marketing.json"), NEW_CATEGORY))

    usage = MessageUsage.objects.get()
    assert (usage.category, usage.unrated, usage.cost, usage.billable) == ("marketing_carousel", True, 0, True)
    assert balance(number) == 0
    listed = admin_client.get("/admin/billing/messageusage/", {"unrated__exact": "1"}).content.decode()
    assert WAMID in listed
    assert WAMID not in admin_client.get("/admin/billing/messageusage/", {"unrated__exact": "0"}).content.decode()


def test_a_category_meta_introduces_is_rated_at_rest_of_world_when_the_card_carries_it(number, tmp_path):
    card = tmp_path / "card.csv"
    card.write_text("effective_date,currency,market,category,rate\n2025-06-01,EUR,OTHER,marketing_carousel,0.0471\n")
    call_command("load_rate_card", str(card), "--new-category", "marketing_carousel", stdout=StringIO())

    post(with_pricing(sample("status_sent_marketing.json"), NEW_CATEGORY))

    usage = MessageUsage.objects.get()
    # The recipient is in the US; the card has no NORTH_AMERICA rate for the category, so OTHER's applies.
    assert (usage.category, usage.market, usage.unrated, usage.rate, usage.cost) == (
        "marketing_carousel",
        "OTHER",
        False,
        Decimal("0.047100"),
        Decimal("0.047100"),
    )
    assert balance(number) == Decimal("-0.047100")
