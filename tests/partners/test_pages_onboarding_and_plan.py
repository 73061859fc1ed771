"""Partner Hub: onboarding a client (refused while onboarding is blocked) and changing the plan from next month."""

import datetime as dt

import pytest
import time_machine

from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.settlement import invoice_mark_unpaid
from clients.models import Client
from hub.models import Hub
from partners.models import Partner, Plan
from tests.billing.payments.conftest import plan_invoice
from tests.factories import PartnerFactory
from tests.portal.conftest import partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DETAILS = {
    "company_name": "Neue Kunde GmbH", "address_line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin",
    "country": "DE", "vat_id": "DE 123 456 789", "billing_email": "billing@neuekunde.example", "hub_name": "Main hub",
}  # fmt: skip


def test_a_partner_onboards_a_client_with_its_first_hub(client):
    partner = PartnerFactory()
    partner_member(client, partner, "billing")

    response = client.post("/partner/clients/onboard/", DETAILS, follow=True)

    new = Client.objects.get(partner=partner)
    hub = Hub.objects.get(client=new)
    assert (new.company_name, new.vat_id, new.country) == ("Neue Kunde GmbH", "DE123456789", "DE")
    assert (hub.name, hub.currency) == ("Main hub", "EUR")
    assert response.redirect_chain == [(f"/partner/clients/{new.pk}/", 302)]
    assert f"Neue Kunde GmbH is onboarded with hub {hub.hub_id}." in response.content.decode()


def test_an_invalid_vat_id_is_shown_and_nothing_is_created(client):
    partner_member(client, PartnerFactory())

    response = client.post("/partner/clients/onboard/", {**DETAILS, "vat_id": "DE12"})

    assert response.status_code == 400
    assert "DE12 is not a valid DE VAT ID format." in response.content.decode()
    assert not Client.objects.exists() and not Hub.objects.exists()


def test_onboarding_is_refused_with_the_reason_while_a_plan_invoice_is_unpaid(client):
    partner = PartnerFactory()
    invoice = plan_invoice(partner)
    invoice_mark_unpaid(invoice=invoice)
    partner_member(client, partner)
    reason = (
        f"Onboarding new clients is paused: Partner Plan invoice {invoice.number} unpaid. Pay it in the Invoicing "
        "section of the Partner Hub and onboarding resumes automatically."
    )

    page = client.get("/partner/clients/onboard/")
    response = client.post("/partner/clients/onboard/", DETAILS)

    assert reason in page.content.decode()
    assert 'name="company_name"' not in page.content.decode()  # no form to fill in vain
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Client.objects.exists() and not Hub.objects.exists()


def test_a_viewer_cannot_onboard(client):
    partner_member(client, PartnerFactory(), "viewer")

    page = client.get("/partner/clients/onboard/")
    response = client.post("/partner/clients/onboard/", DETAILS)

    assert 'name="company_name"' not in page.content.decode()
    assert response.status_code == 403
    assert not Client.objects.exists()


@time_machine.travel(dt.datetime(2026, 11, 14, 10, tzinfo=dt.UTC), tick=False)
def test_a_plan_change_applies_from_next_months_invoice(client):
    partner = PartnerFactory()
    november = plan_invoice(partner, dt.date(2026, 11, 1))
    partner_member(client, partner, "owner")
    premium = Plan.objects.get(code="premium")

    page = client.get("/partner/plan/").content.decode()
    response = client.post("/partner/plan/", {"plan": premium.pk}, follow=True)

    assert "Applies from the invoice of 1 Dec 2026." in page
    assert "Your plan is now Premium. Applies from the invoice of 1 Dec 2026." in response.content.decode()
    assert '<span class="value" id="current-plan">Premium</span>' in response.content.decode()
    november.refresh_from_db()
    assert november.net_amount == 500  # the issued invoice keeps its plan
    (december,) = partner_plan_issue(
        partner_ids=[partner.pk], month=dt.date(2026, 12, 1), issued_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    assert december.net_amount == 1000


def test_a_viewer_sees_the_plan_but_cannot_change_it(client):
    partner = PartnerFactory()
    partner_member(client, partner, "viewer")

    page = client.get("/partner/plan/").content.decode()
    response = client.post("/partner/plan/", {"plan": Plan.objects.get(code="premium").pk})

    assert '<span class="value" id="current-plan">Growth</span>' in page
    assert "<form" not in page.split("<main")[1].split("<footer")[0]  # the footer has the language switch
    assert response.status_code == 403
    assert Partner.objects.get(pk=partner.pk).plan.code == "growth"


BRAZIL = {**DETAILS, "company_name": "Loja Exemplo Ltda", "country": "BR", "vat_id": "", "city": "Rio de Janeiro",
          "postal_code": "20040-002", "billing_email": "financeiro@loja.example"}  # fmt: skip


def test_a_brazilian_client_is_onboarded_with_its_cnpj_and_state(client):
    partner = PartnerFactory()
    partner_member(client, partner, "billing")
    assert 'name="tax_id"' in client.get("/partner/clients/onboard/").content.decode()

    client.post("/partner/clients/onboard/", {**BRAZIL, "tax_id": "11.222.333/0001-81", "state": "RJ"})

    new = Client.objects.get(partner=partner)
    assert (new.country, new.tax_id, new.state) == ("BR", "11222333000181", "RJ")


def test_an_invalid_cnpj_is_shown_and_nothing_is_created(client):
    partner_member(client, PartnerFactory())

    response = client.post("/partner/clients/onboard/", {**BRAZIL, "tax_id": "11.222.333/0001-80", "state": "RJ"})

    assert response.status_code == 400
    assert "11.222.333/0001-80 is not a valid CPF (11 digits) or CNPJ (14 digits)." in response.content.decode()
    assert not Client.objects.exists() and not Hub.objects.exists()


def test_cnpj_and_state_are_dropped_for_a_client_outside_brazil(client):
    partner = PartnerFactory()
    partner_member(client, partner, "billing")

    client.post("/partner/clients/onboard/", {**DETAILS, "tax_id": "11.222.333/0001-81", "state": "RJ"})

    assert Client.objects.values_list("tax_id", "state").get(partner=partner) == ("", "")
