"""Partner Hub clients: usage, balance and billing status of each client in a fixed number of queries; a client's
page with its hubs and usage over time. Never the clients' invoices."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from billing.invoicing.settlement import invoice_mark_paid, invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import EntryKind
from core import clock
from tests.billing.payments.conftest import license_invoice
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import partner_member, usage_cost

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def funded_hub(client, amount: str):
    hub = HubFactory(client=client)
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money(amount, hub.currency),
                key=f"funds:{hub.pk}")  # fmt: skip
    return hub


def row_of(html: str, client) -> str:
    return html.split(f'<tr data-client="{client.pk}">')[1].split("</tr>")[0]


def test_each_client_shows_usage_balance_billing_status_and_restrictions(client):
    partner = PartnerFactory()
    acme = ClientFactory(partner=partner, company_name="Acme GmbH")
    first, second = funded_hub(acme, "40.00"), funded_hub(acme, "2.50")
    usage_cost(first, "1.250000")
    usage_cost(second, "0.333333", category="utility")
    usage_cost(first, "9.000000", period=dt.date(2020, 1, 1))  # an earlier month: not this month's usage
    license = license_invoice(first)
    invoice_mark_unpaid(invoice=license)
    quiet = ClientFactory(partner=partner, company_name="Quiet AG")
    HubFactory(client=quiet)  # unfunded: outbound messaging paused
    paid_license = license_invoice(funded_hub(ClientFactory(partner=partner, company_name="Paid SA"), "5.00"))
    invoice_mark_paid(invoice=paid_license, paid_at=clock.now())
    partner_member(client, partner, "viewer")

    html = client.get("/partner/clients/").content.decode()

    acme_row, quiet_row = row_of(html, acme), row_of(html, quiet)
    # A summary shows cents (1.583333 of usage); the exact figure is on the Month Closing Invoice.
    assert '<td class="num">€1.58</td>' in acme_row
    assert '<td class="num">€42.50</td>' in acme_row  # both hubs' balances
    assert '<span class="badge unpaid">Unpaid</span>' in acme_row
    assert "License invoice not paid upon receipt" in acme_row
    assert '<td class="num">€0.00</td>' in quiet_row
    assert "Credit balance is 0.00 or below" in quiet_row
    assert '<span class="muted">—</span>' in quiet_row  # no license invoice yet
    assert '<span class="badge paid">Paid</span>' in html.split("Paid SA")[1]
    assert license.number not in html and paid_license.number not in html
    assert "/invoices/" not in html.split("<table")[1]  # status only, never a link to a client invoice


def test_the_list_sorts_and_searches(client):
    partner = PartnerFactory()
    low = funded_hub(ClientFactory(partner=partner, company_name="Beta Ltd"), "5.00")
    high = funded_hub(ClientFactory(partner=partner, company_name="Alpha Ltd"), "50.00")
    usage_cost(low, "3.000000")
    usage_cost(high, "1.000000")
    ClientFactory(partner=partner, company_name="Gamma Trading")
    partner_member(client, partner)

    def names(query: str) -> list[str]:
        html = client.get(f"/partner/clients/{query}").content.decode()
        return [part.split("</a>")[0].split('">')[-1] for part in html.split("<tr data-client=")[1:]]

    assert names("") == ["Alpha Ltd", "Beta Ltd", "Gamma Trading"]
    assert names("?sort=name&dir=desc") == ["Gamma Trading", "Beta Ltd", "Alpha Ltd"]
    assert names("?sort=balance&dir=desc") == ["Alpha Ltd", "Beta Ltd", "Gamma Trading"]
    assert names("?sort=usage&dir=desc") == ["Beta Ltd", "Alpha Ltd", "Gamma Trading"]
    assert names("?sort=usage") == ["Gamma Trading", "Alpha Ltd", "Beta Ltd"]
    assert names("?q=ltd&sort=balance") == ["Beta Ltd", "Alpha Ltd"]
    assert names("?sort=nonsense") == ["Alpha Ltd", "Beta Ltd", "Gamma Trading"]


def test_another_partners_clients_are_not_listed(client):
    partner = PartnerFactory()
    ClientFactory(partner=PartnerFactory(), company_name="Someone Else's Client")
    partner_member(client, partner)

    html = client.get("/partner/clients/").content.decode()

    assert "Someone Else&#x27;s Client" not in html
    assert "No clients yet." in html


def clients_with_hubs(partner, count: int) -> None:
    for _ in range(count):
        hub = funded_hub(ClientFactory(partner=partner), "10.00")
        usage_cost(hub, "0.500000")
        invoice_mark_unpaid(invoice=license_invoice(hub))


def test_the_list_issues_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    partner = PartnerFactory()
    partner_member(client, partner)
    clients_with_hubs(partner, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/partner/clients/?sort=usage").status_code == 200
    clients_with_hubs(partner, 27)

    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get("/partner/clients/?sort=usage").content.decode()

    # session, user, profile, the two membership look-ups, the partner; then count, page, restrictions
    assert len(few.captured_queries) == 9
    assert html.count("<tr data-client=") == 25  # a page of 25 out of 30
    assert "Page 1 of 2" in html


def test_a_client_page_shows_hubs_balances_restrictions_and_six_months_of_usage(client):
    partner = PartnerFactory()
    acme = ClientFactory(partner=partner, company_name="Acme GmbH")
    hub = funded_hub(acme, "12.00")
    blocked = HubFactory(client=acme, name="Unfunded hub")
    this_month = clock.month_start(clock.now())
    last_month = clock.month_start(this_month - dt.timedelta(days=1))
    usage_cost(hub, "4.000000", period=this_month)
    usage_cost(hub, "1.000000", category="utility", period=this_month)
    usage_cost(hub, "2.500000", period=last_month)
    invoice = license_invoice(hub)
    partner_member(client, partner)

    html = client.get(f"/partner/clients/{acme.pk}/").content.decode()

    assert hub.hub_id in html and blocked.hub_id in html
    assert "€12.00" in html
    assert "Credit balance is 0.00 or below" in html.split(blocked.hub_id)[1].split("</tr>")[0]
    chart = html.split('<svg id="usage-chart"')[1].split("</svg>")[0]
    assert chart.count("<rect") == 3  # this month: marketing and utility; last month: marketing
    assert 'height="128.0" fill="#2563eb"><title>Marketing</title>' in chart  # 4.00 of the highest 5.00 → 0.8 × 160
    assert f"{this_month:%b %Y}" in chart
    usage = html.split('<table id="usage">')[1]
    assert usage.count("<tr><td>") == 6
    assert f'<td>{this_month:%B %Y}</td><td class="num">€5.00</td>' in usage
    assert f'<td>{last_month:%B %Y}</td><td class="num">€2.50</td>' in usage
    assert invoice.number not in html


def test_another_partners_client_page_is_not_found(client):
    stranger = ClientFactory(partner=PartnerFactory())
    partner_member(client, PartnerFactory())

    assert client.get(f"/partner/clients/{stranger.pk}/").status_code == 404


def test_the_overview_counts_clients_and_shows_the_unpaid_plan_banner(client):
    from tests.billing.payments.conftest import plan_invoice

    partner = PartnerFactory()
    funded_hub(ClientFactory(partner=partner), "10.00")
    HubFactory(client=ClientFactory(partner=partner))  # unfunded: restricted
    invoice = plan_invoice(partner)
    invoice_mark_unpaid(invoice=invoice)
    partner_member(client, partner)

    html = client.get("/partner/").content.decode()

    assert '<span class="value" id="client-count">2</span>' in html
    assert '<span class="value" id="restricted-count">1</span>' in html
    assert f"Your Partner Plan invoice {invoice.number} is unpaid: onboarding new clients is paused." in html
    assert f'href="/partner/invoices/{invoice.number}/pay/"' in html
    assert '<span class="value">Growth</span>' in html
