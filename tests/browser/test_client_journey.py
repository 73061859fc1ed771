"""A client's owner, blocked at 0.00, adds a card through Stripe Elements (localstripe's fake Stripe.js), adds funds
with it, sees the block lifted, and downloads the top-up invoice's PDF."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.models import Invoice, InvoiceKind, InvoiceStatus, PaymentMethod
from tests.billing.payments.conftest import VISA
from tests.browser.conftest import member_of, sign_in
from tests.factories import ClientFactory, HubFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ADDED = re.compile(r"^€50\.00 added to your credit balance \(invoice \S+, paid\)\.$")
BLOCKED = "Your credit balance is €0.00: outbound messages are paused."


def test_a_blocked_client_adds_a_card_and_funds_and_downloads_the_invoice(page, shots, localstripe, settings, tmp_path):
    settings.STRIPE_JS_URL = f"{localstripe.base}/js.stripe.com/v3/"
    acme = ClientFactory(company_name="Acme GmbH", country="DE")
    hub = HubFactory(client=acme, name="Acme Main")  # a new hub: 0.00, outbound messages paused
    member_of(acme, "owner@acme")

    sign_in(page, "owner@acme")
    banner = page.locator(".banner.danger[data-reason=CREDIT_BALANCE_DEPLETED]")
    expect(banner).to_contain_text(BLOCKED)
    shots(page, "overview-blocked")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payment methods").click()
    expect(page.get_by_text("No payment method is saved.")).to_be_visible()
    shots(page, "no-payment-method")
    page.get_by_role("link", name="Add a card").click()
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(VISA)  # localstripe's fake card element: plain inputs
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("30")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("10115")
    shots(page, "card-form")
    page.get_by_role("button", name="Save card").click()
    page.wait_for_url("**/client/payment-methods/")
    expect(page.locator(".message.success")).to_have_text("Visa •••• 4242 is saved.")
    expect(page.locator("#methods tbody tr")).to_have_count(1)
    expect(page.locator("#methods tbody tr")).to_contain_text("12/2030")
    shots(page, "card-saved")
    saved = PaymentMethod.objects.get(client=acme)
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year) == ("visa", "4242", 12, 2030)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Funds").click()
    expect(banner).to_contain_text(BLOCKED)
    expect(page.locator("[data-balance]")).to_have_text("€0.00")
    page.get_by_label("Amount").fill("50.00")
    shots(page, "add-funds")
    page.get_by_role("button", name="Add funds").click()
    expect(page.locator(".message.success")).to_have_text(ADDED)
    invoice = Invoice.objects.get(hub=hub, kind=InvoiceKind.PREPAYMENT)
    expect(page.locator(".message.success")).to_have_text(
        f"€50.00 added to your credit balance (invoice {invoice.number}, paid)."
    )
    expect(page.locator("[data-balance]")).to_have_text("€50.00")
    expect(banner).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="Funds added")).to_contain_text("€50.00")
    shots(page, "funds-added")
    invoice.refresh_from_db()
    hub.credit_account.refresh_from_db()
    # 50.00 of credit, the 4% card fee (2.00) and German VAT (19% of 52.00 = 9.88)
    paid = (InvoiceStatus.PAID, Decimal("50.00"), Decimal("2.00"), Decimal("61.88"))
    assert (invoice.status, invoice.net_amount, invoice.fee_amount, invoice.total) == paid
    assert hub.credit_account.balance == Decimal("50.00")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(f"[data-hub='{hub.hub_id}'] .value").first).to_have_text("€50.00")
    expect(page.locator(".banner.danger")).to_have_count(0)
    shots(page, "overview-unblocked")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    row = page.get_by_role("row").filter(has_text=invoice.number)
    expect(row.locator(".badge")).to_have_text("Paid")
    shots(page, "invoices")
    row.get_by_role("link", name=invoice.number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice.number)
    shots(page, "invoice-detail")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert path.read_bytes().startswith(b"%PDF")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download e-invoice (XML)").click()
    xml = download_info.value
    assert xml.suggested_filename == f"{invoice.number}-factur-x.xml"
    xml.save_as(tmp_path / xml.suggested_filename)
    assert f"<ram:ID>{invoice.number}</ram:ID>" in (tmp_path / xml.suggested_filename).read_text()
