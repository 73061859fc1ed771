"""The shared pay and payment-method pages, in the Partner Hub and the Client Hub, against localstripe (cards) and
the PIX/Boleto fake (tests/billing/payments/conftest.VoucherIntents)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.invoicing.settlement import invoice_mark_unpaid
from billing.models import (
    AttemptStatus,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
    Restriction,
    RestrictionReason,
)
from billing.payments.methods import card_setup_start, voucher_method_add
from tests.billing.payments.conftest import (
    DECLINED_AT_CHARGE,
    THREE_D_SECURE,
    VISA,
    brl_rate,
    license_invoice,
    plan_invoice,
    save_card,
)
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import client_member, partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def unpaid_plan_invoice(partner):
    invoice = plan_invoice(partner)
    invoice_mark_unpaid(invoice=invoice)  # its automatic charge failed: onboarding is blocked
    invoice.refresh_from_db()
    return invoice


def test_a_partner_pays_its_unpaid_plan_invoice_with_a_saved_card_and_onboarding_resumes(localstripe, client):
    partner = PartnerFactory()
    card = save_card(localstripe, partner, VISA)
    invoice = unpaid_plan_invoice(partner)
    blocked = Restriction.objects.get(partner=partner, lifted_at__isnull=True)
    assert blocked.reason == RestrictionReason.PARTNER_PLAN_UNPAID
    partner_member(client, partner, "billing")

    page = client.get(f"/partner/invoices/{invoice.number}/pay/")
    assert page.status_code == 200
    assert f'value="card:{card.pk}"' in page.content.decode()
    assert invoice.total == Decimal("618.80")  # 500.00 + the 4% card fee + 19% VAT
    assert "Pay €618.80</button>" in page.content.decode()

    response = client.post(f"/partner/invoices/{invoice.number}/pay/", {"method": f"card:{card.pk}"}, follow=True)

    assert response.redirect_chain[0] == (f"/partner/invoices/{invoice.number}/", 302)
    assert f"Invoice {invoice.number} is paid." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    restriction = Restriction.objects.get(partner=partner)
    assert (restriction.lifted_at is not None, restriction.lift_reason) == (True, "Partner Plan invoice paid")
    assert len(localstripe.charges(partner.stripe_customer.stripe_customer_id)) == 1


def test_a_viewer_sees_no_pay_button_and_cannot_pay(localstripe, client):
    partner = PartnerFactory()
    card = save_card(localstripe, partner, VISA)
    invoice = unpaid_plan_invoice(partner)
    partner_member(client, partner, "viewer")

    page = client.get(f"/partner/invoices/{invoice.number}/pay/")
    response = client.post(f"/partner/invoices/{invoice.number}/pay/", {"method": f"card:{card.pk}"})

    assert page.status_code == 403  # a viewer never reaches a Pay page
    assert response.status_code == 403
    assert not PaymentAttempt.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID


def test_a_declined_card_shows_stripes_message_and_changes_nothing(localstripe, client):
    partner = PartnerFactory()
    card = save_card(localstripe, partner, DECLINED_AT_CHARGE)
    invoice = unpaid_plan_invoice(partner)
    partner_member(client, partner)

    response = client.post(f"/partner/invoices/{invoice.number}/pay/", {"method": f"card:{card.pk}"}, follow=True)

    assert response.redirect_chain == [(f"/partner/invoices/{invoice.number}/pay/", 302)]
    assert "The payment failed: Your card was declined." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNPAID
    assert Restriction.objects.get(partner=partner).lifted_at is None


def test_3d_secure_runs_stripe_js_then_the_status_page_shows_the_payment(localstripe, client, settings):
    settings.STRIPE_JS_URL = f"{localstripe.base}/js.stripe.com/v3/"
    partner = PartnerFactory()
    card = save_card(localstripe, partner, THREE_D_SECURE)
    invoice = unpaid_plan_invoice(partner)
    partner_member(client, partner)

    response = client.post(f"/partner/invoices/{invoice.number}/pay/", {"method": f"card:{card.pk}"})

    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert (response.status_code, attempt.status) == (200, AttemptStatus.REQUIRES_ACTION)
    html = response.content.decode()
    assert f'<script src="{localstripe.base}/js.stripe.com/v3/"></script>' in html
    assert '<script src="/static/portal/pay.js"' in html  # Stripe.js confirms the payment (no inline script)
    secret = html.split('data-client-secret="')[1].split('"')[0]
    assert secret.startswith(attempt.stripe_payment_intent_id + "_secret_")
    assert f'data-status-url="/partner/payments/{attempt.pk}/"' in html

    localstripe.authenticate(attempt.stripe_payment_intent_id, secret)  # what Stripe.js does with the cardholder
    status = client.get(f"/partner/payments/{attempt.pk}/")

    assert status.status_code == 200
    assert '<span class="badge paid">Succeeded</span>' in status.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_a_brazilian_partner_gets_a_pix_voucher_with_its_code_and_expiry(vouchers, brazilian_partner, client):
    brl_rate("USD", "5.4321")
    voucher_method_add(party=brazilian_partner, kind="pix")
    invoice = unpaid_plan_invoice(brazilian_partner)
    partner_member(client, brazilian_partner)

    page = client.get(f"/partner/invoices/{invoice.number}/pay/")
    assert 'value="pix"' in page.content.decode() and 'value="boleto"' in page.content.decode()
    response = client.post(f"/partner/invoices/{invoice.number}/pay/", {"method": "pix"}, follow=True)

    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert response.redirect_chain == [(f"/partner/payments/{attempt.pk}/", 302)]
    html = response.content.decode()
    intent = attempt.stripe_payment_intent_id
    assert f'<img src="https://qr.stripe.com/{intent}.png" alt="PIX QR code"' in html
    assert f"00020101021226850014br.gov.bcb.pix{intent}</textarea>" in html
    assert "R$2,716.05" in html  # 500.00 USD at 5.4321
    expires = timezone.localtime(attempt.voucher_expires_at).strftime("%-d %b %Y %H:%M")  # "2 Dec 2026 11:02"
    assert f"Pay by {expires}" in html
    assert invoice.status == InvoiceStatus.UNPAID


def test_a_client_user_cannot_use_the_partner_pay_pages_nor_another_partners_invoice(localstripe, client):
    partner, other = PartnerFactory(), PartnerFactory()
    invoice = unpaid_plan_invoice(other)
    own = unpaid_plan_invoice(partner)
    attempt = PaymentAttempt.objects.create(
        invoice=invoice, method_kind="card", method_label="Visa •••• 4242", purpose="manual", round="manual",
        amount=invoice.total, currency=invoice.currency, idempotency_key="other-partner", status="failed",
    )  # fmt: skip
    client_member(client, ClientFactory(partner=partner))
    assert client.get(f"/partner/invoices/{own.number}/pay/").status_code == 403
    assert client.get("/partner/payment-methods/").status_code == 403

    partner_member(client, partner)
    assert client.get(f"/partner/invoices/{invoice.number}/pay/").status_code == 404
    assert client.post(f"/partner/invoices/{invoice.number}/pay/", {"method": "pix"}).status_code == 404
    assert client.get(f"/partner/payments/{attempt.pk}/").status_code == 404
    assert client.get(f"/client/invoices/{own.number}/pay/").status_code == 403


def test_a_client_pays_its_license_invoice_on_the_same_page(localstripe, client):
    hub = HubFactory()
    card = save_card(localstripe, hub.client, VISA)
    invoice = license_invoice(hub)
    client_member(client, hub.client, "billing")

    response = client.post(f"/client/invoices/{invoice.number}/pay/", {"method": f"card:{card.pk}"})

    assert (response.status_code, response["Location"]) == (302, f"/client/invoices/{invoice.number}/")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_adding_a_card_confirms_its_setup_with_stripe_js_and_saves_it(localstripe, client, settings):
    settings.STRIPE_JS_URL = f"{localstripe.base}/js.stripe.com/v3/"
    partner = PartnerFactory()
    partner_member(client, partner, "billing")

    page = client.get("/partner/payment-methods/add/")

    html = page.content.decode()
    assert page.status_code == 200
    assert f'<script src="{localstripe.base}/js.stripe.com/v3/"></script>' in html
    assert 'data-publishable-key="pk_test_hubpay_payments"' in html
    assert 'data-card-added-url="/partner/payment-methods/added/"' in html
    secret = html.split('data-client-secret="')[1].split('"')[0]
    setup_id = secret.split("_secret_")[0]

    class Setup:  # what the page gave Stripe.js
        setup_intent_id, client_secret = setup_id, secret

    localstripe.confirm_setup(Setup, VISA)
    assert 'action="/partner/payment-methods/added/"' in html and 'name="setup_intent"' in html
    response = client.post("/partner/payment-methods/added/", {"setup_intent": setup_id}, follow=True)

    (card,) = PaymentMethod.objects.filter(partner=partner)
    assert (card.kind, card.last4, card.exp_month, card.exp_year) == ("card", "4242", 12, 2030)
    assert response.redirect_chain == [("/partner/payment-methods/", 302)]
    html = response.content.decode()
    assert "Visa •••• 4242 is saved." in html
    assert "12/2030" in html


def test_a_setup_of_another_account_is_refused(localstripe, client):
    other = PartnerFactory()
    setup = card_setup_start(party=other)
    localstripe.confirm_setup(setup, VISA)
    partner = PartnerFactory()
    card_setup_start(party=partner)  # this partner's Stripe customer exists
    partner_member(client, partner)

    response = client.post("/partner/payment-methods/added/", {"setup_intent": setup.setup_intent_id}, follow=True)

    assert "This card setup belongs to another account." in response.content.decode()
    assert not PaymentMethod.objects.filter(partner=partner).exists()


def test_methods_are_listed_in_charge_order_moved_and_removed(localstripe, client):
    partner = PartnerFactory()
    first = save_card(localstripe, partner, VISA)
    second = save_card(localstripe, partner, "5555555555554444", first=False)
    partner_member(client, partner)

    page = client.get("/partner/payment-methods/").content.decode()
    assert page.index(f'data-method="{first.pk}"') < page.index(f'data-method="{second.pk}"')

    response = client.post("/partner/payment-methods/order/", {"method": second.pk, "move": "up"})
    assert response.status_code == 302
    assert list(PaymentMethod.objects.filter(partner=partner).order_by("position").values_list("pk", flat=True)) == [
        second.pk, first.pk,
    ]  # fmt: skip
    client.post("/partner/payment-methods/order/", {"order": f"{first.pk},{second.pk}"})
    assert PaymentMethod.objects.get(pk=first.pk).position == 0

    response = client.post(f"/partner/payment-methods/{first.pk}/remove/", follow=True)

    assert "Visa •••• 4242 is removed." in response.content.decode()
    assert list(PaymentMethod.objects.filter(partner=partner).values_list("pk", "position")) == [(second.pk, 0)]
    assert localstripe.request("GET", f"/v1/payment_methods/{first.stripe_payment_method_id}")["customer"] is None


def test_a_viewer_cannot_change_payment_methods_nor_see_the_buttons(localstripe, client):
    partner = PartnerFactory()
    card = save_card(localstripe, partner, VISA)
    other = save_card(localstripe, partner, "5555555555554444", first=False)
    partner_member(client, partner, "viewer")

    page = client.get("/partner/payment-methods/").content.decode()

    assert "Visa •••• 4242" in page and "Remove" not in page and "Move up" not in page
    assert "Add a card" not in page
    assert client.post(f"/partner/payment-methods/{card.pk}/remove/").status_code == 403
    assert client.post("/partner/payment-methods/order/", {"method": other.pk, "move": "up"}).status_code == 403
    assert client.get("/partner/payment-methods/add/").status_code == 403
    assert client.post("/partner/payment-methods/voucher/", {"kind": "pix"}).status_code == 403
    assert PaymentMethod.objects.filter(partner=partner).count() == 2


def test_another_partys_method_cannot_be_removed(localstripe, client):
    card = save_card(localstripe, PartnerFactory(), VISA)
    partner_member(client, PartnerFactory())

    assert client.post(f"/partner/payment-methods/{card.pk}/remove/").status_code == 404
    assert PaymentMethod.objects.filter(pk=card.pk).exists()


def test_pix_and_boleto_are_saved_for_a_brazilian_partner_and_refused_elsewhere(client, brazilian_partner):
    partner_member(client, PartnerFactory(country="DE"))
    response = client.post("/partner/payment-methods/voucher/", {"kind": "pix"}, follow=True)
    assert "PIX is available to partners in Brazil only." in response.content.decode()
    assert not PaymentMethod.objects.exists()

    partner_member(client, brazilian_partner)
    response = client.post("/partner/payment-methods/voucher/", {"kind": "boleto"}, follow=True)

    assert "Boleto is saved as a way to pay." in response.content.decode()
    assert PaymentMethod.objects.get(partner=brazilian_partner).kind == "boleto"


def test_a_client_lists_its_cards_without_the_partner_vouchers(localstripe, client):
    hub = HubFactory()
    save_card(localstripe, hub.client, VISA)
    client_member(client, hub.client, "owner")

    html = client.get("/client/payment-methods/").content.decode()

    assert "Visa •••• 4242" in html and "12/2030" in html
    assert 'action="/client/payment-methods/order/"' not in html  # one method: nothing to move
    assert "PIX and Boleto" not in html
    assert 'href="/client/payment-methods/add/"' in html
