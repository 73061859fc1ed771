"""Reconciliation from Meta's pricing analytics (the Graph API's response shape), and the daily pull, against a real
HTTP server on loopback that serves Meta-shaped pages (no network)."""

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.core.management import call_command

from billing.meta_analytics import GraphApiError, pricing_analytics_fetch, pricing_analytics_reconcile
from billing.models import CreditAccount, EntryKind, LedgerEntry, MetaPricingPoint, RateCardRate, UsageReconciliation
from billing.reconciliation import ReconciliationError
from billing.tasks import meta_pricing_analytics_task
from billing.usage.ingest import usage_record_batch
from tests.factories import PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"
JUNE_5 = 1749106800  # 2025-06-05 00:00 in America/Los_Angeles, as in the sample


def point(**overrides):
    return {"start": JUNE_5, "end": JUNE_5 + 86400, "country": "IN", "tier": "0:750000", "pricing_type": "REGULAR",
            "pricing_category": "AUTHENTICATION_INTERNATIONAL", "volume": 2, "cost": 4.6, **overrides}  # fmt: skip


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2025, 6, 10, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def waba():
    RateCardRate.objects.create(effective_date=dt.date(2025, 1, 1), currency="EUR", market="IN",
                                category="authentication_international", rate=Decimal("2.000000"))  # fmt: skip
    number = PhoneNumberFactory(waba=WabaFactory(meta_waba_id=WABA_ID, timezone="America/Los_Angeles"))
    usage_record_batch(
        events=[
            {"message_id": f"wamid.a{n}", "waba_id": WABA_ID, "phone_number": number.e164, "recipient_country": "IN",
             "category": "authentication_international", "billable": True, "timestamp": JUNE_5 + 3600 * (n + 1)}
            for n in range(2)
        ]
    )  # fmt: skip
    return number.waba


def balance(waba):
    return CreditAccount.objects.get(hub=waba.hub).balance


def test_pricing_analytics_reconcile_to_the_cent_and_twice_posts_nothing(waba):
    assert balance(waba) == Decimal("-4.000000")

    [result] = pricing_analytics_reconcile(waba=waba, points=[point()])

    assert (result.day, result.meta_cost, result.rated_cost, result.adjustment, result.posted) == (
        dt.date(2025, 6, 5),
        Decimal("4.600000"),
        Decimal("4.000000"),
        Decimal("-0.60"),
        Decimal("-0.60"),
    )
    assert balance(waba) == Decimal("-4.600000")
    assert MetaPricingPoint.objects.get().cost == Decimal("4.600000")

    [again] = pricing_analytics_reconcile(waba=waba, points=[point()])
    assert again.posted == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.RECONCILIATION).count() == 1
    assert MetaPricingPoint.objects.count() == 1
    assert balance(waba) == Decimal("-4.600000")


def test_the_command_reads_the_graph_api_response_as_returned(waba, tmp_path):
    path = tmp_path / "pricing_analytics.json"
    path.write_text(json.dumps({"pricing_analytics": {"data": [{"data_points": [point()]}]}, "id": WABA_ID}))
    stdout = StringIO()
    call_command("reconcile_pricing_analytics", str(path), "--waba", WABA_ID, stdout=stdout)
    assert stdout.getvalue() == (
        f"2025-06-05 {WABA_ID}: Meta 4.600000 EUR, rated 4.000000, adjustment -0.60 (posted -0.60)\n"
    )
    assert balance(waba) == Decimal("-4.600000")


def test_points_of_one_day_are_summed_and_kept_by_category_and_country(waba):
    pricing_analytics_reconcile(
        waba=waba,
        points=[point(cost=3.1, volume=1), point(cost=0.9, volume=1, country="DE", pricing_category="UTILITY")],
    )
    assert UsageReconciliation.objects.get().meta_cost == Decimal("4.000000")
    assert LedgerEntry.objects.filter(kind=EntryKind.RECONCILIATION).count() == 0  # exactly as rated
    assert sorted(MetaPricingPoint.objects.values_list("category", "country", "volume", "cost")) == [
        ("authentication_international", "IN", 1, Decimal("3.100000")),
        ("utility", "DE", 1, Decimal("0.900000")),
    ]


def test_a_bad_point_rejects_the_whole_response(waba):
    with pytest.raises(ReconciliationError) as raised:
        pricing_analytics_reconcile(waba=waba, points=[point(), point(cost="lots"), point(start=JUNE_5 + 30 * 86400)])
    assert raised.value.problems == [
        (2, "cost 'lots' is not a number"),
        (3, "day 2025-07-05 is in the future (today is 2025-06-10 in the WABA's time zone)"),
    ]
    assert (UsageReconciliation.objects.count(), balance(waba)) == (0, Decimal("-4.000000"))


