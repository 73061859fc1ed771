"""Partner Hub invoicing: only the partner's own Partner Plan invoices, with their PDF; never a client's invoice."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.settlement import invoice_mark_paid, invoice_mark_unpaid
from tests.billing.payments.conftest import license_invoice, plan_invoice
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import client_member, partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def issue_months(partner, count: int) -> list:
    months = [dt.date(2024 + n // 12, n % 12 + 1, 1) for n in range(count)]
    return [plan_invoice(partner, month) for month in months]


def test_the_list_shows_only_the_partners_plan_invoices_with_their_status_words(client):
    partner = PartnerFactory()
    pending, unpaid, paid = issue_months(partner, 3)
    invoice_mark_unpaid(invoice=unpaid)
    invoice_mark_paid(invoice=paid, paid_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    someone_elses = plan_invoice(PartnerFactory())
    clients_invoice = license_invoice(HubFactory(client=ClientFactory(partner=partner)))
    partner_member(client, partner, "viewer")

    html = client.get("/partner/invoices/").content.decode()

    rows = {row.split('">', 1)[1].split("<", 1)[0]: row for row in html.split('<td><a href="/partner/invoices/')[1:]}
    assert sorted(rows) == sorted([pending.number, unpaid.number, paid.number])
    expected = ((pending, "pending", "Pending"), (unpaid, "unpaid", "Unpaid"), (paid, "paid", "Paid"))
    for invoice, status, word in expected:
        assert f'<span class="badge {status}">{word}</span>' in rows[invoice.number].split("</tr>")[0]
    assert someone_elses.number not in html
    assert clients_invoice.number not in html
    assert "/pay/" not in html  # a viewer is shown no Pay button


def test_an_owner_gets_a_pay_link_on_unpaid_and_pending_invoices_only(client):
    partner = PartnerFactory()
    pending, paid = issue_months(partner, 2)
    invoice_mark_paid(invoice=paid, paid_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    partner_member(client, partner, "owner")

    html = client.get("/partner/invoices/").content.decode()

    assert f"/partner/invoices/{pending.number}/pay/" in html
    assert f"/partner/invoices/{paid.number}/pay/" not in html


def test_the_list_paginates_with_a_fixed_number_of_queries(client):
    partner = PartnerFactory()
    partner_member(client, partner)
    issue_months(partner, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/partner/invoices/").status_code == 200
    # the 27 months that follow (a plan invoice for a later month would also bill every month skipped)
    issue_months_from = [plan_invoice(partner, dt.date(2024 + n // 12, n % 12 + 1, 1)) for n in range(3, 30)]

    with CaptureQueriesContext(connection) as many:
        page = client.get("/partner/invoices/")
    second = client.get("/partner/invoices/?page=2").content.decode()

    assert len(many) == len(few) <= 8
    assert "Page 1 of 2" in page.content.decode()
    assert page.content.decode().count('class="badge pending"') == 25
    assert second.count('class="badge pending"') == 5
    assert issue_months_from[-1].number in page.content.decode()  # newest period first


def test_detail_and_pdf_of_an_own_invoice(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    partner = PartnerFactory()
    invoice = plan_invoice(partner)
    partner_member(client, partner)

    detail = client.get(f"/partner/invoices/{invoice.number}/")
    pdf = client.get(f"/partner/invoices/{invoice.number}/pdf/")

    assert detail.status_code == 200
    assert "Partner Plan Growth, November 2026" in detail.content.decode()
    assert "€595.00" in detail.content.decode()  # 500.00 + 19% VAT
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert pdf.content.startswith(b"%PDF")


def test_a_client_invoice_and_another_partners_invoice_are_not_found(client):
    partner = PartnerFactory()
    clients_invoice = license_invoice(HubFactory(client=ClientFactory(partner=partner)))
    other = plan_invoice(PartnerFactory())
    partner_member(client, partner)

    for number in (clients_invoice.number, other.number):
        assert client.get(f"/partner/invoices/{number}/").status_code == 404
        assert client.get(f"/partner/invoices/{number}/pdf/").status_code == 404
        assert client.get(f"/partner/invoices/{number}/pay/").status_code == 404


def test_a_client_user_is_refused_the_partner_hub(client):
    partner = PartnerFactory()
    invoice = plan_invoice(partner)
    client_member(client, ClientFactory(partner=partner))

    for path in ("/partner/", "/partner/invoices/", f"/partner/invoices/{invoice.number}/",
                 f"/partner/invoices/{invoice.number}/pdf/", "/partner/clients/", "/partner/plan/",
                 "/partner/clients/onboard/"):  # fmt: skip
        assert client.get(path).status_code == 403, path


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/partner/invoices/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/partner/invoices/")


def test_an_issued_invoice_shows_the_plan_in_force_at_issue(client):
    partner = PartnerFactory()
    (invoice,) = partner_plan_issue(
        partner_ids=[partner.pk], month=dt.date(2026, 5, 1), issued_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    )
    partner_member(client, partner)

    html = client.get(f"/partner/invoices/{invoice.number}/").content.decode()

    assert "1 May 2026 – 31 May 2026" in html
