"""The reconciliation report, for staff (admin) and for the client (Funds): Meta's cost against our rating per
WABA × day with the adjustment posted, filterable by month, and under each WABA day its breakdown by category ×
country (Meta's pricing analytics beside the messages rated here). Meta's data is its documented example response."""

import datetime as dt
import html
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.meta_analytics import pricing_analytics_points, pricing_analytics_reconcile
from billing.models import RateCardRate
from billing.selectors.reconciliations import hub_reconciliations
from billing.usage.ingest import usage_record_batch
from tests.clients.conftest import member
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"
JUNE_5 = 1749106800  # 2025-06-05 00:00 in America/Los_Angeles
EXAMPLE = Path(__file__).parent / "usage" / "fixtures" / "meta" / "pricing_analytics_example.json"


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2025, 6, 10, 12, tzinfo=dt.UTC), tick=False):
        yield


def reconciled_world():
    """A Los Angeles WABA with three messages rated on 5 June 2025, reconciled with Meta's example response."""
    RateCardRate.objects.bulk_create([
        RateCardRate(effective_date=dt.date(2025, 1, 1), currency="EUR", market="IN",
                     category="authentication_international", rate=Decimal("2.000000")),
        RateCardRate(effective_date=dt.date(2025, 1, 1), currency="EUR", market="DE", category="marketing",
                     rate=Decimal("0.113100")),
    ])  # fmt: skip
    number = PhoneNumberFactory(waba=WabaFactory(meta_waba_id=WABA_ID, timezone="America/Los_Angeles"))
    event = {"waba_id": WABA_ID, "phone_number": number.e164, "billable": True}
    usage_record_batch(
        events=[
            {**event, "message_id": "wamid.in1", "recipient_country": "IN", "category": "authentication_international",
             "timestamp": JUNE_5 + 3600},
            {**event, "message_id": "wamid.in2", "recipient_country": "IN", "category": "authentication_international",
             "timestamp": JUNE_5 + 7200},
            {**event, "message_id": "wamid.de1", "recipient_country": "DE", "category": "marketing",
             "timestamp": JUNE_5 + 10800},
        ]
    )  # fmt: skip
    waba = number.waba
    points = list(pricing_analytics_points(json.loads(EXAMPLE.read_text())))
    pricing_analytics_reconcile(waba=waba, points=points)
    return waba


@pytest.fixture
def waba():
    return reconciled_world()


def text(fragment: str) -> list[str]:
    cells = re.findall(r"<td[^>]*>(.*?)</td>", fragment)
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


def day_rows(page: str) -> dict[str, list[str]]:
    """WABA day -> its cells, in the page's order."""
    return {key: text(row) for key, row in re.findall(r'<tr data-waba-day="([^"]+)">(.*?)</tr>', page, re.S)}


def breakdown(page: str, waba_day: str) -> list[list[str]]:
    block = re.search(rf'<details data-breakdown="{waba_day}">(.*?)</details>', page, re.S).group(1)
    return [text(row) for row in re.findall(r"<tr data-line=[^>]*>(.*?)</tr>", block, re.S)]


JUNE_5_BREAKDOWN = [
    # category, country, Meta's messages, Meta's cost, messages rated, rated, difference
    ["Authentication (international)", "IN", "2", "€4.60", "2", "€4.00", "€0.60"],
    ["Marketing", "DE", "–", "–", "1", "€0.1131", "€0.00"],
    ["Service", "IN", "2", "€0.00", "0", "€0.00", "€0.00"],
]


def test_staff_see_the_months_waba_days_with_their_breakdown(waba, admin_client):
    page = admin_client.get("/admin/billing/usagereconciliation/report/", {"month": "2025-06"}).content.decode()

    rows = day_rows(page)
    assert list(rows) == [f"{WABA_ID} 2025-06-06", f"{WABA_ID} 2025-06-05", f"{WABA_ID} 2025-06-03",
                          f"{WABA_ID} 2025-06-02", f"{WABA_ID} 2025-06-01"]  # fmt: skip
    hub = waba.hub.hub_id
    assert rows[f"{WABA_ID} 2025-06-05"] == ["2025-06-05", f"{WABA_ID} {waba.name}", hub, "€4.60", "€4.1131", "-€0.49"]
    assert rows[f"{WABA_ID} 2025-06-01"] == ["2025-06-01", f"{WABA_ID} {waba.name}", hub, "€70.00", "€0.00", "-€70.00"]
    assert breakdown(page, f"{WABA_ID} 2025-06-05") == JUNE_5_BREAKDOWN
    assert breakdown(page, f"{WABA_ID} 2025-06-01") == [
        ["Authentication", "US", "1", "€10.00", "0", "€0.00", "€10.00"],
        ["Marketing", "US", "4", "€40.00", "0", "€0.00", "€40.00"],
        ["Marketing lite", "US", "1", "€10.00", "0", "€0.00", "€10.00"],
        ["Service", "US", "2", "€0.00", "0", "€0.00", "€0.00"],
        ["Utility", "US", "2", "€10.00", "0", "€0.00", "€10.00"],
    ]


def test_the_staff_report_filters_by_month_and_by_waba(waba, admin_client):
    report = "/admin/billing/usagereconciliation/report/"
    may = admin_client.get(report, {"month": "2025-05"}).content.decode()
    assert day_rows(may) == {}
    assert "No WABA day of this month has been reconciled with Meta yet." in may
    assert len(day_rows(admin_client.get(report, {"month": "2025-06", "q": waba.hub.hub_id}).content.decode())) == 5
    assert day_rows(admin_client.get(report, {"month": "2025-06", "q": "999"}).content.decode()) == {}
    assert "report/" in admin_client.get("/admin/billing/usagereconciliation/").content.decode()


def test_the_client_sees_its_hubs_days_with_the_same_breakdown_on_funds(waba, client):
    client.force_login(member(waba.hub.client, "viewer"))

    page = client.get("/client/funds/", {"reconciled": "2025-06"}).content.decode()

    rows = day_rows(page)
    assert list(rows) == [f"{WABA_ID} 2025-06-01", f"{WABA_ID} 2025-06-02", f"{WABA_ID} 2025-06-03",
                          f"{WABA_ID} 2025-06-05", f"{WABA_ID} 2025-06-06"]  # fmt: skip
    assert rows[f"{WABA_ID} 2025-06-05"][2:] == ["€4.60", "€4.1131", "-€0.49"]
    assert breakdown(page, f"{WABA_ID} 2025-06-05") == JUNE_5_BREAKDOWN
    assert day_rows(client.get("/client/funds/", {"reconciled": "2025-05"}).content.decode()) == {}


def test_the_breakdown_costs_two_queries_whatever_the_number_of_days(waba):
    with CaptureQueriesContext(connection) as queries:
        days = hub_reconciliations(hub=waba.hub, month=dt.date(2025, 6, 1))
    assert (len(days), len(queries)) == (5, 3)  # the days, Meta's points, our rated messages
    rated = sum((line.rated_cost for day in days for line in day.breakdown), Decimal(0))
    assert rated == sum((day.reconciliation.rated_cost for day in days), Decimal(0)) == Decimal("4.113100")
