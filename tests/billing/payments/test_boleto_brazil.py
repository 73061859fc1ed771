"""Brazil, properly: the payer's CNPJ/CPF (validated with python-stdnum) and state (UF) are part of the billing
details, sent with the Boleto, and printed on the invoice.

Stripe is faked only where localstripe cannot help (it does not model Boleto): at the adapter's boundary, where the
`vouchers` fixture records each PaymentIntent create exactly as the SDK is asked, and refuses a Boleto without the
tax id or address state as Stripe documents."""

from decimal import Decimal
from io import BytesIO

import pytest
import stripe
from django.core.exceptions import ValidationError
from pypdf import PdfReader

from billing.payments.manual import invoice_pay
from billing.pdf import invoice_pdf_render
from billing.stripe_api import PaymentRequestInvalid, voucher_intent_create
from tests.billing.payments.conftest import brl_rate, plan_invoice
from tests.factories import PartnerFactory
from tests.portal.conftest import partner_member

pytestmark = pytest.mark.django_db


def test_the_boleto_request_carries_the_cnpj_and_the_address_with_its_state(vouchers, brazilian_partner):
    brl_rate("USD", "5.50")
    invoice = plan_invoice(brazilian_partner)

    invoice_pay(invoice=invoice, kind="boleto")

    (request,) = vouchers.requests
    assert request["payment_method_types"] == ["boleto"]
    assert request["payment_method_data"] == {
        "type": "boleto",
        "boleto": {"tax_id": "12345678000195"},
        "billing_details": {
            "name": "Parceiro Ltda",
            "email": brazilian_partner.billing_email,
            "address": {
                "line1": "Av. Paulista 1000", "city": "São Paulo", "postal_code": "01310-100", "state": "SP",
                "country": "BR",
            },
        },
    }  # fmt: skip
    assert (request["amount"], request["currency"]) == (275000, "brl")  # 500.00 USD × 5.50, in centavos


def test_stripe_refuses_a_boleto_without_the_state_and_so_does_the_adapter_boundary(vouchers, brazilian_partner):
    details = {"name": "Parceiro Ltda", "email": "ap@parceiro.example",
               "address": {"line1": "Av. Paulista 1000", "city": "São Paulo", "postal_code": "01310-100",
                           "country": "BR"}}  # fmt: skip

    with pytest.raises(PaymentRequestInvalid, match=r"address\]\[state\]"):
        voucher_intent_create(
            kind="boleto", amount=Decimal("10.00"), currency="BRL", customer_id="cus_x", billing_details=details,
            tax_id="12345678000195", metadata={}, idempotency_key="k1",
        )  # fmt: skip
    assert stripe.PaymentIntent is vouchers and vouchers.created == 0


def test_billing_details_validate_the_cnpj_or_cpf_with_their_check_digits():
    partner = PartnerFactory.build(country="BR", currency="USD", tax_id="12.345.678/0001-96", state="SP")
    with pytest.raises(ValidationError) as wrong:
        partner.full_clean(exclude=["plan"])
    assert wrong.value.message_dict["tax_id"] == [
        "12.345.678/0001-96 is not a valid CPF (11 digits) or CNPJ (14 digits)."
    ]

    partner.tax_id, partner.state = "529.982.247-25", "RJ"  # a valid CPF
    partner.full_clean(exclude=["plan"])
    assert partner.tax_id == "52998224725"  # kept as digits, as Stripe takes it


def test_the_invoice_shows_the_cnpj_and_state_it_was_issued_with(brazilian_partner):
    invoice = plan_invoice(brazilian_partner)
    brazilian_partner.tax_id, brazilian_partner.state = "11222333000181", "RJ"
    brazilian_partner.save()  # a later change: the issued invoice keeps its snapshot

    text = " ".join(PdfReader(BytesIO(invoice_pdf_render(invoice=invoice))).pages[0].extract_text().split())

    assert (invoice.billed_company["tax_id"], invoice.billed_company["state"]) == ("12345678000195", "SP")
    assert "CNPJ/CPF: 12.345.678/0001-95" in text
    assert "São Paulo – SP" in text


def test_a_brazilian_partner_enters_its_cnpj_uf_and_invoice_language_in_billing_details(client):
    partner = PartnerFactory(country="BR", currency="USD", invoice_language="")
    partner_member(client, partner)
    details = {
        "company_name": "Rio Mensagens Ltda.", "address_line1": "Rua do Ouvidor 50", "address_line2": "",
        "postal_code": "20040-030", "city": "Rio de Janeiro", "country": "BR", "vat_id": "",
        "tax_id": "11.222.333/0001-81", "state": "RJ", "billing_email": "fin@rio.example", "invoice_language": "",
    }  # fmt: skip

    refused = client.post("/partner/billing-details/", {**details, "tax_id": "11.222.333/0001-82"})
    saved = client.post("/partner/billing-details/", details)

    assert refused.status_code == 200
    # no Accept-Language: the page is in the partner's language (its country's: Portuguese)
    assert "11.222.333/0001-82 não é um CPF (11 dígitos) ou CNPJ (14 dígitos) válido." in refused.content.decode()
    assert saved.status_code == 302
    partner.refresh_from_db()
    assert (partner.tax_id, partner.state, partner.billing_language) == ("11222333000181", "RJ", "pt-br")
