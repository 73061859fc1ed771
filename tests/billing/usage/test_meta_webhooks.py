"""POST /webhooks/meta/: WhatsApp Cloud API status webhooks as Meta sends them, signed with the app secret.

The payloads follow Meta's documented status webhook (object whatsapp_business_account, entry[].id the WABA,
changes[].value.metadata.phone_number_id, statuses[] with pricing), using the issue's sample ids and timestamp.
"""

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from billing.models import (
    LedgerEntry,
    MessageUsage,
    MetaWebhookInbox,
    MetaWebhookSkip,
)
from tests.billing.usage.meta import balance, meta_number, meta_signature, rates_create, signed_post
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

SECRET = "meta-app-secret-for-tests"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
RATES = [
    # currency, market, category, rate (effective 2025-01-01)
    ("EUR", "NORTH_AMERICA", "marketing", "0.025200"),
    ("EUR", "NORTH_AMERICA", "utility", "0.003400"),
    ("EUR", "NORTH_AMERICA", "marketing_lite", "0.020100"),
    ("EUR", "DE", "marketing", "0.113100"),
    ("EUR", "OTHER", "marketing", "0.060400"),
    ("EUR", "OTHER", "referral_conversion", "0.010000"),
]


@pytest.fixture(autouse=True)
def setup(settings):
    settings.META_APP_SECRET = SECRET
    settings.META_VERIFY_TOKEN = "verify-me"
    rates_create(RATES)
    with time_machine.travel(dt.datetime(2025, 6, 16, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def number():
    return meta_number(waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)


def status(**overrides) -> dict:
    """One status as in Meta's sample: a sent marketing message with per-message pricing."""
    return {
        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
        "status": "sent",
        "timestamp": "1750030073",
        "recipient_id": "16505551234",
        "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
        **overrides,
    }


def webhook(*statuses, messages=None, field="messages", phone_number_id=PHONE_NUMBER_ID) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if statuses:
        value["statuses"] = list(statuses)
    if messages:
        value["messages"] = messages
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": field}]}],
    }


def post(payload, *, secret=SECRET, signature=None):
    body = json.dumps(payload).encode()
    return signed_post(body, meta_signature(body, secret) if signature is None else signature)


def test_signed_sample_debits_the_hub_at_the_cards_rate(number):
    response = post(webhook(status()))

    assert response.status_code == 200
    assert response.json() == {"received": MetaWebhookInbox.objects.get().pk}
    assert MetaWebhookInbox.objects.get().processed_at == dt.datetime(2025, 6, 16, 12, tzinfo=dt.UTC)
    usage = MessageUsage.objects.get()
    assert (usage.message_id, usage.recipient_country, usage.market, usage.category) == (
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
        "US",
        "NORTH_AMERICA",
        "marketing",
    )
    assert (usage.pricing_type, usage.billable, usage.estimated, usage.unrated) == ("regular", True, False, False)
    assert (usage.cost, usage.phone_number_id) == (Decimal("0.025200"), number.pk)
    assert usage.sent_at == dt.datetime(2025, 6, 15, 23, 27, 53, tzinfo=dt.UTC)
    assert balance(number) == Decimal("-0.025200")
    assert LedgerEntry.objects.get().amount == Decimal("-0.025200")


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc", "forged"])
def test_forged_or_missing_signature_is_refused_and_changes_nothing(number, signature):
    response = post(webhook(status()), signature=signature)

    assert response.status_code == 401
    assert response.content == b"invalid X-Hub-Signature-256"
    assert (MessageUsage.objects.count(), MetaWebhookSkip.objects.count(), LedgerEntry.objects.count()) == (0, 0, 0)
    assert MetaWebhookInbox.objects.count() == 0
    assert balance(number) == 0


def test_body_signed_with_another_secret_is_refused(number):
    assert post(webhook(status()), secret="not-our-secret").status_code == 401
    assert MessageUsage.objects.count() == 0


def test_without_an_app_secret_every_post_is_refused(number, settings):
    settings.META_APP_SECRET = ""
    assert post(webhook(status()), secret="").status_code == 401
    assert MessageUsage.objects.count() == 0


def test_tampered_body_is_refused(number):
    body = json.dumps(webhook(status())).encode()
    tampered = body.replace(b'"marketing"', b'"utility"')
    response = signed_post(tampered, meta_signature(body, SECRET))
    assert response.status_code == 401
    assert MessageUsage.objects.count() == 0


def test_the_same_wamid_is_rated_once_whichever_status_carries_pricing(number):
    post(webhook(status(status="delivered", timestamp="1750030080")))
    post(webhook(status(status="sent"), status(status="read", timestamp="1750030090")))

    assert MessageUsage.objects.count() == 1
    assert MessageUsage.objects.get().sent_at == dt.datetime(2025, 6, 15, 23, 28, tzinfo=dt.UTC)
    assert balance(number) == Decimal("-0.025200")


def test_a_retried_webhook_posts_nothing_twice(number):
    payload = webhook(status(), status(id="wamid.second", pricing={"type": "regular", "category": "utility"}))
    post(payload)
    post(payload)
    assert balance(number) == Decimal("-0.028600")
    assert MessageUsage.objects.count() == 2


def test_failed_is_never_charged_and_a_status_without_pricing_is_ignored(number):
    failed = status(status="failed", errors=[{"code": 131049, "title": "Message not delivered"}])
    unpriced = status(id="wamid.unpriced", status="read")
    del unpriced["pricing"]

    assert post(webhook(failed, unpriced)).status_code == 200

    assert (MessageUsage.objects.count(), MetaWebhookSkip.objects.count()) == (0, 0)
    assert balance(number) == 0


def test_incoming_messages_are_acknowledged_and_kept_as_skipped(number):
    message = {
        "from": "16505551234",
        "id": "wamid.in1",
        "timestamp": "1750030000",
        "type": "text",
        "text": {"body": "hi"},
    }
    response = post(webhook(messages=[message]))

    assert response.status_code == 200
    skip = MetaWebhookSkip.objects.get()
    assert (skip.reason, skip.waba_id, skip.phone_number_id, skip.field) == (
        "1 incoming message(s): customers' messages are not billed",
        WABA_ID,
        PHONE_NUMBER_ID,
        "messages",
    )
    assert skip.payload["messages"] == [message]
    assert MessageUsage.objects.count() == 0


def test_other_fields_are_acknowledged_and_kept_as_skipped(number):
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}],
    }
    assert post(payload).status_code == 200
    skip = MetaWebhookSkip.objects.get()
    assert (skip.reason, skip.field) == ("field 'account_update' carries no message pricing", "account_update")


