"""Reconciliation report: Meta's cost against our rating per WABA × day, with the adjustment posted, by month."""

import datetime as dt

from billing.models import UsageReconciliation
from hub.models import Hub


def reconciliation_month(raw: str | None, *, default: dt.date) -> dt.date:
    """The month a `YYYY-MM` filter names; the default for a missing or malformed one."""
    try:
        return dt.date.fromisoformat(f"{raw}-01") if raw else default
    except ValueError:
        return default


def hub_reconciliations(*, hub: Hub, month: dt.date) -> list[UsageReconciliation]:
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return list(
        UsageReconciliation.objects.filter(waba__hub=hub, day__gte=month, day__lt=following)
        .select_related("waba")
        .order_by("day", "waba__meta_waba_id")
    )
