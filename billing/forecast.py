"""The balance forecast: at the last 7 days' rate, when does a hub's credit run out, and what will auto-renewal add
before the month ends?

The rate is the hub's billable usage cost over the last 7 complete days in the hub's time zone (its first WABA's;
UTC without one), divided by 7. A hub younger than those 7 days has too little history for a rate, and the forecast
says so instead of guessing. "Lasts until" is the last day the current balance covers at that rate, without
top-ups; auto-renewal is then played forward day by day to the end of the month with the account's threshold and
amount (the automatic top-up's own rules), which gives the funds it will add.
"""

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Sum

from billing.models import CreditAccount, MessageUsage, PaymentMethod, PaymentMethodKind
from billing.money import cents
from billing.payments.topups import topup_amount
from core import clock
from hub.models import Hub, Waba

WINDOW_DAYS = 7
ZERO = Decimal("0")
MAX_TOPUPS_SIMULATED = 400  # a month of daily top-ups with room to spare; bounds a pathological threshold


class ForecastState:
    TOO_LITTLE_HISTORY = "too_little_history"
    NO_USAGE = "no_usage"  # no usage in the window: at this rate the credit lasts
    RUN_OUT = "run_out"  # the balance is already 0.00 or below
    RUNS_OUT = "runs_out"  # the balance lasts until `lasts_until`


@dataclass(frozen=True)
class Forecast:
    hub_id: int
    state: str
    currency: str
    today: dt.date  # in the hub's time zone
    daily_rate: Decimal = ZERO  # cents
    lasts_until: dt.date | None = None
    auto_renew: bool = False
    has_card: bool = False
    renewal_this_month: Decimal = ZERO  # funds auto-renewal adds from today to the month's end (net, cents)

    @property
    def days_left(self) -> int | None:
        return (self.lasts_until - self.today).days if self.lasts_until else None

    @property
    def renewal_can_charge(self) -> bool:
        return self.auto_renew and self.has_card

    def runs_out_within(self, days: int) -> bool:
        """Service pauses within `days` at this rate: the credit is gone by then and no top-up will refill it."""
        if self.state == ForecastState.RUN_OUT:
            return True
        return self.state == ForecastState.RUNS_OUT and not self.renewal_can_charge and self.days_left <= days


def hub_timezones(hub_ids: Sequence[int]) -> dict[int, zoneinfo.ZoneInfo]:
    """Each hub's time zone: its first WABA's (UTC when it has none). One query."""
    zones = {hub_id: zoneinfo.ZoneInfo("UTC") for hub_id in hub_ids}
    seen = set()
    wabas = Waba.objects.filter(hub_id__in=hub_ids).order_by("hub_id", "id")
    for hub_id, name in wabas.values_list("hub_id", "timezone"):
        if hub_id not in seen:
            seen.add(hub_id)
            zones[hub_id] = zoneinfo.ZoneInfo(name)
    return zones


