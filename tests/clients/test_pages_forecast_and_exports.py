"""Client Hub additions: the forecast on Funds and Overview, the balance alerts form, the ledger's "counts for" day,
the balance chart on a month's first day, the MCI page's summary and usage breakdown, the CSV downloads, and no Pay
page for viewers."""

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from billing.invoicing.settlement import invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, PaymentMethod, PaymentMethodKind
from hub.models import Hub
from portal.models import UserProfile
from tests.billing import test_pdf
from tests.billing.payments.conftest import license_invoice
from tests.clients.conftest import a_number, fund, member, usage
from tests.factories import ClientFactory, HubFactory, PhoneNumberFactory, WabaFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
TODAY = dt.datetime(2026, 12, 1, 10, tzinfo=BERLIN)
SENTENCE = (
    "At the last 7 days' rate your credit lasts until 14 Dec 2026; auto-renewal will add about €150.00 this month."
)


@pytest.fixture
def forecast_client():
    """108.00 of credit, 8.00 a day over the last 7 Berlin days, auto-renewal 50.00 below 10.00, a card saved."""
    client = ClientFactory(company_name="Acme GmbH", billing_email="finance@acme.example")
    hub = HubFactory(client=client, name="Acme Main")
    Hub.objects.filter(pk=hub.pk).update(created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    number = a_number(hub)
    number.waba.timezone = "Europe/Berlin"
    number.waba.save()
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("108.00", "EUR"), key="f",
                occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # fmt: skip
    CreditAccount.objects.filter(hub=hub).update(auto_renew=True, auto_renew_threshold=Decimal("10.00"),
                                                 auto_renew_amount=Decimal("50.00"))  # fmt: skip
    PaymentMethod.objects.create(client=client, kind=PaymentMethodKind.CARD, brand="visa", last4="4242",
                                 exp_month=12, exp_year=2030)  # fmt: skip
    for day in range(24, 31):
        usage(number, cost="8.000000", sent_at=dt.datetime(2026, 11, day, 12, tzinfo=BERLIN))
    return client


def test_funds_and_overview_show_the_forecast_in_words(client, forecast_client):
    client.force_login(member(forecast_client, "viewer"))
    with time_machine.travel(TODAY, tick=False):
        funds = client.get("/client/funds/").content.decode()
        overview = client.get("/client/").content.decode()

    assert SENTENCE in funds and "About €8.00 of usage a day." in funds
    assert SENTENCE in overview
    assert "Email when the credit runs out." in funds  # a viewer reads the alerts, without the form
    assert 'action="/client/funds/alerts/"' not in funds


def test_too_little_history_is_said_plainly(client):
    acme = ClientFactory()
    fund(HubFactory(client=acme), "50.00")  # set up today
    client.force_login(member(acme, "owner"))

    html = client.get("/client/funds/").content.decode()

    assert "Not enough history for a forecast yet: it needs 7 full days of usage." in html


def test_an_owner_sets_the_balance_alerts_and_a_viewer_may_not(client, forecast_client):
    hub = forecast_client.hubs.get()
    client.force_login(member(forecast_client, "viewer"))
    form = {"hub": hub.hub_id, "low_balance_alert": "25.00", "run_out_alert": "on"}
    assert client.post("/client/funds/alerts/", form).status_code == 403

    client.force_login(member(forecast_client, "owner"))
    response = client.post("/client/funds/alerts/", form, follow=True)
    assert "Balance alerts saved." in response.content.decode()
    bad = client.post("/client/funds/alerts/", {**form, "low_balance_alert": "-5"})
    client.post("/client/funds/alerts/", {"hub": hub.hub_id, "low_balance_alert": ""})  # both off

    assert bad.status_code == 400 and "Ensure this value is greater than or equal to 0.01." in bad.content.decode()
    account = CreditAccount.objects.get(hub=hub)
    assert (account.low_balance_alert, account.run_out_alert) == (None, False)


def test_the_ledger_shows_the_day_each_entry_counts_for(client):
    acme = ClientFactory()
    hub = HubFactory(client=acme)
    with time_machine.travel(dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC), tick=False):
        ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("20.00", "EUR"), key="a")
        ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-1.50", "EUR"), key="late",
                    occurred_at=dt.datetime(2026, 11, 28, 18, tzinfo=dt.UTC))  # fmt: skip
        CreditAccount.objects.filter(hub=hub).update(closed_through=dt.date(2026, 11, 1))  # November's MCI issued
        ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-0.50", "EUR"), key="later",
                    occurred_at=dt.datetime(2026, 11, 29, 18, tzinfo=dt.UTC))  # fmt: skip
        client.force_login(member(acme, "viewer"))
        html = client.get("/client/funds/").content.decode()

    assert "<th>Recorded</th><th>Counts for</th>" in html
    assert '<td>2 Dec 2026 09:00</td><td data-counts-for>28 Nov 2026</td>' in html
    assert ('<td>2 Dec 2026 09:00</td><td data-counts-for>29 Nov 2026 <span class="muted">(billed in December 2026)'
            "</span></td>") in html  # fmt: skip


