"""Another party's invoice number or hub id in a URL gives 404, never the page or the file; partners never reach a
client's invoice."""

import pytest
from playwright.sync_api import expect

from tests.billing.payments.conftest import license_invoice, plan_invoice
from tests.browser.conftest import member_of, sign_in
from tests.factories import ClientFactory, HubFactory, PartnerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_a_client_cannot_reach_another_clients_invoice_pdf_or_hub(page, shots):
    client_a, client_b = ClientFactory(company_name="Acme GmbH"), ClientFactory(company_name="Other AG")
    own = license_invoice(HubFactory(client=client_a, name="Acme Main"))
    hub_b = HubFactory(client=client_b, name="Other Hub")
    theirs = license_invoice(hub_b)
    member_of(client_a, "owner@acme")

    sign_in(page, "owner@acme")
    assert page.goto(f"/client/invoices/{own.number}/").status == 200  # the same URLs work for one's own
    expect(page.locator("h1")).to_contain_text(own.number)
    shots(page, "own-invoice")
    own_pdf = page.request.get(f"/client/invoices/{own.number}/pdf/")
    assert own_pdf.status == 200 and own_pdf.body().startswith(b"%PDF")

    assert page.goto(f"/client/invoices/{theirs.number}/").status == 404
    expect(page.get_by_text(theirs.number)).to_have_count(0)
    shots(page, "their-invoice")
    assert page.goto(f"/client/invoices/{theirs.number}/pdf/").status == 404  # no download starts
    shots(page, "their-pdf")
    assert page.goto(f"/client/invoices/{theirs.number}/pay/").status == 404
    assert page.goto(f"/client/funds/?hub={hub_b.hub_id}").status == 404
    expect(page.get_by_text("Other Hub")).to_have_count(0)
    shots(page, "their-hub")


def test_a_partner_cannot_reach_its_clients_invoices(page, shots):
    partner = PartnerFactory(name="Vermittler")
    own = plan_invoice(partner)
    hub = HubFactory(client=ClientFactory(partner=partner, company_name="Kunde GmbH"), name="Kunde Hub")
    clients_invoice = license_invoice(hub)
    member_of(partner, "owner@vermittler")

    sign_in(page, "owner@vermittler")
    assert page.goto(f"/partner/invoices/{own.number}/").status == 200
    expect(page.locator("h1")).to_contain_text(own.number)
    shots(page, "own-plan-invoice")

    assert page.goto(f"/partner/invoices/{clients_invoice.number}/").status == 404
    expect(page.get_by_text(clients_invoice.number)).to_have_count(0)
    shots(page, "clients-invoice")
    assert page.goto(f"/partner/invoices/{clients_invoice.number}/pdf/").status == 404
    assert page.goto(f"/partner/invoices/{clients_invoice.number}/pay/").status == 404
    shots(page, "clients-invoice-pdf")
