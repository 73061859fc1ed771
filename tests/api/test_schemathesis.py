"""schemathesis against the live test server: every operation of the published schema, a bounded number of
generated requests each, with a client key, a partner key or the platform's service key as the operation asks.
No response may be a server error, and every response must match the schema (status code, content type, body)."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.keys import api_key_create
from api.throttling import ApiKeyRateThrottle
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

EXAMPLES_PER_OPERATION = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def key_kind(path: str) -> str:
    if path.startswith("/api/v1/partner/"):
        return "partner"
    if path.endswith("/send-permission") or path == "/api/v1/usage-events":
        return "service"
    return "client"


@pytest.fixture
def keys(transactional_db, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"client": "100000/min", "partner": "100000/min",
                                                               "service": "100000/min"})  # fmt: skip
    partner = PartnerFactory()
    client = ClientFactory(partner=partner)
    PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)))
    return {
        "client": api_key_create(name="schemathesis", party=client)[1],
        "partner": api_key_create(name="schemathesis", party=partner)[1],
        "service": api_key_create(name="schemathesis")[1],
    }


def exercise(operation, base_url: str, headers: dict) -> None:
    """Up to EXAMPLES_PER_OPERATION generated requests (the same ones every run), each response checked."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


def test_generated_requests_get_no_server_error_and_match_the_schema(live_server, keys):
    raw = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    failures: dict[str, str] = {}
    for operation in operations:
        headers = {"Authorization": f"Bearer {keys[key_kind(operation.path)]}"}
        try:
            exercise(operation, live_server.url, headers)
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001  (every operation is tried; all failures are reported)
            failures[operation.label] = f"{type(failure).__name__}: {failure}"[:2000]
    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