def test_the_balance_chart_draws_a_line_and_a_point_on_the_first_day(client):
    acme = ClientFactory()
    hub = HubFactory(client=acme)
    with time_machine.travel(dt.datetime(2026, 11, 20, tzinfo=dt.UTC), tick=False):
        fund(hub, "222.76")
    with time_machine.travel(dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC), tick=False):
        client.force_login(member(acme, "viewer"))
        response = client.get("/client/funds/")

    chart = response.context["balance_chart"]
    start, end = chart.points.split()
    assert start.split(",")[1] == end.split(",")[1] != str(chart.zero_y)  # flat at 222.76, above the zero line
    assert [(dot["day"], dot["balance"]) for dot in chart.dots] == [(dt.date(2026, 12, 1), Decimal("222.760000"))]
    assert "<title>1 Dec · €222.76</title>" in response.content.decode()


@pytest.fixture
def october_mci():
    """The PDF tests' October Month Closing Invoice, with its 17 billable messages in 4 groups."""
    hub = HubFactory(client=ClientFactory(company_name="Bäckerei Müller GmbH"), hub_id="HUB-BKMLR7Q2")
    waba = WabaFactory(hub=hub, meta_waba_id=test_pdf.WABA_ID)
    number_a = PhoneNumberFactory(waba=waba, e164=test_pdf.NUMBER_A)
    number_b = PhoneNumberFactory(waba=waba, e164=test_pdf.NUMBER_B)
    test_pdf.usage_record(number_a, count=7, category="marketing", market="DE", rate="0.113100")
    test_pdf.usage_record(number_a, count=2, category="utility", market="DE", rate="0.022500")
    test_pdf.usage_record(number_a, count=3, category="marketing", market="BR", rate="0.062500")
    test_pdf.usage_record(number_b, count=4, category="authentication", market="DE", rate="0.054700")
    test_pdf.usage_record(number_a, count=5, category="service", market="DE", rate="0", billable=False)
    return test_pdf.month_closing_invoice(hub)


def test_the_month_closing_invoice_page_shows_the_summary_and_the_usage_as_its_pdf(client, october_mci):
    invoice = october_mci
    client.force_login(member(invoice.hub.client, "viewer"))

    html = client.get(f"/client/invoices/{invoice.number}/").content.decode()

    summary = html.split('id="monthly-summary"')[1].split("</table>")[0]
    assert [row in summary for row in (
        '<th scope="row">Hub ID</th><td class="num">HUB-BKMLR7Q2</td>',
        '<th scope="row">Starting Balance</th><td class="num">€200.00</td>',
        '<th scope="row">Total Added Funds</th><td class="num">€1,000.00</td>',
        '<th scope="row">Total Usage</th><td class="num">€1,234.50</td>',
        '<th scope="row">Total Refunds</th><td class="num">€10.00</td>',
        '<th scope="row">Ending Balance</th><td class="num">-€29.75</td>',
        '<th scope="row">Usage Reconciliation</th><td class="num">-€5.25</td>',
    )] == [True] * 7  # fmt: skip
    breakdown = html.split('id="usage-breakdown"')[1]
    assert breakdown.count("<tr><td>") == 4  # the PDF's four groups; free service messages are not billed
    assert '<td>Marketing</td><td>Germany</td><td class="num">7</td><td class="num">€0.79</td>' in breakdown


def test_the_invoice_list_downloads_as_csv_with_its_filters(client):
    acme = ClientFactory()
    hub = HubFactory(client=acme, name="=cmd|' /C calc'!A0")  # a name a spreadsheet must not run
    license_ = license_invoice(hub)
    invoice_mark_unpaid(invoice=license_)
    client.force_login(member(acme, "viewer"))

    response = client.get("/client/invoices/download.csv?status=unpaid")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))

    assert response["Content-Disposition"] == 'attachment; filename="invoices.csv"'
    assert response.content.startswith("\ufeff".encode())  # a spreadsheet reads it as UTF-8
    assert rows[0] == ["Number", "Kind", "Hub ID", "Hub", "Period start", "Period end", "Issued (UTC)", "Due",
                       "Status", "Currency", "Net", "Fee", "Tax", "Total"]  # fmt: skip
    assert rows[1][:6] == [license_.number, "License Invoice", hub.hub_id, "'=cmd|' /C calc'!A0", "2026-11-01",
                           "2026-11-30"]  # fmt: skip
    assert rows[1][8:] == ["Unpaid", "EUR", "25.00", str(license_.fee_amount), str(license_.tax_amount),
                           str(license_.total)]  # fmt: skip
    assert len(rows) == 2
    assert rows[1][6] == license_.issued_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    assert len(list(csv.reader(io.StringIO(client.get("/client/invoices/download.csv?status=paid")
                                           .content.decode("utf-8-sig"))))) == 1  # fmt: skip


