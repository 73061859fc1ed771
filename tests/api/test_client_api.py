"""The client's endpoints: invoices, credit balances, ledger, usage, numbers, top-ups."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from djmoney.money import Money
from pypdf import PdfReader

from api.models import ApiKey
from billing.invoicing.prepayments import topup_issue
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, Invoice, InvoiceKind, InvoiceStatus, PaymentAttempt, RateCardRate
from billing.usage.ingest import usage_record_batch
from hub.models import PhoneNumber
from tests.api.conftest import VISA, save_card
from tests.factories import PhoneNumberFactory


def results(response) -> list:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# Invoices -----------------------------------------------------------------------------------------------------------
def test_invoices_list_only_the_clients_own_issued_invoices_with_filters(world):
    api = world.api("client_a")
    assert [(i["number"], i["kind"], i["status"], i["hub_id"], i["net_amount"]) for i in results(
        api.get("/api/v1/invoices")
    )] == [(world.invoice_a.number, "PREPAYMENT", "pending", "HUB-AAAAAAAA", "50.00")]  # fmt: skip
    assert results(api.get("/api/v1/invoices?kind=LICENSE")) == []
    assert results(api.get("/api/v1/invoices?status=paid")) == []
    assert len(results(api.get("/api/v1/invoices?status=pending&kind=PREPAYMENT&period=2026-11"))) == 1
    assert results(api.get("/api/v1/invoices?period=2026-10")) == []
    assert results(api.get("/api/v1/invoices?hub=HUB-BBBBBBBB")) == []


def test_invoice_filters_are_validated_in_the_error_shape(world):
    response = world.api("client_a").get("/api/v1/invoices?status=draft&period=2026-13")

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid", "message": "The request has invalid fields.", "fields": {
        "status": ['"draft" is not a valid choice.'],
        "period": ["This value does not match the required pattern."],
    }}}  # fmt: skip


def test_invoices_paginate_by_page_number(world):
    for n in range(3):
        topup_issue(hub=world.hub_a, amount=Decimal("10.00"), request_key=f"p{n}")
    api = world.api("client_a")

    first = api.get("/api/v1/invoices?page_size=3").json()
    second = api.get("/api/v1/invoices?page_size=3&page=2").json()

    assert (first["count"], len(first["results"]), len(second["results"]), second["next"]) == (4, 3, 1, None)
    assert api.get("/api/v1/invoices?page=9").status_code == 404


def test_invoice_detail_has_its_lines(world):
    body = world.api("client_a").get(f"/api/v1/invoices/{world.invoice_a.number}").json()

    assert (body["number"], body["total"], body["billed_company"]["hub_id"]) == (
        world.invoice_a.number, str(world.invoice_a.total), "HUB-AAAAAAAA",
    )  # fmt: skip
    assert [(line["role"], line["description"], line["amount"]) for line in body["lines"]] == [
        (line.role, line.description, f"{line.amount:.2f}") for line in world.invoice_a.lines.order_by("position")
    ]
    assert body["lines"][0] == {
        "position": 1, "role": "charge", "description": "Funds added to Credit Balance", "quantity": "1.0000",
        "unit_amount": "50.000000", "amount": "50.00",
    }  # fmt: skip


def test_invoice_pdf_is_the_invoice_as_application_pdf(world):
    response = world.api("client_a").get(f"/api/v1/invoices/{world.invoice_a.number}/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{world.invoice_a.number}.pdf"'
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert world.invoice_a.number in text


def test_an_unknown_or_malformed_invoice_number_is_a_404_in_the_error_shape(world):
    api = world.api("client_a")
    for number in ("INV-2026-999999", "not a number", "INV-2026-1%00"):
        response = api.get(f"/api/v1/invoices/{number}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


# Credit balances and ledger -----------------------------------------------------------------------------------------
def test_credit_balances_show_each_hub_with_its_active_restrictions(world):
    (row_a,) = world.api("client_a").get("/api/v1/credit-balances").json()
    (row_b,) = world.api("client_b").get("/api/v1/credit-balances").json()

    assert (row_a["hub_id"], row_a["balance"], row_a["currency"], row_a["restrictions"]) == (
        "HUB-AAAAAAAA", "100.000000", "EUR", [],
    )  # fmt: skip
    assert (row_b["hub_id"], row_b["balance"]) == ("HUB-BBBBBBBB", "0.000000")
    assert [(r["blocks"], r["reason"]) for r in row_b["restrictions"]] == [
        ("OUTBOUND_MESSAGING", "CREDIT_BALANCE_DEPLETED")
    ]


def test_ledger_entries_newest_first_by_cursor(world):
    account = CreditAccount.objects.get(hub=world.hub_a)
    for n in range(4):
        ledger_post(account=account, kind=EntryKind.MANUAL_ADJUSTMENT, amount=Money("-1.00", "EUR"), key=f"m{n}",
                    memo=f"adjustment {n}")  # fmt: skip
    api = world.api("client_a")

    first = api.get("/api/v1/ledger-entries?page_size=3").json()
    second = api.get(first["next"]).json()

    assert [e["memo"] for e in first["results"]] == ["adjustment 3", "adjustment 2", "adjustment 1"]
    assert [(e["memo"], e["kind"], e["balance_after"]) for e in second["results"]] == [
        ("adjustment 0", "MANUAL_ADJUSTMENT", "99.000000"), ("", "FUNDS_ADDED", "100.000000"),
    ]  # fmt: skip
    assert second["next"] is None
    assert world.api("client_b").get("/api/v1/ledger-entries?hub=HUB-AAAAAAAA").json()["results"] == []


# Usage --------------------------------------------------------------------------------------------------------------
def test_usage_summary_by_day_waba_number_category_and_market(world):
    RateCardRate.objects.create(effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing",
                                rate=Decimal("0.100000"))  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    events = [
        {"message_id": f"wamid.api.{n}", "waba_id": "111111111", "phone_number": world.number_a.e164,
         "recipient_country": "DE", "category": "marketing", "billable": n != 2, "timestamp": now.isoformat()}
        for n in range(3)
    ]  # fmt: skip
    assert len(usage_record_batch(events=events).rejected) == 0
    today = now.date().isoformat()

    rows = results(world.api("client_a").get(f"/api/v1/usage?start={today}&end={today}"))

    assert rows == [{
        "day": today, "waba_id": "111111111", "phone_number": world.number_a.e164, "category": "marketing",
        "market": "DE", "currency": "EUR", "messages": 3, "billable_messages": 2, "cost": "0.200000",
    }]  # fmt: skip
    assert results(world.api("client_b").get(f"/api/v1/usage?start={today}&end={today}")) == []


def test_usage_summary_asks_for_at_most_93_days(world):
    response = world.api("client_a").get("/api/v1/usage?start=2026-01-01&end=2026-06-01")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"end": ["Ask for at most 93 days at a time."]}
    assert world.api("client_a").get("/api/v1/usage").json()["error"]["fields"] == {
        "start": ["This field is required."], "end": ["This field is required."],
    }  # fmt: skip


# Numbers ------------------------------------------------------------------------------------------------------------
def test_numbers_list_and_onboard(world):
    api = world.api("client_a")
    response = api.post("/api/v1/numbers", {"waba_id": "111111111", "e164": "+4915119999999", "tier": "premium",
                                            "display_name": "Sales"}, format="json")  # fmt: skip

    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("e164", "tier", "status", "hub_id", "display_name")} == {
        "e164": "+4915119999999", "tier": "premium", "status": "active", "hub_id": "HUB-AAAAAAAA",
        "display_name": "Sales",
    }  # fmt: skip
    assert [n["e164"] for n in results(api.get("/api/v1/numbers"))] == [world.number_a.e164, "+4915119999999"]
    assert [n["e164"] for n in results(api.get("/api/v1/numbers?status=pending_deletion"))] == []


def test_onboarding_refuses_another_clients_waba_an_unknown_tier_and_a_bad_number(world):
    api = world.api("client_a")
    response = api.post("/api/v1/numbers", {"waba_id": "222222222", "e164": "+4915119999999", "tier": "regular"},
                        format="json")  # fmt: skip
    assert response.json()["error"]["fields"] == {"waba_id": ["None of your WABAs has this id."]}
    response = api.post("/api/v1/numbers", {"waba_id": "111111111", "e164": "+4915119999999", "tier": "gold"},
                        format="json")  # fmt: skip
    assert response.json()["error"]["fields"] == {"tier": ["No license tier has this code."]}
    response = api.post("/api/v1/numbers", {"waba_id": "111111111", "e164": "0151 1234", "tier": "regular"},
                        format="json")  # fmt: skip
    assert (response.status_code, response.json()["error"]["fields"]) == (
        400, {"e164": ["Phone number must be in E.164 format (+ and country code)."]},
    )  # fmt: skip
    assert PhoneNumber.objects.filter(waba__hub=world.hub_a).count() == 1


def test_number_deletion_request(world):
    response = world.api("client_a").post(f"/api/v1/numbers/{world.number_a.pk}/deletion")

    assert (response.status_code, response.json()["status"]) == (200, "pending_deletion")
    world.number_a.refresh_from_db()
    assert world.number_a.status == PhoneNumber.Status.PENDING_DELETION
    assert world.api("client_a").post(f"/api/v1/numbers/{world.number_b.pk}/deletion").status_code == 404
    assert world.api("client_a").post("/api/v1/numbers/99999999999999999999/deletion").status_code == 404


# Top-ups ------------------------------------------------------------------------------------------------------------
def test_top_up_without_a_saved_card_is_refused_and_issues_nothing(world):
    response = world.api("client_a").post(f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups", {"amount": "20.00"},
                                          format="json")  # fmt: skip

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "no_card", "message": "No card is saved to charge: add one in the Client Hub first.", "fields": {},
    }  # fmt: skip
    assert Invoice.objects.filter(hub=world.hub_a).count() == 1


def test_top_up_issues_the_prepayment_invoice_and_charges_the_card_once_per_idempotency_key(world, localstripe):
    save_card(localstripe, world.client_a, VISA)
    api = world.api("client_a")
    url = f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups"

    first = api.post(url, {"amount": "20.00"}, format="json", HTTP_IDEMPOTENCY_KEY="topup-1")
    replay = api.post(url, {"amount": "20.00"}, format="json", HTTP_IDEMPOTENCY_KEY="topup-1")
    reused = api.post(url, {"amount": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="topup-1")

    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["payment"], body["invoice"]["kind"], body["invoice"]["status"], body["invoice"]["net_amount"]) == (
        {"state": "paid", "failures": []}, "PREPAYMENT", "paid", "20.00",
    )  # fmt: skip
    assert body["balance"] == "120.000000"
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, body, "true")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    topups = Invoice.objects.filter(hub=world.hub_a, kind=InvoiceKind.PREPAYMENT, status=InvoiceStatus.PAID)
    assert topups.count() == 1
    assert PaymentAttempt.objects.filter(invoice__in=topups).count() == 1
    assert CreditAccount.objects.get(hub=world.hub_a).balance == Decimal("120")


def test_an_idempotency_key_names_one_request_body_even_after_a_refusal(world, localstripe):
    save_card(localstripe, world.client_a, VISA)
    api = world.api("client_a")
    url = f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups"

    refused = api.post(url, {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    changed = api.post(url, {"amount": "15.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    fresh = api.post(url, {"amount": "15.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")

    assert refused.json()["error"]["fields"] == {"amount": ["Ensure this value is greater than or equal to 10.00."]}
    assert (changed.status_code, changed.json()["error"]) == (422, {
        "code": "idempotency_key_reused", "fields": {},
        "message": "This Idempotency-Key was already used with a different request.",
    })  # fmt: skip
    assert (fresh.status_code, fresh.json()["invoice"]["net_amount"]) == (201, "15.00")


def test_the_same_request_after_a_refusal_is_carried_out_again(world, localstripe):
    api = world.api("client_a")
    url = f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups"

    no_card = api.post(url, {"amount": "20.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    save_card(localstripe, world.client_a, VISA)
    again = api.post(url, {"amount": "20.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert no_card.status_code == 409
    assert (again.status_code, again.json()["payment"]["state"], again.json()["invoice"]["net_amount"]) == (
        201, "paid", "20.00",
    )  # fmt: skip


def _topups(hub, **filters):
    return Invoice.objects.filter(hub=hub, kind=InvoiceKind.PREPAYMENT, period_key__startswith="topup:api:", **filters)


def test_a_top_up_while_stripe_is_down_answers_503_and_the_same_request_charges_it_once_later(world, localstripe):
    save_card(localstripe, world.client_a, VISA)
    api = world.api("client_a")
    url = f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups"
    localstripe.stop()

    down = api.post(url, {"amount": "20.00"}, format="json", HTTP_IDEMPOTENCY_KEY="outage-1")
    changed = api.post(url, {"amount": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="outage-1")

    (invoice,) = _topups(world.hub_a)
    assert (down.status_code, down["Retry-After"], down.json()) == (503, "60", {"error": {
        "code": "stripe_unavailable", "fields": {},
        "message": f"Stripe cannot be reached just now: invoice {invoice.number} is issued and not charged yet. It "
        "is charged automatically once Stripe answers again, or when this request is sent again; it is never "
        "charged twice.",
    }})  # fmt: skip
    assert (invoice.status, invoice.net_amount) == (InvoiceStatus.PENDING, Decimal("20.00"))
    assert (changed.status_code, changed.json()["error"]["code"]) == (422, "idempotency_key_reused")
    localstripe.start()

    again = api.post(url, {"amount": "20.00"}, format="json", HTTP_IDEMPOTENCY_KEY="outage-1")

    assert again.status_code == 201, again.content
    assert (again.json()["invoice"]["number"], again.json()["payment"]["state"]) == (invoice.number, "paid")
    assert [a.status for a in PaymentAttempt.objects.filter(invoice=invoice)] == ["succeeded"]
    assert len(localstripe.charges(world.client_a.stripe_customer.stripe_customer_id)) == 1
    assert CreditAccount.objects.get(hub=world.hub_a).balance == Decimal("120")


def test_a_top_up_left_by_an_outage_is_charged_by_the_sweep_once(world, localstripe):
    from billing.payments.charging import attempt_resume, attempts_stale

    save_card(localstripe, world.client_a, VISA)
    api = world.api("client_a")
    url = f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups"
    localstripe.stop()
    assert api.post(url, {"amount": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="outage-2").status_code == 503
    localstripe.start()

    (attempt_id,) = attempts_stale(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3))
    attempt = attempt_resume(attempt_id=attempt_id)
    replay = api.post(url, {"amount": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="outage-2")

    (invoice,) = _topups(world.hub_a)
    assert (attempt.status, invoice.status) == ("succeeded", InvoiceStatus.PAID)
    assert (replay.status_code, replay.json()["payment"]["state"]) == (201, "paid")
    assert len(localstripe.charges(world.client_a.stripe_customer.stripe_customer_id)) == 1
    assert CreditAccount.objects.get(hub=world.hub_a).balance == Decimal("130")


# Keys and throttling ------------------------------------------------------------------------------------------------
def test_last_used_at_is_written_once_a_minute(world, django_assert_num_queries):
    api = world.api("client_a")
    api.get("/api/v1/credit-balances")
    key = ApiKey.objects.get(client=world.client_a)
    first_use = key.last_used_at
    assert first_use is not None

    with django_assert_num_queries(3):  # the key, the accounts, their restrictions: no UPDATE
        api.get("/api/v1/credit-balances")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first_use - dt.timedelta(seconds=61))
    api.get("/api/v1/credit-balances")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first_use


@pytest.mark.usefixtures("slow_rates")
def test_a_key_over_its_rate_gets_429_with_retry_after(world):
    api = world.api("client_a")
    statuses = [api.get("/api/v1/credit-balances").status_code for _ in range(4)]
    response = api.get("/api/v1/credit-balances")

    assert statuses == [200, 200, 200, 429]
    assert response.json()["error"]["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert world.api("client_b").get("/api/v1/credit-balances").status_code == 200  # counted per key


def test_onboarding_takes_the_meta_phone_number_id_digits_only_and_unique(world):
    api = world.api("client_a")
    body = {"waba_id": "111111111", "e164": "+4915119999999", "tier": "regular"}

    bad = api.post("/api/v1/numbers", {**body, "meta_phone_number_id": "10654abc"}, format="json")
    assert (bad.status_code, bad.json()["error"]["fields"]) == (
        400, {"meta_phone_number_id": ["Meta's phone number ID is a string of digits."]},
    )  # fmt: skip
    PhoneNumberFactory(e164="+4915100000001", meta_phone_number_id="106540352242922")
    taken = api.post("/api/v1/numbers", {**body, "meta_phone_number_id": "106540352242922"}, format="json")
    assert (taken.status_code, taken.json()["error"]["fields"]) == (
        400, {"meta_phone_number_id": ["Another number already has this Meta phone number ID."]},
    )  # fmt: skip
    assert PhoneNumber.objects.filter(waba__hub=world.hub_a).count() == 1

    created = api.post("/api/v1/numbers", {**body, "meta_phone_number_id": "106540352242999"}, format="json")
    assert (created.status_code, created.json()["meta_phone_number_id"]) == (201, "106540352242999")
    assert PhoneNumber.objects.get(e164="+4915119999999").meta_phone_number_id == "106540352242999"