def test_unknown_number_is_acknowledged_and_kept_with_the_reason(number):
    response = post(webhook(status(), phone_number_id="999000111"))

    assert response.status_code == 200
    skip = MetaWebhookSkip.objects.get()
    assert skip.reason == "unknown phone number ID '999000111' (set it on the number in admin)"
    assert skip.message_id == status()["id"]
    assert balance(number) == 0


def test_number_on_another_waba_is_kept_with_the_reason(number):
    payload = webhook(status())
    payload["entry"][0]["id"] = "555000555"
    post(payload)
    assert MetaWebhookSkip.objects.get().reason == "unknown WABA 555000555"
    assert MessageUsage.objects.count() == 0


def test_not_json_is_acknowledged_and_kept(number):
    body = b"not json"
    response = signed_post(body, meta_signature(body, SECRET))
    assert response.status_code == 200
    skip = MetaWebhookSkip.objects.get()
    assert (skip.reason, skip.payload) == ("not a WhatsApp Business Account webhook", "not json")


def test_recipient_without_phone_number_is_rated_at_rest_of_world_and_estimated(number):
    bsuid = status(recipient_id="", recipient_user_id="US.13491208655302741918")
    post(webhook(bsuid))

    usage = MessageUsage.objects.get()
    assert (usage.recipient_country, usage.market, usage.estimated, usage.cost) == (
        "",
        "OTHER",
        True,
        Decimal("0.060400"),
    )
    assert balance(number) == Decimal("-0.060400")


def test_germany_by_calling_code(number):
    post(webhook(status(recipient_id="4915112345678")))
    usage = MessageUsage.objects.get()
    assert (usage.recipient_country, usage.market, usage.cost) == ("DE", "DE", Decimal("0.113100"))


@pytest.mark.parametrize("pricing_type", ["free_customer_service", "free_entry_point"])
def test_free_types_cost_nothing_and_are_recorded_with_their_type(number, pricing_type):
    # `billable` is deprecated: the type decides, even where the flag says otherwise.
    post(
        webhook(status(pricing={"billable": True, "pricing_model": "PMP", "type": pricing_type, "category": "service"}))
    )

    usage = MessageUsage.objects.get()
    assert (usage.pricing_type, usage.billable, usage.cost) == (pricing_type, False, Decimal(0))
    assert balance(number) == 0
    assert LedgerEntry.objects.count() == 0


