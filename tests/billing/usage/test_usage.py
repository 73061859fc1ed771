import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import CreditAccount, EntryKind, LedgerEntry, MessageUsage, RateCardRate
from billing.usage.ingest import UsageBatchTooLarge, usage_record_batch
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

RATES = [
    # effective, currency, market, category, rate
    ("2026-07-01", "EUR", "DE", "marketing", "0.120000"),
    ("2026-11-01", "EUR", "DE", "marketing", "0.130000"),
    ("2026-07-01", "EUR", "DE", "utility", "0.040000"),
    ("2026-07-01", "EUR", "DE", "service", "0"),
    ("2026-07-01", "EUR", "OTHER", "marketing", "0.050000"),
    ("2026-07-01", "USD", "DE", "marketing", "0.140000"),
]


@pytest.fixture(autouse=True)
def rate_card():
    RateCardRate.objects.bulk_create(
        RateCardRate(effective_date=dt.date.fromisoformat(d), currency=c, market=m, category=k, rate=Decimal(r))
        for d, c, m, k, r in RATES
    )


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def number():
    return PhoneNumberFactory(e164="+4915112345678", waba=WabaFactory(meta_waba_id="2001", timezone="Europe/Berlin"))


def event(number, n=1, **overrides):
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


def balance(number):
    return CreditAccount.objects.get(hub=number.waba.hub).balance


def test_billable_messages_are_rated_and_debited_in_one_entry(number):
    result = usage_record_batch(events=[event(number, 1), event(number, 2, category="utility")])

    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, [])
    assert balance(number) == Decimal("-0.170000")
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.period) == (
        EntryKind.USAGE,
        Decimal("-0.170000"),
        dt.date(2026, 11, 1),
    )
    assert sorted(entry.messages.values_list("message_id", "cost")) == [
        ("wamid.1", Decimal("0.130000")),
        ("wamid.2", Decimal("0.040000")),
    ]
    assert result.debited == {number.waba.hub.hub_id: Decimal("0.170000")}


def test_the_rate_is_the_one_effective_on_the_day_in_the_wabas_time_zone(number):
    # 23:30 UTC on 31 Oct is already 1 Nov in Berlin: November's rate, but the cost counts in October (UTC month).
    usage_record_batch(
        events=[
            event(number, 1, timestamp="2026-10-31T22:30:00Z"),
            event(number, 2, timestamp="2026-10-31T23:30:00Z"),
        ]
    )

    rows = {u.message_id: u for u in MessageUsage.objects.all()}
    assert (rows["wamid.1"].rate_date, rows["wamid.1"].rate) == (dt.date(2026, 10, 31), Decimal("0.120000"))
    assert (rows["wamid.2"].rate_date, rows["wamid.2"].rate) == (dt.date(2026, 11, 1), Decimal("0.130000"))
    assert {u.period for u in rows.values()} == {dt.date(2026, 10, 1)}


def test_a_country_without_its_own_rate_falls_back_to_the_rest_of_world_market(number):
    usage_record_batch(events=[event(number, 1, recipient_country="JP")])

    usage = MessageUsage.objects.get()
    assert (usage.market, usage.rate) == ("OTHER", Decimal("0.050000"))


def test_a_country_missing_from_the_country_table_is_rated_at_the_rest_of_world_market(number):
    # libphonenumber answers XK (Kosovo, no ISO 3166-1 code) for +383 numbers; Meta bills those messages too.
    result = usage_record_batch(events=[event(number, 1, recipient_country="XK")])

    assert (result.accepted, result.rejected) == (1, [])
    usage = MessageUsage.objects.get()
    assert (usage.recipient_country, usage.market, usage.rate, usage.cost) == (
        "XK", "OTHER", Decimal("0.050000"), Decimal("0.050000")
    )
    assert balance(number) == Decimal("-0.050000")