class Graph:
    """A loopback HTTP server answering like the Graph API: page 1 on the WABA node, page 2 by paging.next; the
    first request fails with 500 once (Meta's transient errors), to exercise the retry."""

    def __init__(self):
        self.requests: list[str] = []
        self.fail_first = 1
        graph = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 -- http.server's name
                graph.requests.append(self.path)
                if graph.fail_first:
                    graph.fail_first -= 1
                    return self._send(500, {"error": {"message": "An unknown error occurred", "code": 1}})
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                if self.path.startswith(f"/v23.0/{WABA_ID}?"):
                    return self._send(200, {"pricing_analytics": {
                        "data": [{"data_points": [point(cost=4.0, volume=1)]}],
                        "paging": {"next": f"{host}/v23.0/page2?after=abc"}}, "id": WABA_ID})  # fmt: skip
                if self.path.startswith("/v23.0/page2"):
                    return self._send(200, {"data": [{"data_points": [point(cost=0.6, volume=1)]}], "paging": {}})
                return self._send(404, {"error": {"message": "unknown path"}})

            def _send(self, status, body):
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v23.0"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def graph(settings):
    server = Graph()
    settings.META_GRAPH_API_BASE = server.base
    settings.META_GRAPH_API_TOKEN = "test-system-user-token"
    settings.META_GRAPH_BACKOFF = 0.01
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_fetch_follows_paging_next_and_retries_a_server_error(graph):
    points = pricing_analytics_fetch(
        waba_id=WABA_ID, start=dt.datetime(2025, 6, 4, tzinfo=dt.UTC), end=dt.datetime(2025, 6, 6, tzinfo=dt.UTC)
    )

    assert [p["cost"] for p in points] == [4.0, 0.6]
    assert len(graph.requests) == 3  # the 500, then both pages
    query = parse_qs(urlparse(graph.requests[1]).query)
    assert query["access_token"] == ["test-system-user-token"]
    assert query["fields"] == [
        "pricing_analytics.start(1748995200).end(1749168000).granularity(DAILY)"
        '.dimensions(["PRICING_CATEGORY","PRICING_TYPE","COUNTRY"])'
    ]


def test_fetch_gives_up_after_the_retries(graph, settings):
    graph.fail_first = 10
    settings.META_GRAPH_RETRIES = 2
    with pytest.raises(GraphApiError, match="Graph API answered 500"):
        pricing_analytics_fetch(waba_id=WABA_ID, start=dt.datetime(2025, 6, 4, tzinfo=dt.UTC),
                                end=dt.datetime(2025, 6, 6, tzinfo=dt.UTC))  # fmt: skip
    assert len(graph.requests) == 3


def test_the_daily_job_pulls_and_reconciles_every_waba_once(waba, graph):
    assert meta_pricing_analytics_task.delay("2025-06-05").get() == {WABA_ID: 1}
    assert balance(waba) == Decimal("-4.600000")

    graph.fail_first = 1
    assert meta_pricing_analytics_task.delay("2025-06-05").get() == {WABA_ID: 1}
    assert balance(waba) == Decimal("-4.600000")  # pulled again: nothing posted twice
    assert LedgerEntry.objects.filter(kind=EntryKind.RECONCILIATION).count() == 1


def test_metas_documented_example_response_reconciles_to_the_cent(waba, tmp_path):
    # Meta's Analytics page, "Pricing analytics" → "Example response", verbatim (tests/billing/usage/fixtures/meta/
    # SOURCES.md): five days of a Los Angeles WABA, tiers "0:750000", "0:2" and "0:MAX", free points without a tier.
    sample = Path(__file__).parent / "usage" / "fixtures" / "meta" / "pricing_analytics_example.json"
    stdout = StringIO()

    call_command("reconcile_pricing_analytics", str(sample), "--waba", WABA_ID, stdout=stdout)

    assert stdout.getvalue().splitlines() == [
        f"2025-06-01 {WABA_ID}: Meta 70.000000 EUR, rated 0.000000, adjustment -70.00 (posted -70.00)",
        f"2025-06-02 {WABA_ID}: Meta 12.300000 EUR, rated 0.000000, adjustment -12.30 (posted -12.30)",
        f"2025-06-03 {WABA_ID}: Meta 10.000000 EUR, rated 0.000000, adjustment -10.00 (posted -10.00)",
        f"2025-06-05 {WABA_ID}: Meta 4.600000 EUR, rated 4.000000, adjustment -0.60 (posted -0.60)",
        f"2025-06-06 {WABA_ID}: Meta 0.000000 EUR, rated 0.000000, adjustment 0.00 (posted 0.00)",
    ]
    assert balance(waba) == Decimal("-96.900000")
    assert MetaPricingPoint.objects.count() == 14
    assert MetaPricingPoint.objects.get(day=dt.date(2025, 6, 1), category="marketing").volume == 4

    call_command("reconcile_pricing_analytics", str(sample), "--waba", WABA_ID, stdout=StringIO())
    assert balance(waba) == Decimal("-96.900000")  # imported again: nothing posted twice
