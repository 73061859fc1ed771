""""Download e-invoice (XML)" beside the PDF in both hubs, scoped to the party that owns the invoice; credit notes'
PDF and XML; the Leitweg-ID set in the billing details."""

import datetime as dt
from decimal import Decimal

import pytest
from facturx import get_xml_from_pdf
from lxml import etree

from billing.einvoice.validation import einvoice_check
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import credit_note_issue
from clients.models import Client, ClientMembership
from core.company import Role
from partners.models import PartnerMembership
from tests.factories import ClientFactory, HubFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"


def member_of(client_or_partner, role=Role.VIEWER):
    user = UserFactory()
    if isinstance(client_or_partner, Client):
        ClientMembership.objects.create(user=user, client=client_or_partner, role=role)
    else:
        PartnerMembership.objects.create(user=user, partner=client_or_partner, role=role)
    return user


@pytest.fixture
def topup():
    hub = HubFactory(client=ClientFactory(buyer_reference="04011000-1234512345-06"))
    return topup_issue(hub=hub, amount=Decimal("50.00"), request_key="t1", issued_at=ISSUED_AT)


def test_the_client_downloads_the_xml_and_xrechnung_beside_the_pdf_and_nobody_else_can(client, topup):
    client.force_login(member_of(topup.client))

    page = client.get(f"/client/invoices/{topup.number}/").content.decode()
    factur_x = client.get(f"/client/invoices/{topup.number}/xml/")
    xrechnung = client.get(f"/client/invoices/{topup.number}/xml/?syntax=xrechnung")
    client.force_login(member_of(ClientFactory()))
    stranger = client.get(f"/client/invoices/{topup.number}/xml/")

    assert "Download e-invoice (XML)" in page and "Download XRechnung (XML)" in page
    assert f'href="/client/invoices/{topup.number}/xml/"' in page
    assert factur_x.status_code == 200
    assert factur_x["Content-Disposition"] == f'attachment; filename="{topup.number}-factur-x.xml"'
    einvoice_check(factur_x.content)
    assert etree.fromstring(factur_x.content).findtext(f".//{RAM}DuePayableAmount") == "59.50"
    assert etree.fromstring(xrechnung.content).findtext(f".//{RAM}BuyerReference") == "04011000-1234512345-06"
    assert stranger.status_code == 404


def test_the_client_downloads_a_credit_notes_pdf_with_its_xml(client, topup):
    note = credit_note_issue(invoice=topup, amount=Decimal("11.90"), reason="Goodwill")
    client.force_login(member_of(topup.client))

    page = client.get(f"/client/invoices/{topup.number}/").content.decode()
    pdf = client.get(f"/client/credit-notes/{note.number}/pdf/")
    xml = client.get(f"/client/credit-notes/{note.number}/xml/")
    client.force_login(member_of(ClientFactory()))
    stranger = client.get(f"/client/credit-notes/{note.number}/pdf/")

    assert f'href="/client/credit-notes/{note.number}/xml/"' in page
    _, embedded = get_xml_from_pdf(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content)
    assert embedded == xml.content
    assert etree.fromstring(xml.content).findtext(f".//{RAM}TaxTotalAmount") == "1.90"
    assert stranger.status_code == 404


def test_the_partner_downloads_its_plan_invoice_xml_and_another_partner_cannot(client):
    partner = PartnerFactory()
    (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=dt.date(2026, 11, 1), issued_at=ISSUED_AT)
    client.force_login(member_of(partner))

    page = client.get(f"/partner/invoices/{invoice.number}/").content.decode()
    xml = client.get(f"/partner/invoices/{invoice.number}/xml/")
    client.force_login(member_of(PartnerFactory()))
    stranger = client.get(f"/partner/invoices/{invoice.number}/xml/")

    assert "Download e-invoice (XML)" in page
    einvoice_check(xml.content)
    assert etree.fromstring(xml.content).findtext(f".//{RAM}GrandTotalAmount") == str(invoice.total)
    assert stranger.status_code == 404


def test_a_client_owner_sets_its_leitweg_id_in_the_billing_details(client):
    company = ClientFactory()
    client.force_login(member_of(company, Role.OWNER))
    details = {
        "company_name": "Stadt Musterhausen", "address_line1": "Rathausplatz 1", "address_line2": "",
        "postal_code": "12345", "city": "Musterhausen", "country": "DE", "vat_id": "",
        "billing_email": "rechnung@musterhausen.example", "buyer_reference": "04011000-1234512345-06",
    }  # fmt: skip

    response = client.post("/client/billing-details/", details)

    assert response.status_code == 302
    company.refresh_from_db()
    assert company.buyer_reference == "04011000-1234512345-06"
    assert company.company_snapshot()["buyer_reference"] == "04011000-1234512345-06"
