"""The balance forecast: the last 7 complete days in the hub's time zone, when the credit runs out at that rate, and
what auto-renewal adds before the month ends."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from billing.forecast import ForecastState, forecast_of, forecasts_for
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, PaymentMethod, PaymentMethodKind
from hub.models import Hub
from tests.clients.conftest import usage
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, WabaFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
TODAY = dt.datetime(2026, 12, 1, 10, tzinfo=BERLIN)  # the window is 24–30 Nov, Berlin days


def berlin(day: int, hour: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 30, tzinfo=BERLIN)


def a_hub(*, balance: str, timezone: str = "Europe/Berlin", card: bool = True, **renewal) -> tuple[Hub, object]:
    """A hub set up a month ago, in `timezone`, holding `balance`, with a card saved (or not)."""
    client = ClientFactory(country="DE")
    hub = HubFactory(client=client, name="Main")
    Hub.objects.filter(pk=hub.pk).update(created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    number = PhoneNumberFactory(waba=WabaFactory(hub=hub, timezone=timezone))
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money(balance, "EUR"),
                key=f"funds:{hub.pk}", occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # fmt: skip
    if renewal:
        CreditAccount.objects.filter(hub=hub).update(**renewal)
    if card:
        PaymentMethod.objects.create(client=client, kind=PaymentMethodKind.CARD, brand="visa", last4="4242",
                                     exp_month=12, exp_year=2030)  # fmt: skip
    return Hub.objects.get(pk=hub.pk), number


def seven_days_of(number, *, per_day: str) -> None:
    for day in range(24, 31):  # 24–30 November, one message a day, at 00:30 Berlin (23:30 UTC the day before)
        usage(number, cost=per_day, sent_at=berlin(day, 0))


def test_the_rate_of_the_last_7_berlin_days_runs_the_credit_out_and_auto_renewal_adds_three_top_ups():
    hub, number = a_hub(balance="108.00", auto_renew=True, auto_renew_threshold=Decimal("10.00"),
                        auto_renew_amount=Decimal("50.00"))  # fmt: skip
    seven_days_of(number, per_day="8.000000")
    usage(number, cost="100.000000", sent_at=berlin(23, 23))  # 23 Nov, 23:30 Berlin: before the window
    usage(number, cost="100.000000", sent_at=berlin(1, 0, month=12))  # today: not a complete day yet

    with time_machine.travel(TODAY, tick=False):
        forecast = forecast_of(hub=hub)

    assert forecast.state == ForecastState.RUNS_OUT
    assert forecast.daily_rate == Decimal("8.00")
    # 108.00 / 8.00 = 13.5 days: the credit lasts through 14 December
    assert (forecast.today, forecast.lasts_until) == (dt.date(2026, 12, 1), dt.date(2026, 12, 14))
    assert forecast.days_left == 13
    # 8.00 a day for 31 days, topped up by 50.00 below 10.00: on 13, 19 and 25 December
    assert forecast.renewal_this_month == Decimal("150.00")
    assert not forecast.runs_out_within(3)


def test_the_window_follows_the_hubs_time_zone():
    """The same messages for a hub on UTC: sent at 23:30 UTC on 23–29 November, the first falls before the UTC
    window (24–30 November), so six of the seven count."""
    hub, number = a_hub(balance="108.00", timezone="UTC")
    seven_days_of(number, per_day="8.000000")  # sent 23:30 UTC on 23–29 November

    with time_machine.travel(TODAY, tick=False):
        forecast = forecast_of(hub=hub)

    assert forecast.daily_rate == Decimal("6.86")  # 6 × 8.00 / 7


def test_without_auto_renewal_the_forecast_warns_within_three_days():
    hub, number = a_hub(balance="20.00", auto_renew=False)
    seven_days_of(number, per_day="8.000000")

    with time_machine.travel(TODAY, tick=False):
        forecast = forecast_of(hub=hub)

    assert (forecast.lasts_until, forecast.renewal_this_month) == (dt.date(2026, 12, 3), Decimal("0"))
    assert forecast.runs_out_within(3)
    assert not forecast.runs_out_within(1)


def test_a_new_hub_has_too_little_history_and_an_idle_one_does_not_run_out():
    young, _ = a_hub(balance="50.00")
    Hub.objects.filter(pk=young.pk).update(created_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    idle, _ = a_hub(balance="50.00")
    empty, _ = a_hub(balance="0.01")
    ledger_post(account=empty.credit_account, kind=EntryKind.MANUAL_ADJUSTMENT, amount=Money("-0.01", "EUR"),
                key="empty", memo="test")  # fmt: skip

    with time_machine.travel(TODAY, tick=False):
        found = forecasts_for(hub_ids=[young.pk, idle.pk, empty.pk])

    assert found[young.pk].state == ForecastState.TOO_LITTLE_HISTORY
    assert found[idle.pk].state == ForecastState.NO_USAGE
    assert found[empty.pk].state == ForecastState.RUN_OUT and found[empty.pk].runs_out_within(3)


def test_many_hubs_cost_a_fixed_number_of_queries(django_assert_num_queries):
    hubs = [a_hub(balance="30.00")[0] for _ in range(5)]
    hubs.append(a_hub(balance="30.00", timezone="America/Sao_Paulo")[0])

    with time_machine.travel(TODAY, tick=False), django_assert_num_queries(5):  # hubs, zones, cards, 1 per zone
        forecasts_for(hub_ids=[hub.pk for hub in hubs])
