"""A partner's owner pays its unpaid Partner Plan invoice with its saved card, which lifts the onboarding block, and
onboards a client; while onboarding is blocked the page says why and no client is created."""

import re

import pytest
from playwright.sync_api import expect

from billing.invoicing.settlement import invoice_mark_unpaid
from billing.models import InvoiceStatus
from clients.models import Client
from hub.models import Hub
from tests.billing.payments.conftest import VISA, plan_invoice, save_card
from tests.browser.conftest import member_of, sign_in
from tests.factories import PartnerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def refusal(number: str) -> str:
    return (
        f"Onboarding new clients is paused: Partner Plan invoice {number} unpaid. Pay it in the Invoicing section of "
        "the Partner Hub and onboarding resumes automatically."
    )


def fill_onboarding_form(page) -> None:
    page.get_by_label("Company name").fill("Neue Kunde GmbH")
    page.locator("#id_address_line1").fill("Hauptstr. 1")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Country").select_option("DE")
    page.get_by_label("VAT ID").fill("DE 123 456 789")
    page.get_by_label("Billing email").fill("billing@neuekunde.example")
    page.get_by_label("Hub name").fill("Main hub")


def test_a_partner_pays_its_plan_invoice_then_onboards_a_client(page, shots, localstripe):
    partner = PartnerFactory(name="Vermittler")
    save_card(localstripe, partner, VISA)
    invoice = invoice_mark_unpaid(invoice=plan_invoice(partner))  # its automatic charge failed
    member_of(partner, "owner@vermittler")
    nav = page.get_by_role("navigation", name="Main")

    sign_in(page, "owner@vermittler")
    nav.get_by_role("link", name="Clients").click()
    expect(page.get_by_text("No clients yet.")).to_be_visible()
    page.get_by_role("link", name="Onboard a client").first.click()
    expect(page.locator("#onboarding-blocked")).to_contain_text(refusal(invoice.number))
    expect(page.get_by_label("Company name")).to_have_count(0)  # no form to fill in vain
    shots(page, "onboarding-blocked")
    assert not Client.objects.filter(partner=partner).exists()

    nav.get_by_role("link", name="Invoicing").click()
    row = page.locator("#invoices tbody tr").filter(has_text=invoice.number)
    expect(row.locator(".badge")).to_have_text("Unpaid")
    shots(page, "invoice-unpaid")
    row.get_by_role("link", name="Pay").click()
    expect(page.get_by_role("heading", name=f"Pay invoice {invoice.number}")).to_be_visible()
    expect(page.get_by_label("Visa •••• 4242, expires 12/2030")).to_be_checked()
    shots(page, "pay")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url(f"**/partner/invoices/{invoice.number}/")
    expect(page.locator("h1")).to_contain_text(invoice.number)
    expect(page.locator(".details .badge")).to_have_text("Paid")
    expect(page.locator(".message.success")).to_be_visible()
    expect(page.get_by_role("link", name="Pay", exact=True)).to_have_count(0)
    shots(page, "invoice-paid")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert len(localstripe.charges(partner.stripe_customer.stripe_customer_id)) == 1

    nav.get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Onboard a client").first.click()
    expect(page.locator("#onboarding-blocked")).to_have_count(0)
    fill_onboarding_form(page)
    shots(page, "onboarding-form")
    page.get_by_role("button", name="Onboard client").click()
    page.wait_for_url(re.compile(r"/partner/clients/\d+/$"))
    new = Client.objects.get(partner=partner)
    hub = Hub.objects.get(client=new)
    expect(page.locator(".message.success")).to_have_text(f"Neue Kunde GmbH is onboarded with hub {hub.hub_id}.")
    shots(page, "client-onboarded")
    assert page.url.endswith(f"/partner/clients/{new.pk}/")
    assert (new.company_name, new.vat_id, new.country, hub.name) == ("Neue Kunde GmbH", "DE123456789", "DE", "Main hub")

    nav.get_by_role("link", name="Clients").click()
    row = page.locator(f"#clients tr[data-client='{new.pk}']")
    expect(row).to_contain_text("Neue Kunde GmbH")
    expect(row).to_contain_text("billing@neuekunde.example")
    expect(page.locator("#clients tbody tr")).to_have_count(1)
    shots(page, "clients-list")


def test_onboarding_that_becomes_blocked_while_the_form_is_open_is_refused_with_the_reason(page, shots):
    partner = PartnerFactory(name="Vermittler")
    invoice = plan_invoice(partner)  # pending: onboarding still open
    member_of(partner, "owner@vermittler")

    sign_in(page, "owner@vermittler")
    page.goto("/partner/clients/onboard/")
    fill_onboarding_form(page)
    shots(page, "form-filled")
    invoice_mark_unpaid(invoice=invoice)  # meanwhile its automatic charge fails
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name="Onboard client").click()

    assert posted.value.status == 400
    expect(page.locator("#onboarding-blocked")).to_contain_text(refusal(invoice.number))
    expect(page.get_by_role("link", name="Go to Invoicing")).to_be_visible()
    shots(page, "refused")
    assert page.url.endswith("/partner/clients/onboard/")
    assert not Client.objects.filter(partner=partner).exists()
    assert not Hub.objects.filter(client__partner=partner).exists()
