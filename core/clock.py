"""The one seam for "now" and for billing periods (calendar months in UTC, half-open [start, end))."""

import datetime as dt

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    """First day of the UTC calendar month that `moment` falls in."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC).date()
    return moment.replace(day=1)


def next_month(period: dt.date) -> dt.date:
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The half-open UTC interval [start, end) of the billing month starting on `period`."""
    start = dt.datetime.combine(period, dt.time.min, tzinfo=dt.UTC)
    return start, dt.datetime.combine(next_month(period), dt.time.min, tzinfo=dt.UTC)
