"""Every client and partner endpoint against every kind of caller: client A (the owner of the ids in the URLs),
client B, the partner, the platform's service key, no key."""

import pytest

CALLERS = ("client_a", "client_b", "partner", "service", None)


def endpoints(world) -> list[tuple[str, str, dict, tuple]]:
    """(method, url, body, expected status per caller in CALLERS order)."""
    inv, plan = world.invoice_a.number, world.plan_invoice.number
    hub, number, client = world.hub_a.hub_id, world.number_a.pk, world.client_a.pk
    client_only = (200, 200, 403, 403, 401)
    own_only = (200, 404, 403, 403, 401)
    partner_only = (403, 403, 200, 403, 401)
    return [
        ("get", "/api/v1/invoices", {}, client_only),
        ("get", f"/api/v1/invoices/{inv}", {}, own_only),
        ("get", f"/api/v1/invoices/{inv}/pdf", {}, own_only),
        ("get", f"/api/v1/invoices/{inv}/xml", {}, own_only),
        ("get", "/api/v1/credit-balances", {}, client_only),
        ("get", "/api/v1/ledger-entries", {}, client_only),
        ("get", "/api/v1/usage?start=2026-11-01&end=2026-11-30", {}, client_only),
        ("get", "/api/v1/numbers", {}, client_only),
        ("post", "/api/v1/numbers", {"waba_id": "111111111", "e164": "+4915119999999", "tier": "regular"},
         (201, 400, 403, 403, 401)),
        ("post", f"/api/v1/numbers/{number}/deletion", {}, own_only),
        ("post", f"/api/v1/hubs/{hub}/top-ups", {"amount": "20.00"}, (409, 404, 403, 403, 401)),  # A has no card
        ("get", "/api/v1/partner/invoices", {}, partner_only),
        ("get", f"/api/v1/partner/invoices/{plan}", {}, partner_only),
        ("get", f"/api/v1/partner/invoices/{plan}/pdf", {}, partner_only),
        ("get", f"/api/v1/partner/invoices/{plan}/xml", {}, partner_only),
        ("get", "/api/v1/partner/clients", {}, partner_only),
        ("get", f"/api/v1/partner/clients/{client}", {}, partner_only),
        ("post", "/api/v1/partner/clients", {"company_name": "New GmbH", "country": "DE",
                                              "billing_email": "ap@new.example"}, (403, 403, 201, 403, 401)),
    ]  # fmt: skip


@pytest.mark.parametrize("caller", CALLERS)
def test_every_endpoint_answers_each_caller_as_expected(world, caller):
    index = CALLERS.index(caller)
    answers = {}
    for method, url, body, expected in endpoints(world):
        response = getattr(world.api(caller), method)(url, body, format="json") if body else getattr(
            world.api(caller), method
        )(url)
        answers[f"{method.upper()} {url}"] = (response.status_code, expected[index])
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, url
    assert {url: got for url, (got, _) in answers.items()} == {url: want for url, (_, want) in answers.items()}


def test_another_partner_sees_none_of_this_partners_invoices_or_clients(world):
    api = world.api("other_partner")
    assert api.get(f"/api/v1/partner/invoices/{world.plan_invoice.number}").status_code == 404
    assert api.get(f"/api/v1/partner/invoices/{world.plan_invoice.number}/pdf").status_code == 404
    assert api.get(f"/api/v1/partner/invoices/{world.plan_invoice.number}/xml").status_code == 404
    assert api.get(f"/api/v1/partner/clients/{world.client_a.pk}").status_code == 404
    assert [row["number"] for row in api.get("/api/v1/partner/invoices").json()["results"]] == [
        world.other_plan_invoice.number
    ]
    assert api.get("/api/v1/partner/clients").json()["results"] == []


def test_a_partner_key_never_reaches_client_invoices(world):
    api = world.api("partner")
    assert api.get(f"/api/v1/invoices/{world.invoice_a.number}").status_code == 403
    assert api.get(f"/api/v1/partner/invoices/{world.invoice_a.number}").status_code == 404