def _window_usage(hub_ids: list[int], zone: zoneinfo.ZoneInfo, today: dt.date) -> dict[int, Decimal]:
    """Billable usage cost per hub over the 7 complete local days before `today`."""
    start = dt.datetime.combine(today - dt.timedelta(days=WINDOW_DAYS), dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(today, dt.time.min, tzinfo=zone)
    periods = {clock.month_start(start), clock.month_start(end)}  # the (hub, period) index narrows the scan
    rows = (
        MessageUsage.objects.filter(
            hub_id__in=hub_ids, period__in=periods, billable=True, sent_at__gte=start, sent_at__lt=end
        )
        .values("hub_id")
        .annotate(cost=Sum("cost"))
        .order_by()
    )
    return {row["hub_id"]: row["cost"] or ZERO for row in rows}


def forecasts_for(*, hub_ids: Sequence[int] = (), hubs: Sequence[Hub] | None = None) -> dict[int, Forecast]:
    """The forecast of each hub. Given `hubs` already read with their credit accounts (select_related), two
    queries plus one per distinct time zone among them; given ids, two more."""
    if hubs is None:
        hubs = Hub.objects.filter(id__in=set(hub_ids)).select_related("credit_account")
    hubs = {hub.id: hub for hub in hubs}
    hub_ids = sorted(hubs)
    if not hub_ids:
        return {}
    zones = hub_timezones(hub_ids)
    accounts = {hub.id: hub.credit_account for hub in hubs.values()}
    carded = set(
        PaymentMethod.objects.filter(client_id__in={h.client_id for h in hubs.values()}, kind=PaymentMethodKind.CARD)
        .values_list("client_id", flat=True)
    )  # fmt: skip
    now = clock.now()
    by_zone: dict[zoneinfo.ZoneInfo, list[int]] = defaultdict(list)
    for hub_id in hub_ids:
        by_zone[zones[hub_id]].append(hub_id)
    usage: dict[int, Decimal] = {}
    for zone, ids in by_zone.items():
        usage.update(_window_usage(ids, zone, now.astimezone(zone).date()))
    return {
        hub_id: forecast_compute(
            account=accounts[hub_id], created_at=hubs[hub_id].created_at, zone=zones[hub_id], now=now,
            window_cost=usage.get(hub_id, ZERO), has_card=hubs[hub_id].client_id in carded,
        )  # fmt: skip
        for hub_id in hub_ids
    }


def forecast_of(*, hub: Hub) -> Forecast:
    return forecasts_for(hubs=[hub])[hub.id]


def forecast_compute(
    *, account: CreditAccount, created_at: dt.datetime, zone: zoneinfo.ZoneInfo, now: dt.datetime,
    window_cost: Decimal, has_card: bool,
) -> Forecast:  # fmt: skip
    """The forecast from figures already read (no query)."""
    today = now.astimezone(zone).date()
    common = {"hub_id": account.hub_id, "currency": account.currency, "today": today,
              "auto_renew": account.auto_renew, "has_card": has_card}  # fmt: skip
    window_start = dt.datetime.combine(today - dt.timedelta(days=WINDOW_DAYS), dt.time.min, tzinfo=zone)
    rate = cents(window_cost / WINDOW_DAYS)
    if account.balance <= 0:
        return Forecast(state=ForecastState.RUN_OUT, daily_rate=rate, **common)
    if created_at > window_start:
        return Forecast(state=ForecastState.TOO_LITTLE_HISTORY, **common)
    if rate <= 0:
        return Forecast(state=ForecastState.NO_USAGE, **common)
    days = (account.balance / rate).to_integral_value(rounding=ROUND_FLOOR)
    renewal = _renewal_until_month_end(account, rate, today) if common["auto_renew"] and has_card else ZERO
    return Forecast(
        state=ForecastState.RUNS_OUT, daily_rate=rate, lasts_until=today + dt.timedelta(days=int(days)),
        renewal_this_month=renewal, **common,
    )  # fmt: skip


def _renewal_until_month_end(account: CreditAccount, rate: Decimal, today: dt.date) -> Decimal:
    """Spend `rate` a day from today through the month's last day, topping up as the automatic top-up would
    (below the threshold: the set amount, or enough to reach the threshold from below zero)."""
    month_end = clock.next_month(today) - dt.timedelta(days=1)
    probe = CreditAccount(
        balance=account.balance, auto_renew=True, auto_renew_threshold=account.auto_renew_threshold,
        auto_renew_amount=account.auto_renew_amount,
    )  # fmt: skip
    added, topups = ZERO, 0
    for _day in range((month_end - today).days + 1):
        probe.balance -= rate
        while probe.balance < probe.auto_renew_threshold and topups < MAX_TOPUPS_SIMULATED:
            amount = topup_amount(probe)
            probe.balance += amount
            added += amount
            topups += 1
    return cents(added)
