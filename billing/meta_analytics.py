"""Reconciliation from Meta's pricing analytics, as the Graph API returns them for a WABA:

    GET {META_GRAPH_API_BASE}/{waba_id}?fields=pricing_analytics.start(…).end(…).granularity(DAILY)
        .dimensions(["PRICING_CATEGORY","PRICING_TYPE","COUNTRY"])
    {"pricing_analytics": {"data": [{"data_points": [{"start": 1749106800, "end": 1749193200, "country": "IN",
      "tier": "0:750000", "pricing_type": "REGULAR", "pricing_category": "AUTHENTICATION_INTERNATIONAL",
      "volume": 2, "cost": 4.6}, …]}], "paging": {"next": "…"}}, "id": "<waba id>"}

Each point's day is the day its `start` falls on in the WABA's time zone (the day usage is rated on). Meta's cost per
WABA × day × category × country is kept (MetaPricingPoint) for the report beside what was rated; the day's total
goes through billing.reconciliation's machinery, which posts only the change of each day's adjustment, so
re-importing or re-pulling posts nothing twice.
"""

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from billing.models import MetaPricingPoint
from billing.reconciliation import (
    MAX_COST,
    ReconciliationError,
    ReconciliationResult,
    ReconciliationRow,
    usage_reconcile,
)
from core import clock
from hub.models import Waba

logger = logging.getLogger(__name__)
DIMENSIONS = '["PRICING_CATEGORY","PRICING_TYPE","COUNTRY"]'


class GraphApiError(Exception):
    """Meta's Graph API could not be read (after the retries)."""


def pricing_analytics_points(page: Mapping) -> Iterator[Mapping]:
    """The data points of one response page: the WABA node (`pricing_analytics.data`) or a paging.next page of the
    edge itself (`data`)."""
    edge = page.get("pricing_analytics", page) if isinstance(page, Mapping) else {}
    for block in edge.get("data") or [] if isinstance(edge, Mapping) else []:
        yield from (block.get("data_points") or []) if isinstance(block, Mapping) else []


def pricing_analytics_rows(*, waba: Waba, points: Sequence[object]) -> tuple[list[ReconciliationRow], list[dict]]:
    """(one reconciliation row per day with Meta's total, the points by day × category × country × type), or
    ReconciliationError naming each bad point by its position (1-based)."""
    zone = zoneinfo.ZoneInfo(waba.timezone)
    today = clock.now().astimezone(zone).date()
    problems: list[tuple[int, str]] = []
    totals: dict[dt.date, Decimal] = defaultdict(Decimal)
    detail: dict[tuple, dict] = {}
    for position, point in enumerate(points, start=1):
        parsed = _point(point, zone, today)
        if isinstance(parsed, str):
            problems.append((position, parsed))
            continue
        day, category, country, pricing_type, volume, cost = parsed
        totals[day] += cost
        key = (day, category, country, pricing_type)
        entry = detail.setdefault(
            key, {"day": day, "category": category, "country": country, "pricing_type": pricing_type,
                  "volume": 0, "cost": Decimal(0)}
        )  # fmt: skip
        entry["volume"] += volume
        entry["cost"] += cost
    if problems:
        raise ReconciliationError(problems)
    rows = [
        ReconciliationRow(line=0, waba=waba, day=day, currency=waba.hub.currency, meta_cost=total)
        for day, total in sorted(totals.items())
    ]
    return rows, list(detail.values())


