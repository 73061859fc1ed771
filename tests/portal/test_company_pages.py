"""Billing details of clients and partners: edited by owners and billing users, read by viewers; issued invoices
keep the company as it was."""

from decimal import Decimal

import pytest

from billing.invoicing.prepayments import topup_issue
from clients.models import Client, ClientMembership
from core.company import Role
from hub.models import Hub
from partners.models import Partner, PartnerMembership
from tests.factories import ClientFactory, HubFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

DETAILS = {
    "company_name": "Bäckerei Schmidt GmbH",
    "address_line1": "Hauptstraße 5",
    "address_line2": "",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "vat_id": "de 136 695 976",
    "billing_email": "rechnung@schmidt.example",
}


def _client_member(role, client=None):
    user = UserFactory()
    ClientMembership.objects.create(user=user, client=client or ClientFactory(), role=role)
    return user


def _partner_member(role, partner=None):
    user = UserFactory()
    PartnerMembership.objects.create(user=user, partner=partner or PartnerFactory(), role=role)
    return user


def test_client_owner_changes_the_billing_details(client):
    user = _client_member(Role.OWNER)
    client.force_login(user)

    response = client.post("/client/billing-details/", DETAILS)

    assert response.status_code == 302
    assert response["Location"] == "/client/billing-details/"
    company = Client.objects.get(pk=user.client_membership.client_id)
    assert (company.company_name, company.city, company.vat_id, company.billing_email) == (
        "Bäckerei Schmidt GmbH",
        "Berlin",
        "DE136695976",
        "rechnung@schmidt.example",
    )
    page = client.get("/client/billing-details/").content.decode()
    assert "Billing details saved. They are printed on the invoices issued from now on." in page
    assert 'value="DE136695976"' in page


def test_a_malformed_vat_id_is_refused_and_nothing_changes(client):
    user = _client_member(Role.BILLING)
    before = user.client_membership.client.company_name
    client.force_login(user)

    response = client.post("/client/billing-details/", {**DETAILS, "vat_id": "DE12345"})

    assert response.status_code == 200
    assert "DE12345 is not a valid DE VAT ID format." in response.content.decode()
    assert Client.objects.get(pk=user.client_membership.client_id).company_name == before


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("vat_id", "FR40303265045", "A VAT ID for DE starts with DE."),
        ("country", "XX", "Select a valid choice. XX is not one of the available choices."),
        ("billing_email", "not-an-email", "Enter a valid email address."),
        ("company_name", "", "This field is required."),
    ],
)
def test_invalid_details_are_refused_with_their_reason(client, field, value, error):
    user = _client_member(Role.OWNER)
    client.force_login(user)

    response = client.post("/client/billing-details/", {**DETAILS, field: value})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert Client.objects.get(pk=user.client_membership.client_id).city == ""


def test_a_viewer_reads_the_details_and_cannot_post(client):
    company = ClientFactory(company_name="Viewer Co", vat_id="DE136695976", city="Köln")
    client.force_login(_client_member(Role.VIEWER, company))

    page = client.get("/client/billing-details/").content.decode()
    assert "Viewer Co" in page and "DE136695976" in page and "Germany" in page
    assert '<form method="post" novalidate class="company-details">' not in page
    assert "Only owners and billing users can change these details." in page

    assert client.post("/client/billing-details/", DETAILS).status_code == 403
    company.refresh_from_db()
    assert company.company_name == "Viewer Co"


def test_partner_owner_edits_the_partners_billing_details(client):
    user = _partner_member(Role.OWNER)
    client.force_login(user)
    assert 'name="company_name"' in client.get("/partner/billing-details/").content.decode()

    response = client.post("/partner/billing-details/", {**DETAILS, "country": "AT", "vat_id": "ATU12345678"})

    assert response["Location"] == "/partner/billing-details/"
    partner = Partner.objects.get(pk=user.partner_membership.partner_id)
    assert (partner.company_name, partner.country, partner.vat_id) == ("Bäckerei Schmidt GmbH", "AT", "ATU12345678")


def test_each_hub_page_is_for_its_own_party_only(client):
    client.force_login(_client_member(Role.OWNER))
    assert client.get("/partner/billing-details/").status_code == 403

    client.force_login(_partner_member(Role.OWNER))
    assert client.get("/client/billing-details/").status_code == 403

    client.logout()
    assert client.get("/partner/billing-details/")["Location"] == "/login/?next=/partner/billing-details/"


def test_a_change_shows_on_future_invoices_only(client):
    hub = HubFactory(client=ClientFactory(company_name="Old Name GmbH"))
    client.force_login(_client_member(Role.OWNER, hub.client))
    before = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="before-change")

    client.post("/client/billing-details/", DETAILS)
    after = topup_issue(hub=Hub.objects.get(pk=hub.pk), amount=Decimal("50.00"), request_key="after-change")

    before.refresh_from_db()
    assert before.billed_company["company_name"] == "Old Name GmbH"
    assert after.billed_company["company_name"] == "Bäckerei Schmidt GmbH"
    assert after.billed_company["vat_id"] == "DE136695976"
