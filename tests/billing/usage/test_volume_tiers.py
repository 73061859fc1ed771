"""Meta's volume tiers for utility and authentication: graduated by the month's count of charged messages per
client × market × category, exact when batches race (PostgreSQL, real threads with their own connections)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.models import CreditAccount, MessageUsage, RateCardRate, RateCardTier, UsageVolumeCounter
from billing.usage.ingest import usage_record_batch
from tests.concurrency import run_concurrently
from tests.factories import PhoneNumberFactory, WabaFactory

FLAT, TIER_1, TIER_2 = Decimal("0.004000"), Decimal("0.003400"), Decimal("0.002000")


def card():
    RateCardRate.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE",
                                category="utility", rate=FLAT)  # fmt: skip
    RateCardRate.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE",
                                category="marketing", rate=Decimal("0.113100"))  # fmt: skip
    for volume_from, rate in ((0, TIER_1), (10, TIER_2)):
        RateCardTier.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE",
                                    category="utility", volume_from=volume_from, rate=rate)  # fmt: skip


def events(number, ids, *, category="utility", timestamp="2026-11-03T10:00:00Z", prefix="t"):
    return [
        {"message_id": f"wamid.{prefix}.{n}", "waba_id": number.waba.meta_waba_id, "phone_number": number.e164,
         "recipient_country": "DE", "category": category, "billable": True, "timestamp": timestamp}
        for n in ids
    ]  # fmt: skip


def balance(number):
    return CreditAccount.objects.get(hub=number.waba.hub).balance


def costs(prefix="t"):
    return sorted(MessageUsage.objects.filter(message_id__startswith=f"wamid.{prefix}.").values_list("cost", flat=True))


@pytest.fixture
def number():
    card()
    return PhoneNumberFactory(
        e164="+4915112340000", waba=WabaFactory(meta_waba_id="555000111", timezone="Europe/Berlin")
    )


@pytest.fixture
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.mark.django_db
def test_a_batch_crossing_a_boundary_pays_each_tier_for_its_own_messages(number, now):
    usage_record_batch(events=events(number, range(13)))

    assert costs() == [TIER_2] * 3 + [TIER_1] * 10
    assert balance(number) == -(10 * TIER_1 + 3 * TIER_2)
    counter = UsageVolumeCounter.objects.get()
    assert (counter.client_id, counter.market, counter.category, counter.month, counter.count) == (
        number.waba.hub.client_id,
        "DE",
        "utility",
        dt.date(2026, 11, 1),
        13,
    )


@pytest.mark.django_db
def test_the_count_goes_on_across_batches_and_duplicates_take_no_position(number, now):
    usage_record_batch(events=events(number, range(8)))
    usage_record_batch(events=events(number, range(5, 12)))  # 5..7 already recorded

    assert UsageVolumeCounter.objects.get().count == 12
    assert costs() == [TIER_2] * 2 + [TIER_1] * 10


@pytest.mark.django_db
def test_the_month_restarts_in_the_wabas_time_zone(number, now):
    usage_record_batch(events=events(number, range(10), timestamp="2026-10-20T10:00:00Z", prefix="oct"))
    # 23:30 UTC on 31 October is already 1 November in Berlin: the first message of November's count.
    usage_record_batch(events=events(number, range(2), timestamp="2026-10-31T23:30:00Z", prefix="nov"))

    assert costs("nov") == [TIER_1, TIER_1]
    counts = dict(UsageVolumeCounter.objects.values_list("month", "count"))
    assert counts == {dt.date(2026, 10, 1): 10, dt.date(2026, 11, 1): 2}


@pytest.mark.django_db
def test_untiered_categories_and_free_messages_keep_their_flat_rate_and_take_no_position(number, now):
    marketing = events(number, range(3), category="marketing", prefix="m")
    free = [{**e, "billable": False} for e in events(number, range(3), prefix="free")]
    usage_record_batch(events=marketing + free)

    assert costs("m") == [Decimal("0.113100")] * 3
    assert costs("free") == [Decimal(0)] * 3
    assert UsageVolumeCounter.objects.count() == 0


@pytest.mark.django_db
def test_without_tiers_the_flat_rate_applies(now):
    RateCardRate.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE",
                                category="authentication", rate=Decimal("0.063600"))  # fmt: skip
    number = PhoneNumberFactory(e164="+4915112340001")
    usage_record_batch(events=events(number, range(2), category="authentication"))
    assert costs() == [Decimal("0.063600")] * 2
    assert UsageVolumeCounter.objects.get().count == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_batches_crossing_a_boundary_are_exact(number):
    # Four batches of 6 on their own connections at once: 24 messages, positions 1..24 whatever the interleaving.
    sent = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    errors = run_concurrently(
        lambda worker: usage_record_batch(events=events(number, range(worker * 6, worker * 6 + 6), timestamp=sent)),
        4,
    )

    assert errors == []
    assert UsageVolumeCounter.objects.get().count == 24
    assert costs() == [TIER_2] * 14 + [TIER_1] * 10
    assert balance(number) == -(10 * TIER_1 + 14 * TIER_2)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_batches_sharing_messages_count_each_once(number):
    sent = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    errors = run_concurrently(
        lambda worker: usage_record_batch(events=events(number, range(worker * 4, worker * 4 + 8), timestamp=sent)),
        3,
    )

    assert errors == []
    assert MessageUsage.objects.count() == 16  # ids 0..15
    assert UsageVolumeCounter.objects.get().count == 16
    assert costs() == [TIER_2] * 6 + [TIER_1] * 10
    assert balance(number) == -(10 * TIER_1 + 6 * TIER_2)


@pytest.mark.django_db
def test_a_monthly_free_allowance_per_number_is_off_unless_the_card_sets_it(number, now):
    from billing.models import NumberAllowanceCounter, RateCardAllowance

    usage_record_batch(events=events(number, range(2), prefix="before"))
    assert costs("before") == [TIER_1, TIER_1]  # no allowance row: everything charged

    RateCardAllowance.objects.create(effective_date=dt.date(2026, 11, 1), category="utility", free_per_month=3)
    usage_record_batch(events=events(number, range(2), prefix="a"))
    usage_record_batch(events=events(number, range(2, 5), prefix="a"))

    assert costs("a") == [Decimal(0)] * 3 + [TIER_1] * 2  # 3 free, then charged
    assert NumberAllowanceCounter.objects.get().used == 3
    assert UsageVolumeCounter.objects.get().count == 4  # the free ones take no tier position
    assert balance(number) == -4 * TIER_1


@pytest.mark.django_db
def test_the_allowance_is_per_number(number, now):
    from billing.models import RateCardAllowance

    RateCardAllowance.objects.create(effective_date=dt.date(2026, 11, 1), category="utility", free_per_month=1)
    other = PhoneNumberFactory(e164="+4915112340009", waba=number.waba)
    usage_record_batch(events=events(number, range(2), prefix="one") + events(other, range(2), prefix="two"))
    assert costs("one") == [Decimal(0), TIER_1]
    assert costs("two") == [Decimal(0), TIER_1]



@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_tiers_parallel_batches_sharing_messages_count_each_once():
    """A counter without tiers in force is moved on after the rows are written, by what was written: three batches
    of 8 overlapping by 4 at once count the 16 messages once each."""
    RateCardRate.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE",
                                category="authentication", rate=Decimal("0.063600"))  # fmt: skip
    number = PhoneNumberFactory(e164="+4915112340002")
    sent = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    errors = run_concurrently(
        lambda worker: usage_record_batch(
            events=events(number, range(worker * 4, worker * 4 + 8), category="authentication", timestamp=sent)
        ),
        3,
    )

    assert errors == []
    assert MessageUsage.objects.count() == 16
    assert UsageVolumeCounter.objects.get().count == 16
    assert balance(number) == -16 * Decimal("0.063600")


@pytest.mark.django_db
def test_tiers_starting_later_in_the_month_price_by_the_count_made_before_them(number, now):
    # Utility had no tiers in force on the 3rd: counted at the flat rate; tiers from the 10th take the count on.
    RateCardTier.objects.filter(category="utility").update(effective_date=dt.date(2026, 11, 10))
    usage_record_batch(events=events(number, range(8), timestamp="2026-11-03T10:00:00Z", prefix="early"))
    usage_record_batch(events=events(number, range(4), timestamp="2026-11-12T10:00:00Z", prefix="late"))

    assert costs("early") == [FLAT] * 8
    assert costs("late") == [TIER_2] * 2 + [TIER_1] * 2  # positions 9, 10 in tier 1; 11, 12 in tier 2
    assert UsageVolumeCounter.objects.get().count == 12