def test_new_categories_are_rated_by_the_card(number):
    post(
        webhook(
            status(id="wamid.lite", pricing={"type": "regular", "category": "marketing_lite"}),
            status(id="wamid.ref", pricing={"type": "regular", "category": "referral_conversion"}),
        )
    )
    costs = dict(MessageUsage.objects.values_list("message_id", "cost"))
    assert costs == {"wamid.lite": Decimal("0.020100"), "wamid.ref": Decimal("0.010000")}  # the latter at OTHER
    assert balance(number) == Decimal("-0.030100")


def test_an_unknown_category_is_recorded_unrated_at_zero_never_lost(number):
    post(webhook(status(pricing={"type": "regular", "pricing_model": "PMP", "category": "marketing_carousel"})))

    usage = MessageUsage.objects.get()
    assert (usage.category, usage.unrated, usage.cost, usage.market) == (
        "marketing_carousel",
        True,
        Decimal(0),
        "NORTH_AMERICA",
    )
    assert balance(number) == 0


def test_unknown_pricing_type_is_kept_as_skipped(number):
    post(webhook(status(pricing={"type": "premium_something", "category": "marketing"})))
    assert MetaWebhookSkip.objects.get().reason == (
        "unknown pricing type 'premium_something': not rated until it is known whether Meta charges it"
    )
    assert MessageUsage.objects.count() == 0


def test_many_statuses_in_one_webhook_make_one_ledger_entry(number):
    statuses = [status(id=f"wamid.{i}") for i in range(50)]
    post(webhook(*statuses))
    entry = LedgerEntry.objects.get()
    assert entry.amount == Decimal("-1.260000")
    assert entry.messages.count() == 50


def test_a_deleted_number_with_the_same_meta_id_gives_way_to_the_live_one(number):
    PhoneNumberFactory(
        e164="+15550783000",
        meta_phone_number_id=PHONE_NUMBER_ID,
        waba=number.waba,
        status="deleted",
        deleted_at=dt.datetime(2025, 5, 31, tzinfo=dt.UTC),
    )
    post(webhook(status()))
    assert MessageUsage.objects.get().phone_number_id == number.pk