def test_the_months_usage_downloads_as_csv(client):
    acme = ClientFactory()
    hub = HubFactory(client=acme)
    number = a_number(hub)
    usage(number, cost="0.113100", sent_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC), count=2)
    usage(number, cost="0.022500", category="utility", market="FR", sent_at=dt.datetime(2026, 10, 6, tzinfo=dt.UTC))
    client.force_login(member(acme, "viewer"))

    response = client.get(f"/client/funds/usage.csv?hub={hub.hub_id}&month=2026-10")
    bad = client.get(f"/client/funds/usage.csv?hub={hub.hub_id}&month=October")

    assert response["Content-Disposition"] == f'attachment; filename="usage-{hub.hub_id}-2026-10.csv"'
    assert list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")))) == [
        ["Hub ID", "Month", "WABA", "WABA ID", "Number", "Category", "Market", "Messages", "Billable", "Currency",
         "Cost"],
        [hub.hub_id, "2026-10", number.waba.name, number.waba.meta_waba_id, number.e164, "Marketing", "DE", "2", "2",
         "EUR", "0.226200"],
        [hub.hub_id, "2026-10", number.waba.name, number.waba.meta_waba_id, number.e164, "Utility", "FR", "1", "1",
         "EUR", "0.022500"],
    ]  # fmt: skip
    assert (bad.status_code, bad.content) == (400, b"Give the month as YYYY-MM.")


def test_the_downloads_speak_the_readers_language_and_a_spreadsheets_number_format(client):
    """A German reader: German headers and labels, ";" between cells, decimal commas without grouping, dates as
    dd.mm.yyyy and the issue time in the person's time zone — what a German spreadsheet opens as figures and dates."""
    acme = ClientFactory()
    hub = HubFactory(client=acme)
    number = a_number(hub)
    usage(number, cost="1234.113100", sent_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC), count=2)
    license_ = invoice_mark_unpaid(invoice=license_invoice(hub))
    person = member(acme, "viewer")
    UserProfile.objects.update_or_create(user=person, defaults={"language": "de", "timezone": "Europe/Berlin"})
    client.force_login(person)

    invoices = client.get("/client/invoices/download.csv", HTTP_ACCEPT_LANGUAGE="en")
    usage_rows = client.get(f"/client/funds/usage.csv?hub={hub.hub_id}&month=2026-10")
    bad = client.get(f"/client/funds/usage.csv?hub={hub.hub_id}&month=Oktober")

    rows = list(csv.reader(io.StringIO(invoices.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Nummer", "Art", "Hub-ID", "Hub", "Zeitraum von", "Zeitraum bis", "Ausgestellt (Europe/Berlin)",
                       "Fällig", "Status", "Währung", "Netto", "Gebühr", "Steuer", "Summe"]  # fmt: skip
    issued = license_.issued_at.astimezone(BERLIN)
    assert rows[1][1:] == ["Lizenzrechnung", hub.hub_id, hub.name, "01.11.2026", "30.11.2026",
                           issued.strftime("%d.%m.%Y %H:%M"), license_.due_date.strftime("%d.%m.%Y"), "Unbezahlt",
                           "EUR", *(f"{amount:f}".replace(".", ",") for amount in (
                               license_.net_amount, license_.fee_amount, license_.tax_amount, license_.total))]
    assert rows[1][10] == "50,00"  # two numbers' licenses: decimal comma, no grouping, no currency sign
    assert list(csv.reader(io.StringIO(usage_rows.content.decode("utf-8-sig")), delimiter=";")) == [
        ["Hub-ID", "Monat", "WABA", "WABA-ID", "Nummer", "Kategorie", "Markt", "Nachrichten", "Abrechenbar",
         "Währung", "Kosten"],
        [hub.hub_id, "2026-10", number.waba.name, number.waba.meta_waba_id, number.e164, "Marketing", "DE", "2", "2",
         "EUR", "2468,226200"],
    ]  # fmt: skip
    assert (bad.status_code, bad.content.decode()) == (400, "Geben Sie den Monat als JJJJ-MM an.")


def test_a_client_viewer_never_reaches_a_pay_page(client):
    acme = ClientFactory()
    invoice = invoice_mark_unpaid(invoice=license_invoice(HubFactory(client=acme)))
    client.force_login(member(acme, "viewer"))

    banner = client.get("/client/").content.decode()

    assert client.get(f"/client/invoices/{invoice.number}/pay/").status_code == 403
    assert f"/client/invoices/{invoice.number}/pay/" not in banner  # the restriction banner has no Pay link for them