def _point(point: object, zone, today: dt.date):
    if not isinstance(point, Mapping):
        return "data point is not an object"
    start = point.get("start")
    if isinstance(start, bool) or not isinstance(start, int):
        return f"start {start!r} is not Unix seconds"
    day = dt.datetime.fromtimestamp(start, tz=dt.UTC).astimezone(zone).date()
    if day > today:
        return f"day {day} is in the future (today is {today} in the WABA's time zone)"
    try:
        cost = Decimal(str(point.get("cost")))
    except InvalidOperation:
        return f"cost {point.get('cost')!r} is not a number"
    if not cost.is_finite() or cost < 0 or cost > MAX_COST:
        return f"cost {point.get('cost')!r} must be between 0 and {MAX_COST}"
    volume = point.get("volume", 0)
    if isinstance(volume, bool) or not isinstance(volume, int) or volume < 0:
        return f"volume {volume!r} is not a count"
    category = str(point.get("pricing_category") or "").lower()
    country = str(point.get("country") or "").upper()[:2]
    pricing_type = str(point.get("pricing_type") or "").lower()
    return day, category, country, pricing_type, volume, cost.quantize(Decimal("0.000001"))


def pricing_analytics_reconcile(*, waba: Waba, points: Sequence[object]) -> list[ReconciliationResult]:
    """Reconcile the days of these points (all or none) and keep Meta's breakdown of those days for the report."""
    rows, detail = pricing_analytics_rows(waba=waba, points=points)
    with transaction.atomic():
        results = usage_reconcile(rows=rows)
        MetaPricingPoint.objects.filter(waba=waba, day__in=[row.day for row in rows]).delete()
        MetaPricingPoint.objects.bulk_create(MetaPricingPoint(waba=waba, **entry) for entry in detail)
    return results


# --- Graph API -----------------------------------------------------------------------------------------------------


def pricing_analytics_fetch(*, waba_id: str, start: dt.datetime, end: dt.datetime) -> list[Mapping]:
    """Every data point of the WABA between start and end (DAILY), following paging.next to the last page."""
    query = urllib.parse.urlencode(
        {
            "fields": f"pricing_analytics.start({int(start.timestamp())}).end({int(end.timestamp())})"
            f".granularity(DAILY).dimensions({DIMENSIONS})",
            "access_token": settings.META_GRAPH_API_TOKEN,
        }
    )
    url: str | None = f"{settings.META_GRAPH_API_BASE.rstrip('/')}/{waba_id}?{query}"
    points: list[Mapping] = []
    for _page in range(settings.META_GRAPH_MAX_PAGES):
        if url is None:
            return points
        page = _get(url)
        points.extend(pricing_analytics_points(page))
        edge = page.get("pricing_analytics", page)
        paging = edge.get("paging") if isinstance(edge, Mapping) else None
        url = paging.get("next") if isinstance(paging, Mapping) else None
    raise GraphApiError(f"more than {settings.META_GRAPH_MAX_PAGES} pages of pricing analytics for WABA {waba_id}")


def _get(url: str) -> Mapping:
    """GET a Graph API page; a network error, 429 or 5xx is retried with exponential back-off."""
    attempts = settings.META_GRAPH_RETRIES + 1
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=settings.META_GRAPH_TIMEOUT) as response:  # noqa: S310 -- our setting
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 429 and error.code < 500 or attempt == attempts - 1:
                raise GraphApiError(f"Graph API answered {error.code}: {error.read()[:300]!r}") from error
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as error:
            if attempt == attempts - 1:
                raise GraphApiError(f"Graph API unreachable: {error}") from error
        time.sleep(settings.META_GRAPH_BACKOFF * 2**attempt)
    raise GraphApiError("Graph API retries exhausted")


def pricing_analytics_pull(*, day: dt.date) -> dict[str, int]:
    """Pull and reconcile `day` (and the day before, which Meta may still have completed since) for every WABA;
    WABA id -> days reconciled. A WABA whose pull fails is logged and left for the next run."""
    done = {}
    for waba in Waba.objects.select_related("hub__credit_account").order_by("id"):
        zone = zoneinfo.ZoneInfo(waba.timezone)
        start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        try:
            points = pricing_analytics_fetch(waba_id=waba.meta_waba_id, start=start, end=end)
            done[waba.meta_waba_id] = len(pricing_analytics_reconcile(waba=waba, points=points))
        except (GraphApiError, ReconciliationError) as error:
            logger.error("pricing analytics of WABA %s not reconciled: %s", waba.meta_waba_id, error)
    return done
