"""The partner's endpoints: its plan invoices, its clients with usage and billing status, client onboarding."""

import datetime as dt
from decimal import Decimal

from billing.invoicing.licenses import license_issue
from billing.invoicing.settlement import invoice_mark_unpaid
from billing.models import Invoice, RateCardRate
from billing.restrictions import restrictions_evaluate
from billing.usage.ingest import usage_record_batch
from clients.models import Client


def test_plan_invoices_list_detail_and_pdf(world):
    api = world.api("partner")
    number = world.plan_invoice.number

    listed = api.get("/api/v1/partner/invoices").json()["results"]
    detail = api.get(f"/api/v1/partner/invoices/{number}").json()
    pdf = api.get(f"/api/v1/partner/invoices/{number}/pdf")

    assert [(i["number"], i["kind"], i["net_amount"]) for i in listed] == [(number, "PARTNER_PLAN", "500.00")]
    assert [line["description"] for line in detail["lines"]] == ["Partner Plan Growth, November 2026", "VAT 19%"]
    assert "hub_id" not in detail
    assert (pdf.status_code, pdf["Content-Type"], pdf.content[:5]) == (200, "application/pdf", b"%PDF-")
    assert api.get("/api/v1/partner/invoices?status=paid").json()["results"] == []
    assert len(api.get("/api/v1/partner/invoices?period=2026-11").json()["results"]) == 1


def test_clients_with_this_months_usage_balance_and_billing_status(world, django_assert_max_num_queries):
    RateCardRate.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing",
                                rate=Decimal("0.250000"))  # fmt: skip
    now = dt.datetime.now(dt.UTC).isoformat()
    usage_record_batch(events=[
        {"message_id": f"wamid.p.{n}", "waba_id": "111111111", "phone_number": world.number_a.e164,
         "recipient_country": "DE", "category": "marketing", "billable": True, "timestamp": now} for n in range(4)
    ])  # fmt: skip
    (license_b,) = license_issue(
        hub_ids=[world.hub_b.pk], month=dt.date(2026, 11, 1), issued_at=dt.datetime.now(dt.UTC)
    )
    invoice_mark_unpaid(invoice=license_b)
    restrictions_evaluate(hub_ids=[world.hub_b.pk])

    with django_assert_max_num_queries(8):
        rows = world.api("partner").get("/api/v1/partner/clients").json()["results"]

    alpha, beta = rows
    assert {k: alpha[k] for k in ("company_name", "messages_this_month", "usage_cost_this_month", "credit_balance",
                                  "license_status", "mci_status", "restricted")} == {
        "company_name": "Alpha GmbH", "messages_this_month": 4, "usage_cost_this_month": "1.000000",
        "credit_balance": "99.000000", "license_status": "none", "mci_status": "none", "restricted": False,
    }  # fmt: skip
    assert (beta["company_name"], beta["license_status"], beta["restricted"]) == ("Beta GmbH", "unpaid", True)
    assert sorted(r["reason"] for r in beta["hubs"][0]["restrictions"]) == [
        "CREDIT_BALANCE_DEPLETED", "LICENSE_UNPAID",
    ]  # fmt: skip
    assert "invoices" not in str(beta)
    assert sorted((r["reason"], r["detail"]) for r in beta["hubs"][0]["restrictions"]) == [
        ("CREDIT_BALANCE_DEPLETED", "Credit balance is 0.00 or below"),
        ("LICENSE_UNPAID", "License invoice not paid upon receipt"),
    ]  # fmt: skip
    assert license_b.number not in str(beta)  # the partner never sees the client's invoice numbers
    detail = world.api("partner").get(f"/api/v1/partner/clients/{world.client_b.pk}").json()
    assert detail == beta


def test_the_clients_query_count_does_not_grow_with_the_clients(world, django_assert_max_num_queries):
    from tests.factories import ClientFactory, HubFactory

    for n in range(10):
        HubFactory(client=ClientFactory(partner=world.partner, company_name=f"Gamma {n:02d}"))

    with django_assert_max_num_queries(8):
        rows = world.api("partner").get("/api/v1/partner/clients").json()["results"]
    assert len(rows) == 12


def test_onboarding_a_client(world):
    response = world.api("partner").post("/api/v1/partner/clients", {
        "company_name": "Neu GmbH", "country": "de", "billing_email": "ap@neu.example", "vat_id": "DE 123 456 789",
    }, format="json")  # fmt: skip

    assert response.status_code == 201, response.content
    client = Client.objects.get(company_name="Neu GmbH")
    assert (client.partner, client.country, client.vat_id) == (world.partner, "DE", "DE123456789")
    assert {k: response.json()[k] for k in ("id", "country", "vat_id", "currency")} == {
        "id": client.pk, "country": "DE", "vat_id": "DE123456789", "currency": "EUR",
    }  # fmt: skip


def test_onboarding_with_a_malformed_vat_id_is_a_400_naming_the_field(world):
    response = world.api("partner").post("/api/v1/partner/clients", {
        "company_name": "Neu GmbH", "country": "DE", "billing_email": "ap@neu.example", "vat_id": "DE12",
    }, format="json")  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"vat_id": ["DE12 is not a valid DE VAT ID format."]}
    assert not Client.objects.filter(company_name="Neu GmbH").exists()


def test_onboarding_while_a_plan_invoice_is_unpaid_is_a_409_with_the_reason(world):
    invoice_mark_unpaid(invoice=Invoice.objects.get(pk=world.plan_invoice.pk))
    restrictions_evaluate(partner_ids=[world.partner.pk])

    response = world.api("partner").post("/api/v1/partner/clients", {
        "company_name": "Neu GmbH", "country": "DE", "billing_email": "ap@neu.example",
    }, format="json")  # fmt: skip

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "onboarding_blocked",
        "message": f"Onboarding new clients is paused: Partner Plan invoice {world.plan_invoice.number} unpaid. Pay "
        "it in the Invoicing section of the Partner Hub and onboarding resumes automatically.",
        "fields": {},
    }
    assert not Client.objects.filter(company_name="Neu GmbH").exists()
