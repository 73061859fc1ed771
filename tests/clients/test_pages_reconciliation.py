"""The client's reconciliation report on Funds: Meta's cost against our rating per WABA × day, with the adjustment
posted, filterable by month; only the client's own hub."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.models import UsageReconciliation
from tests.clients.conftest import a_number, member

pytestmark = [pytest.mark.django_db]

NOW = dt.datetime(2026, 11, 15, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield


def reconciled(waba, day, meta, rated, adjustment):
    return UsageReconciliation.objects.create(waba=waba, day=day, currency="EUR", meta_cost=Decimal(meta),
                                              rated_cost=Decimal(rated), adjustment=Decimal(adjustment),
                                              updated_at=NOW)  # fmt: skip


def rows(html: str) -> list[str]:
    section = html.split('id="reconciliation"', 1)[1].split("<h2", 1)[0]
    return [row.split("><td>", 1)[1].split("</tr>")[0] for row in section.split("<tr data-waba-day=")[1:]]


def test_the_month_is_this_one_by_default_and_can_be_chosen(client, acme, other_client):
    waba = a_number(acme.hubs.get()).waba
    reconciled(waba, dt.date(2026, 11, 3), "4.600000", "4.000000", "-0.60")
    reconciled(waba, dt.date(2026, 10, 20), "1.000000", "1.250000", "0.25")
    reconciled(a_number(other_client.hubs.get()).waba, dt.date(2026, 11, 3), "9.000000", "1.000000", "-8.00")
    client.force_login(member(acme, "viewer"))

    november = rows(client.get("/client/funds/").content.decode())
    october = rows(client.get("/client/funds/?reconciled=2026-10").content.decode())

    waba_cell = f'<td>WABA of Acme Main <span class="muted">{waba.meta_waba_id}</span></td>'
    assert november == [
        f'Nov. 3, 2026</td>{waba_cell}<td class="num">€4.60</td><td class="num">€4.00</td><td class="num">-€0.60</td>'
    ]
    assert october == [
        f'Oct. 20, 2026</td>{waba_cell}<td class="num">€1.00</td><td class="num">€1.25</td><td class="num">€0.25</td>'
    ]


def test_no_reconciled_day_says_so(client, acme):
    client.force_login(member(acme, "owner"))
    html = client.get("/client/funds/?reconciled=2026-09").content.decode()
    assert "No day of this month has been reconciled with Meta's report yet." in html
    assert rows(html) == []
