"""The OpenAPI schema: complete (every operation documented, no warning) and served with its docs."""

from django.core.management import call_command

from tests.api.conftest import api_client


def test_spectacular_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/v1/invoices/{number}/pdf:", "/api/v1/ledger-entries:", "/api/v1/partner/clients:",
                 "/api/v1/hubs/{hub_id}/top-ups:", "/api/v1/usage:", "/api/v1/numbers/{number_id}/deletion:"):
        assert path in text, path


def test_schema_and_swagger_ui_are_served(db):
    schema = api_client().get("/api/schema/?format=json")
    docs = api_client().get("/api/docs/")

    assert schema.status_code == 200
    spec = schema.json()
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    top_up = spec["paths"]["/api/v1/hubs/{hub_id}/top-ups"]["post"]
    assert sorted(top_up["responses"]) == ["201", "400", "401", "403", "404", "409", "413", "415", "422", "429", "503"]
    assert [p["name"] for p in top_up["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    assert top_up["responses"]["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "application/pdf" in spec["paths"]["/api/v1/invoices/{number}/pdf"]["get"]["responses"]["200"]["content"]
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
