"""Client Hub invoices: the list (kind, number, period, amount, status; filters; pages), one invoice with its lines,
its PDF, and Pay on unpaid ones. Only the client's own issued invoices; another client's number is 404."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid, invoice_mark_unpaid
from billing.models import Invoice, InvoiceKind, InvoiceStatus
from tests.billing.payments.conftest import license_invoice
from tests.clients.conftest import member
from tests.factories import ClientFactory, HubFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ISSUED = dt.datetime(2026, 10, 1, 8, tzinfo=dt.UTC)


def bulk_invoices(client, count: int, *, kind=InvoiceKind.LICENSE, status=InvoiceStatus.PAID, start: int = 0,
                  month: dt.date = dt.date(2026, 10, 1)) -> list[Invoice]:  # fmt: skip
    """Issued invoices written straight in one statement (their figures are all the list shows)."""
    hub = client.hubs.first()
    rows = [
        Invoice(
            number=f"TST-{n:06d}", kind=kind, status=status, party_key=f"hub:{hub.id}", hub=hub, client=client,
            period_key=f"bulk:{n}", period_start=month, period_end=(month + dt.timedelta(days=32)).replace(day=1),
            currency="EUR", net_amount=Decimal("10.00"), total=Decimal("10.00"),
            issued_at=ISSUED + dt.timedelta(minutes=n), paid_at=ISSUED if status == InvoiceStatus.PAID else None,
        )  # fmt: skip
        for n in range(start, start + count)
    ]
    return Invoice.objects.bulk_create(rows, batch_size=1000)


def listed(response) -> list[str]:
    return [invoice.number for invoice in response.context["page"].object_list]


def test_anonymous_and_partner_users_do_not_see_invoices(client):
    assert client.get("/client/invoices/").status_code == 302
    assert client.get("/client/invoices/INV-2026-000001/pdf/").status_code == 302


def test_the_list_shows_issued_invoices_of_the_client_only(client, acme, other_client):
    hub = acme.hubs.get()
    lic = invoice_mark_unpaid(invoice=license_invoice(hub))
    topup = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="page-test")
    paid = invoice_mark_paid(invoice=topup_issue(hub=hub, amount=Decimal("20.00"), request_key="page-test-2"))
    Invoice.objects.create(
        kind=InvoiceKind.PREPAYMENT, party_key=f"hub:{hub.id}", hub=hub, client=acme, period_key="draft",
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 2), currency="EUR",
        net_amount=Decimal("5.00"), total=Decimal("5.00"),
    )  # a draft: never shown  # fmt: skip
    theirs = license_invoice(other_client.hubs.get())
    client.force_login(member(acme, "viewer"))

    response = client.get("/client/invoices/")

    assert response.status_code == 200
    assert sorted(listed(response)) == sorted([lic.number, topup.number, paid.number])
    html = response.content.decode()
    assert theirs.number not in html
    assert '<span class="badge unpaid">Unpaid</span>' in html
    assert '<span class="badge pending">Pending</span>' in html
    assert '<span class="badge paid">Paid</span>' in html
    assert "License Invoice" in html and "Prepayment Invoice for Usage Cost" in html
    assert f"€{lic.total}" in html and f"€{topup.total}" in html
    assert "1 Nov 2026 – 30 Nov 2026" in html  # the license period
    assert "/pay/" not in html  # a viewer gets no Pay button


def test_pay_is_offered_on_unpaid_invoices_only(client, acme):
    hub = acme.hubs.get()
    unpaid = invoice_mark_unpaid(invoice=license_invoice(hub))
    pending = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="pending")
    client.force_login(member(acme, "billing"))

    html = client.get("/client/invoices/").content.decode()

    assert f'href="/client/invoices/{unpaid.number}/pay/"' in html
    assert f'href="/client/invoices/{pending.number}/pay/"' not in html


def test_filters_by_kind_status_and_period(client, acme):
    licenses = bulk_invoices(acme, 2, kind=InvoiceKind.LICENSE, status=InvoiceStatus.PAID)
    unpaid = bulk_invoices(acme, 1, kind=InvoiceKind.LICENSE, status=InvoiceStatus.UNPAID, start=10)
    september = bulk_invoices(acme, 1, kind=InvoiceKind.MONTH_CLOSING, start=20, month=dt.date(2026, 9, 1))
    client.force_login(member(acme, "owner"))

    assert sorted(listed(client.get("/client/invoices/?kind=LICENSE"))) == sorted(
        i.number for i in licenses + unpaid
    )  # fmt: skip
    assert listed(client.get("/client/invoices/?status=unpaid")) == [unpaid[0].number]
    assert listed(client.get("/client/invoices/?period=2026-09")) == [september[0].number]
    assert listed(client.get("/client/invoices/?kind=LICENSE&status=paid&period=2026-09")) == []
    empty = client.get("/client/invoices/?kind=LICENSE&status=paid&period=2026-09").content.decode()
    assert "No invoice matches these filters." in empty


def test_an_invalid_filter_is_shown_and_left_out(client, acme):
    bulk_invoices(acme, 3)
    client.force_login(member(acme, "owner"))

    response = client.get("/client/invoices/?period=October&status=bogus")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Period: Enter a month as YYYY-MM." in html
    assert "Status: Select a valid choice. bogus is not one of the available choices." in html
    assert len(listed(response)) == 3


def test_empty_state(client, acme):
    client.force_login(member(acme, "owner"))

    html = client.get("/client/invoices/").content.decode()

    assert "No invoices yet." in html and "<table>" not in html


def test_pages_keep_the_filters(client, acme):
    bulk_invoices(acme, 30, kind=InvoiceKind.LICENSE)
    bulk_invoices(acme, 5, kind=InvoiceKind.MONTH_CLOSING, start=100)
    client.force_login(member(acme, "owner"))

    first = client.get("/client/invoices/?kind=LICENSE")
    second = client.get("/client/invoices/?kind=LICENSE&page=2")

    assert len(listed(first)) == 25 and len(listed(second)) == 5
    assert listed(first)[0] == "TST-000029"  # newest first
    assert 'href="?kind=LICENSE&amp;page=2" rel="next"' in first.content.decode()
    assert "Page 2 of 2 (30 in all)" in second.content.decode()


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_list_takes_the_same_number_of_queries_whatever_the_page_holds(
    client, acme, django_assert_max_num_queries
):
    client.force_login(member(acme, "owner"))
    bulk_invoices(acme, 2)
    few = _queries(client, "/client/invoices/")
    bulk_invoices(acme, 60, start=100)
    full = _queries(client, "/client/invoices/")
    filtered = _queries(client, "/client/invoices/?kind=LICENSE&status=paid&period=2026-10&page=2")

    assert few == full == filtered
    with django_assert_max_num_queries(9):
        client.get("/client/invoices/?page=3")


def test_five_thousand_invoices_paginate(client, acme, django_assert_max_num_queries):
    bulk_invoices(acme, 5000)
    client.force_login(member(acme, "owner"))

    with django_assert_max_num_queries(9):
        response = client.get("/client/invoices/?page=200")

    assert listed(response) == [f"TST-{n:06d}" for n in range(24, -1, -1)]
    assert "Page 200 of 200 (5000 in all)" in response.content.decode()
    assert listed(client.get("/client/invoices/?page=9999")) == listed(response)  # past the end: the last page


def test_the_detail_shows_lines_totals_tax_and_payments(client, acme):
    hub = acme.hubs.get()
    invoice = invoice_mark_unpaid(invoice=license_invoice(hub))
    client.force_login(member(acme, "billing"))
    assert (invoice.tax_rate, invoice.tax_note) == (Decimal("0.1900"), "")

    response = client.get(f"/client/invoices/{invoice.number}/")

    html = response.content.decode()
    assert response.status_code == 200
    lines = list(invoice.lines.order_by("position"))
    assert [line.description for line in response.context["detail"].lines] == [line.description for line in lines]
    for line in lines:
        assert line.description in html
    assert f"€{invoice.net_amount}" in html and f"€{invoice.tax_amount}" in html
    assert f'<td class="num" data-total>€{invoice.total}</td>' in html
    assert "Tax (19%)" in html
    assert '<span class="badge unpaid">Unpaid</span>' in html
    assert f'href="/client/invoices/{invoice.number}/pay/"' in html
    assert f'href="/client/invoices/{invoice.number}/pdf/"' in html
    assert "No payments yet." in html


def test_the_detail_of_a_paid_invoice_offers_no_pay(client, acme):
    invoice = invoice_mark_paid(invoice=license_invoice(acme.hubs.get()))
    client.force_login(member(acme, "owner"))

    html = client.get(f"/client/invoices/{invoice.number}/").content.decode()

    assert '<span class="badge paid">Paid</span>' in html
    assert "/pay/" not in html


def test_the_pdf_downloads_as_an_attachment(client, acme):
    invoice = license_invoice(acme.hubs.get())
    client.force_login(member(acme, "viewer"))

    response = client.get(f"/client/invoices/{invoice.number}/pdf/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_another_clients_invoice_is_not_found(client, acme, other_client):
    theirs = license_invoice(other_client.hubs.get())
    client.force_login(member(acme, "owner"))

    assert client.get(f"/client/invoices/{theirs.number}/").status_code == 404
    assert client.get(f"/client/invoices/{theirs.number}/pdf/").status_code == 404
    assert client.get("/client/invoices/INV-1999-000001/").status_code == 404


def test_the_detail_shows_the_tax_note(client):
    american = ClientFactory(company_name="Acme Inc", country="US")
    invoice = license_invoice(HubFactory(client=american))
    client.force_login(member(american, "viewer"))

    html = client.get(f"/client/invoices/{invoice.number}/").content.decode()

    assert "Tax (0%)" in html
    assert "Not subject to German VAT: place of supply outside the EU." in html
