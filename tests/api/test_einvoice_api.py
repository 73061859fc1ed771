"""GET …/invoices/{number}/xml: the owner's e-invoice, as the EN 16931 rules accept it; XRechnung only with a
Leitweg-ID; errors in the API's shape."""

from lxml import etree

from billing.einvoice.validation import einvoice_check

RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"


def test_the_client_gets_its_invoice_as_valid_factur_x_xml(world):
    response = world.api("client_a").get(f"/api/v1/invoices/{world.invoice_a.number}/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == f'attachment; filename="{world.invoice_a.number}-factur-x.xml"'
    einvoice_check(response.content)
    root = etree.fromstring(response.content)
    assert root.findtext(f".//{RAM}DuePayableAmount") == str(world.invoice_a.total)


def test_xrechnung_needs_the_clients_leitweg_id(world):
    url = f"/api/v1/invoices/{world.invoice_a.number}/xml?syntax=xrechnung"

    refused = world.api("client_a").get(url)
    world.client_a.buyer_reference = "991-12345-67"
    world.client_a.save(update_fields=["buyer_reference"])
    answered = world.api("client_a").get(url)

    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == (
        f"{world.invoice_a.number}: XRechnung needs the buyer reference (Leitweg-ID) in the client's billing details."
    )
    assert answered.status_code == 200
    assert etree.fromstring(answered.content).findtext(f".//{RAM}BuyerReference") == "991-12345-67"


def test_an_unknown_syntax_is_a_400(world):
    response = world.api("client_a").get(f"/api/v1/invoices/{world.invoice_a.number}/xml?syntax=ubl")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"syntax": ["One of factur-x, xrechnung."]}