def test_a_message_with_no_rate_at_all_is_rejected_with_the_reason(number):
    result = usage_record_batch(events=[event(number, 1, recipient_country="JP", category="utility")])

    assert result.accepted == 0
    assert [(r.index, r.reason) for r in result.rejected] == [(0, "no EUR rate for utility to JP on 2026-11-03")]
    assert not MessageUsage.objects.exists()


def test_a_hub_is_rated_in_its_own_currency():
    usd_hub = HubFactory(client=ClientFactory(partner=PartnerFactory(currency="USD")))
    number = PhoneNumberFactory(waba=WabaFactory(hub=usd_hub))

    usage_record_batch(events=[event(number, 1)])

    assert MessageUsage.objects.get().currency == "USD"
    assert LedgerEntry.objects.get().amount == Decimal("-0.140000")


def test_duplicates_are_skipped_so_a_retried_batch_posts_nothing_twice(number):
    batch = [event(number, 1), event(number, 2), event(number, 1)]
    first = usage_record_batch(events=batch)
    retry = usage_record_batch(events=batch)

    assert (first.accepted, first.duplicates) == (2, 1)
    assert (retry.accepted, retry.duplicates) == (0, 3)
    assert MessageUsage.objects.count() == 2
    assert LedgerEntry.objects.count() == 1
    assert balance(number) == Decimal("-0.260000")


def test_message_ids_with_copy_control_characters_are_recorded_as_sent_and_found_again_on_a_retry(number):
    ids = ["wamid.tab\there", "wamid.back\\slash\\N", "wamid.line\nbreak\rreturn", "wamid.plain"]
    first = usage_record_batch(events=[event(number, message_id=m) for m in ids[:3]])
    retry = usage_record_batch(events=[event(number, message_id=m) for m in ids])

    assert (first.accepted, first.duplicates) == (3, 0)
    assert (retry.accepted, retry.duplicates) == (1, 3)
    assert sorted(MessageUsage.objects.values_list("message_id", flat=True)) == sorted(ids)
    assert LedgerEntry.objects.count() == 2
    assert balance(number) == Decimal("-0.520000")


def test_a_batch_mixing_recorded_and_new_messages_records_and_debits_only_the_new_ones(number):
    usage_record_batch(events=[event(number, n) for n in (1, 3)])
    mixed = usage_record_batch(events=[event(number, n) for n in (1, 2, 3, 4)])

    assert (mixed.accepted, mixed.duplicates) == (2, 2)
    assert MessageUsage.objects.count() == 4
    assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [Decimal("-0.260000")] * 2
    assert balance(number) == Decimal("-0.520000")


@pytest.mark.postgres  # the straight COPY is PostgreSQL's
def test_batches_after_one_that_met_recorded_messages_go_the_careful_way_until_one_meets_none(number):
    def copies(numbers):
        with CaptureQueriesContext(connection) as queries:
            usage_record_batch(events=[event(number, n) for n in numbers])
        return [q["sql"].split(" (")[0] for q in queries if q["sql"].startswith("COPY") and "messageusage" in q["sql"]]

    straight, staged = "COPY billing_messageusage", "COPY _staging_billing_messageusage"
    copies([1, 2])  # new messages: whatever the last test left, this process now expects new ones
    assert copies([3]) == [straight]
    assert copies([1, 4]) == [straight, staged]  # refused by the unique index, then recorded the careful way
    assert copies([2, 5]) == [staged]  # recorded ids keep coming: careful first, no refused COPY
    assert copies([6]) == [staged]  # ... until a batch meets none
    assert copies([7]) == [straight]
    assert MessageUsage.objects.count() == 7
    assert balance(number) == Decimal("-0.910000")


