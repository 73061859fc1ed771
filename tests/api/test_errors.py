"""One error shape for every refusal, with the status codes and headers HTTP asks for."""

from api.keys import api_key_revoke
from api.models import ApiKey
from tests.api.conftest import api_client


def shape(response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return response.status_code, body["error"]["code"]


def test_no_key_is_401_with_www_authenticate_bearer(world):
    response = api_client().get("/api/v1/invoices")

    assert shape(response) == (401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["message"] == "Authentication credentials were not provided."


def test_an_unknown_or_revoked_key_is_401(world):
    assert shape(api_client("hpc_not-a-key").get("/api/v1/invoices")) == (401, "authentication_failed")
    api_key_revoke(key=ApiKey.objects.get(client=world.client_a))
    response = world.api("client_a").get("/api/v1/invoices")
    assert shape(response) == (401, "authentication_failed")
    assert response.json()["error"]["message"] == "Unknown or revoked API key."


def test_a_key_of_another_kind_is_403(world):
    assert shape(world.api("partner").get("/api/v1/invoices")) == (403, "permission_denied")


def test_another_partys_id_is_404(world):
    assert shape(world.api("client_b").get(f"/api/v1/invoices/{world.invoice_a.number}")) == (404, "not_found")


def test_a_method_the_endpoint_does_not_have_is_405_with_allow(world):
    response = world.api("client_a").delete("/api/v1/invoices")

    assert shape(response) == (405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_a_body_that_is_not_json_is_415_and_broken_json_is_400(world):
    api = world.api("client_a")
    url = f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups"
    assert shape(api.post(url, "amount=20", content_type="application/x-www-form-urlencoded")) == (
        415, "unsupported_media_type",
    )  # fmt: skip
    assert shape(api.post(url, "{not json", content_type="application/json")) == (400, "parse_error")


def test_a_missing_field_is_400_naming_the_field(world):
    response = world.api("client_a").post(f"/api/v1/hubs/{world.hub_a.hub_id}/top-ups", {}, format="json")

    assert shape(response) == (400, "invalid")
    assert response.json()["error"]["fields"] == {"amount": ["This field is required."]}


def test_an_idempotency_key_reused_with_another_body_is_422(world):
    api = world.api("client_a")
    body = {"waba_id": "111111111", "e164": "+4915119999999", "tier": "regular"}
    first = api.post("/api/v1/numbers", body, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    again = api.post("/api/v1/numbers", body, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    other = api.post("/api/v1/numbers", {**body, "e164": "+4915119999998"}, format="json", HTTP_IDEMPOTENCY_KEY="n1")

    assert (first.status_code, again.status_code, again.json()) == (201, 201, first.json())
    assert shape(other) == (422, "idempotency_key_reused")
    assert other.json()["error"]["message"] == "This Idempotency-Key was already used with a different request."


def test_the_same_idempotency_key_of_another_api_key_is_another_request(world):
    body = {"waba_id": "111111111", "e164": "+4915119999999", "tier": "regular"}
    first = world.api("client_a").post("/api/v1/numbers", body, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    assert first.status_code == 201
    response = world.api("client_b").post("/api/v1/numbers", body, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    assert response.json()["error"]["fields"] == {"waba_id": ["None of your WABAs has this id."]}


def test_an_unknown_api_address_answers_in_the_error_shape_and_a_page_address_with_the_portal_page(client, db):
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404
    assert api.json() == {"error": {"code": "not_found", "message": "No API endpoint at this address.", "fields": {}}}

    page = client.get("/client-typo/")
    assert page.status_code == 404
    assert "There is nothing at this address in your hub." in page.content.decode()
