"""One selector answers "which invoices may this party see?" (billing.selectors.invoices.party_invoices): the hubs'
invoice pages, the API lists and the pay pages show exactly its set (issue 10)."""

import pytest

from billing.selectors.invoices import party_invoices
from tests.portal.conftest import client_member, partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_pages_api_and_pay_pages_read_the_same_invoices_of_a_party(world, client):

    expected_a = set(party_invoices(party=world.client_a).values_list("number", flat=True))
    expected_p = set(party_invoices(party=world.partner).values_list("number", flat=True))

    api_a = {i["number"] for i in world.api("client_a").get("/api/v1/invoices").json()["results"]}
    api_p = {i["number"] for i in world.api("partner").get("/api/v1/partner/invoices").json()["results"]}
    client_member(client, world.client_a, "owner")
    page_a = client.get("/client/invoices/").content.decode()
    pay_other = client.get(f"/client/invoices/{world.invoice_b.number}/pay/").status_code

    assert expected_a == api_a == {world.invoice_a.number}
    assert all(number in page_a for number in expected_a) and world.invoice_b.number not in page_a
    assert pay_other == 404  # client B's invoice is not one of A's
    assert expected_p == api_p == {world.plan_invoice.number}  # a partner never sees its clients' invoices
    assert world.invoice_a.number not in expected_p
    partner_member(client, world.partner, "owner")
    assert client.get(f"/partner/invoices/{world.invoice_a.number}/pay/").status_code == 404