def test_bad_events_are_rejected_by_index_and_the_good_ones_recorded(number):
    other = PhoneNumberFactory(e164="+4915199999999")
    result = usage_record_batch(
        events=[
            event(number, 1),
            event(number, 2, waba_id="999999"),
            event(number, 3, phone_number=other.e164),
            event(number, 4, category="promotional"),
            "not an object",
            {"message_id": "wamid.6"},
            event(number, 7, billable="yes"),
            event(number, 8, timestamp="2026-11-03T10:15:00"),
            event(number, 9, timestamp="2026-12-01T00:00:00Z"),
            event(number, 10, pricing_model="CBP"),
            event(number, 11, recipient_country="XX"),
            event(number, 12, phone_number="+49 151 1234"),
        ]
    )

    assert result.accepted == 1
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "unknown WABA 999999"),
        (2, "phone number +4915199999999 is not on WABA 2001"),
        (
            3,
            "unknown category 'promotional' (expected one of: marketing, marketing_lite, utility, authentication, "
            "authentication_international, service, referral_conversion)",
        ),
        (4, "expected a JSON object"),
        (5, "missing field(s): waba_id, phone_number, recipient_country, category, billable, timestamp"),
        (6, "billable must be true or false"),
        (7, "timestamp needs a time zone offset (e.g. Z or +01:00)"),
        (8, "timestamp is in the future"),
        (9, "pricing_model 'CBP' is not supported (per-message pricing, PMP, only)"),
        (10, "recipient_country 'XX' is not an ISO 3166-1 alpha-2 country code"),
        (11, "phone number must be in E.164 format without spaces"),
    ]
    assert list(MessageUsage.objects.values_list("message_id", flat=True)) == ["wamid.1"]


def test_unix_seconds_are_accepted_as_meta_sends_them(number):
    usage_record_batch(events=[event(number, 1, timestamp="1793612100")])  # 2026-11-02T09:35:00Z

    assert MessageUsage.objects.get().sent_at == dt.datetime(2026, 11, 2, 9, 35, tzinfo=dt.UTC)


def test_non_billable_messages_are_recorded_but_cost_nothing(number):
    usage_record_batch(events=[event(number, 1, billable=False), event(number, 2, category="service")])

    assert MessageUsage.objects.filter(cost=0).count() == 2
    assert not LedgerEntry.objects.exists()
    assert balance(number) == 0


def test_usage_is_recorded_even_when_the_balance_goes_below_zero(number):
    events = [event(number, n) for n in range(100)]

    result = usage_record_batch(events=events)

    assert result.accepted == 100
    assert balance(number) == Decimal("-13.000000")


def test_late_usage_for_a_closed_month_counts_in_the_next_open_month(number):
    CreditAccount.objects.filter(hub=number.waba.hub).update(closed_through=dt.date(2026, 10, 1))

    usage_record_batch(events=[event(number, 1, timestamp="2026-10-20T10:00:00Z")])

    assert MessageUsage.objects.get().period == dt.date(2026, 11, 1)
    assert LedgerEntry.objects.get().period == dt.date(2026, 11, 1)


def test_a_batch_larger_than_the_limit_is_refused_whole(number, settings):
    settings.USAGE_MAX_BATCH = 3
    with pytest.raises(UsageBatchTooLarge, match="at most 3 events, got 4"):
        usage_record_batch(events=[event(number, n) for n in range(4)])
    assert not MessageUsage.objects.exists()


@pytest.mark.postgres  # SQLite splits bulk inserts at 999 parameters, so its count grows (boundedly) with size
def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(number):
    others = [PhoneNumberFactory() for _ in range(3)]

    with CaptureQueriesContext(connection) as small:
        usage_record_batch(events=[event(number, n) for n in range(3)])
    with CaptureQueriesContext(connection) as large:
        usage_record_batch(
            events=[event(others[n % 3], 1000 + n, recipient_country=["DE", "JP"][n % 2]) for n in range(600)]
        )

    assert MessageUsage.objects.count() == 603
    assert len(large) == len(small)
    # 13 round trips to ingest (two of them COPY, one the card's free allowances), 2 for the savepoint the test's own
    # transaction makes of the batch's; 2 more when hubs cross 0.00 (read their blocks, start new)
    assert len(large) <= 17