def test_verification_echoes_the_challenge():
    response = Client().get(
        "/webhooks/meta/", {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    assert (response.status_code, response.content, response["Content-Type"]) == (200, b"1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_verification_with_a_wrong_token_is_refused(query):
    response = Client().get("/webhooks/meta/", query)
    assert response.status_code == 403
    assert response.content == b"verify token does not match"


def test_onboarding_sets_the_meta_phone_number_id():
    from billing.onboarding import number_onboard
    from hub.models import LicenseTier

    number = number_onboard(
        waba=WabaFactory(),
        e164="+4915199990000",
        tier=LicenseTier.objects.get(code="regular"),
        meta_phone_number_id="123456789012345",
    )
    number.refresh_from_db()
    assert number.meta_phone_number_id == "123456789012345"


def receive(payload) -> None:
    """A verified webhook stored without its drain running (as when the task is still queued or was lost)."""
    body = json.dumps(payload).encode()
    Client().post("/webhooks/meta/", body, content_type="application/json",
                  HTTP_X_HUB_SIGNATURE_256=meta_signature(body, SECRET))  # fmt: skip


def test_the_webhook_is_stored_as_signed_before_any_rating(number):
    body = json.dumps(webhook(status())).encode()
    receive(webhook(status()))

    row = MetaWebhookInbox.objects.get()
    assert (bytes(row.body), row.received_at, row.processed_at) == (
        body,
        dt.datetime(2025, 6, 16, 12, tzinfo=dt.UTC),
        None,
    )
    assert (MessageUsage.objects.count(), balance(number)) == (0, 0)


def test_a_burst_of_webhooks_is_rated_as_one_batch(number):
    from billing.usage.meta_webhooks import meta_webhooks_drain

    for i in range(30):
        receive(webhook(status(id=f"wamid.burst.{i}")))

    assert meta_webhooks_drain() == 30
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.messages.count()) == (Decimal("-0.756000"), 30)
    assert MetaWebhookInbox.objects.filter(processed_at__isnull=True).count() == 0
    assert meta_webhooks_drain() == 0


def test_a_drain_stops_at_the_batch_size_and_the_next_takes_the_rest(number):
    from billing.usage.meta_webhooks import meta_webhooks_drain

    for i in range(5):
        receive(webhook(status(id=f"wamid.a.{i}"), status(id=f"wamid.b.{i}")))

    assert meta_webhooks_drain(max_statuses=4) == 2
    assert MessageUsage.objects.count() == 4
    assert meta_webhooks_drain(max_statuses=4) == 2
    assert meta_webhooks_drain(max_statuses=4) == 1
    assert meta_webhooks_drain(max_statuses=4) == 0
    assert (MessageUsage.objects.count(), LedgerEntry.objects.count()) == (10, 3)
    assert balance(number) == Decimal("-0.252000")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the second drain runs on another connection while the first is open
def test_a_drain_locks_only_the_webhooks_it_rates_and_a_concurrent_drain_takes_the_next(number, monkeypatch):
    """A drain reads the inbox in rounds sized by the statuses its rows carry, so it locks (FOR UPDATE) about the
    webhooks it takes: one query of `max_statuses` rows locked them all until commit, and a concurrent drain
    (SKIP LOCKED) found nothing. Here the first drain is held mid-batch while a second one runs."""
    import threading

    from django.db import connection

    from billing.usage import meta_webhooks

    monkeypatch.setattr("billing.webhooks_meta._drain_soon", lambda: None)  # committed here: no eager drain
    for i in range(40):
        receive(webhook(status(id=f"wamid.a.{i}"), status(id=f"wamid.b.{i}")))
    ids = list(MetaWebhookInbox.objects.order_by("id").values_list("id", flat=True))
    real = meta_webhooks.usage_record_events
    holding, release = threading.Event(), threading.Event()

    def held(**kwargs):
        if threading.current_thread() is first:
            holding.set()
            assert release.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(meta_webhooks, "usage_record_events", held)
    drained = {}

    def drain(name):
        try:
            with time_machine.travel(dt.datetime(2025, 6, 16, 12, tzinfo=dt.UTC), tick=False):
                drained[name] = meta_webhooks.meta_webhooks_drain(max_statuses=40)
        finally:
            connection.close()

    first = threading.Thread(target=drain, args=("first",))
    first.start()
    assert holding.wait(30)
    drain("second")  # on this thread's own connection, while the first drain's transaction is open
    second_rows = set(MetaWebhookInbox.objects.filter(processed_at__isnull=False).values_list("id", flat=True))
    release.set()
    first.join(30)

    assert drained == {"first": 20, "second": 20}
    assert second_rows == set(ids[20:])  # the next oldest: the first drain had not locked them
    assert MetaWebhookInbox.objects.filter(processed_at__isnull=True).count() == 0
    assert MessageUsage.objects.count() == 80


def test_a_crash_mid_drain_leaves_the_webhooks_for_the_next_drain(number, monkeypatch):
    from billing.usage import meta_webhooks

    receive(webhook(status(id="wamid.one")))
    receive(webhook(status(id="wamid.two")))
    receive(webhook(status(id="wamid.three"), phone_number_id="999000111"))

    def crash(**kwargs):
        raise RuntimeError("worker lost mid-batch")

    real = meta_webhooks.usage_record_events
    monkeypatch.setattr(meta_webhooks, "usage_record_events", crash)
    with pytest.raises(RuntimeError, match="worker lost mid-batch"):
        meta_webhooks.meta_webhooks_drain()
    assert MetaWebhookInbox.objects.filter(processed_at__isnull=True).count() == 3
    assert (MessageUsage.objects.count(), MetaWebhookSkip.objects.count(), balance(number)) == (0, 0, 0)

    monkeypatch.setattr(meta_webhooks, "usage_record_events", real)
    assert meta_webhooks.meta_webhooks_drain() == 3
    assert MessageUsage.objects.count() == 2
    assert MetaWebhookSkip.objects.get().message_id == "wamid.three"
    assert balance(number) == Decimal("-0.050400")


def test_the_sweep_drains_what_a_lost_task_left_and_a_second_run_debits_nothing(number):
    from billing.tasks import meta_webhooks_drain_task
    from config.schedule import BEAT_SCHEDULE

    receive(webhook(status()))
    receive(webhook(status()))  # Meta delivered it twice

    assert BEAT_SCHEDULE["meta-webhooks-sweep"]["task"] == meta_webhooks_drain_task.name
    assert meta_webhooks_drain_task.apply().get() == 2
    assert meta_webhooks_drain_task.apply().get() == 0
    assert (MessageUsage.objects.count(), LedgerEntry.objects.count()) == (1, 1)
    assert balance(number) == Decimal("-0.025200")


def test_the_purge_deletes_webhooks_rated_before_the_retention_and_keeps_the_rest_and_their_usage(number, settings):
    from billing.tasks import meta_webhooks_purge_task
    from billing.usage.meta_webhooks import meta_webhooks_drain
    from config.schedule import BEAT_SCHEDULE

    now = dt.datetime(2025, 6, 16, 12, tzinfo=dt.UTC)
    for i in range(5):
        receive(webhook(status(id=f"wamid.old.{i}")))
    assert meta_webhooks_drain() == 5
    receive(webhook(status(id="wamid.stuck")))  # received long ago, never rated (a drain that kept failing)
    receive(webhook(status(id="wamid.recent")))
    rows = list(MetaWebhookInbox.objects.order_by("id"))
    MetaWebhookInbox.objects.filter(id__in=[r.id for r in rows[:5]]).update(
        received_at=now - dt.timedelta(days=40), processed_at=now - dt.timedelta(days=31)
    )
    MetaWebhookInbox.objects.filter(id=rows[5].id).update(received_at=now - dt.timedelta(days=40))
    MetaWebhookInbox.objects.filter(id=rows[6].id).update(processed_at=now - dt.timedelta(days=1))

    settings.META_WEBHOOK_INBOX_RETENTION_DAYS = 0  # kept for ever
    assert meta_webhooks_purge_task.apply().get() == 0
    settings.META_WEBHOOK_INBOX_RETENTION_DAYS = 30
    assert BEAT_SCHEDULE["meta-webhooks-purge"]["task"] == meta_webhooks_purge_task.name
    assert meta_webhooks_purge_task.apply().get() == 5

    assert list(MetaWebhookInbox.objects.order_by("id").values_list("id", flat=True)) == [rows[5].id, rows[6].id]
    assert MessageUsage.objects.count() == 5  # what they debited stays
    assert balance(number) == Decimal("-0.126000")
    assert meta_webhooks_purge_task.apply().get() == 0


def test_the_purge_walks_the_inbox_in_chunks_and_stops_at_webhooks_received_since_the_cutoff(number):
    from billing.usage.meta_webhooks import meta_webhooks_drain, meta_webhooks_purge

    now = dt.datetime(2025, 6, 16, 12, tzinfo=dt.UTC)
    for i in range(7):
        receive(webhook(status(id=f"wamid.chunk.{i}")))
    assert meta_webhooks_drain() == 7
    ids = list(MetaWebhookInbox.objects.order_by("id").values_list("id", flat=True))
    old = {"received_at": now - dt.timedelta(days=10), "processed_at": now - dt.timedelta(days=10)}
    MetaWebhookInbox.objects.filter(id__in=ids[:5]).update(**old)
    # Received since the cutoff, then an id that looks old (clock skew between servers): the walk has stopped.
    MetaWebhookInbox.objects.filter(id=ids[6]).update(**old)

    assert meta_webhooks_purge(retention_days=7, chunk=2) == 5
    assert list(MetaWebhookInbox.objects.order_by("id").values_list("id", flat=True)) == ids[5:]
    # The next purge's first chunk holds both: the skewed one goes then.
    assert meta_webhooks_purge(retention_days=7, chunk=2) == 1
    assert list(MetaWebhookInbox.objects.values_list("id", flat=True)) == [ids[5]]


def test_a_burst_of_webhooks_queues_one_drain_until_that_drain_starts(number, monkeypatch):
    from django.core.cache import cache

    from billing.tasks import meta_webhooks_drain_task
    from billing.usage.meta_webhooks import DRAIN_QUEUED_KEY

    cache.delete(DRAIN_QUEUED_KEY)
    queued = []
    monkeypatch.setattr(meta_webhooks_drain_task, "delay", lambda: queued.append("drain"))
    for i in range(3):
        assert post(webhook(status(id=f"wamid.q.{i}"))).status_code == 200

    assert queued == ["drain"]
    assert meta_webhooks_drain_task.apply().get() == 3  # the drain forgets the mark as it starts, rates all three
    assert post(webhook(status(id="wamid.q.3"))).status_code == 200
    assert queued == ["drain", "drain"]
    assert MessageUsage.objects.count() == 3  # the fourth waits for its drain
