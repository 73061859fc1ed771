"""schemathesis against the live test server: every operation of the published schema, with every check
schemathesis has (server errors, status codes, content types and bodies the schema documents, valid data accepted,
invalid data rejected, auth not ignored, ...), in positive and negative generation, with the key kind the operation
asks for and with each other kind (a client, a partner and the platform's service key each try every operation).
The example counts are fixed and the runs derandomized, so every run sends the same requests; the counts tried are
printed (pytest -s) and asserted."""

import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.keys import api_key_create
from api.throttling import ApiKeyRateThrottle
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

# Per operation: its own key kind generates POSITIVE + NEGATIVE examples, each other kind OTHER_KIND examples.
POSITIVE, NEGATIVE, OTHER_KIND = 60, 60, 10
KINDS = ("client", "partner", "service")


# positive_data_acceptance (ST202) is not run where a schema-valid request may still be refused with a 400 naming
# the field, for a rule OpenAPI cannot state: a reference to one of the caller's own objects, or a cross-field rule.
SEMANTIC_400 = {
    "POST /api/v1/numbers": "waba_id must be one of the client's WABAs; e164 a possible number; tier a known tier",
    "POST /api/v1/partner/clients": "country a country with a VAT rule; company details validated per country",
    "GET /api/v1/usage": "end on or after start, at most 93 days after it",
    "POST /api/v1/usage-events": "each event checked on its own (a possible number, a known WABA); none valid: 400",
}


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


def exercise(operation, base_url: str, headers: dict, mode: GenerationMode, examples: int) -> int:
    excluded = [positive_data_acceptance] if operation.label in SEMANTIC_400 else []
    """Up to `examples` generated requests (the same ones every run), each response checked; returns how many."""
    tried = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case):
        tried.append(1)
        if case.headers and "Idempotency-Key" in case.headers:  # each generated request is a request of its own
            case.headers["Idempotency-Key"] = f"st-{uuid.uuid4()}"
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(
            response, headers=headers, transport_kwargs={"base_url": base_url}, excluded_checks=excluded
        )

    run()
    return len(tried)


def test_generated_requests_get_no_server_error_and_match_the_schema(live_server, keys):
    raw = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    failures: dict[str, str] = {}
    counts: dict[str, int] = {}
    for operation in operations:
        own = key_kind(operation.path)
        runs = [(own, GenerationMode.POSITIVE, POSITIVE), (own, GenerationMode.NEGATIVE, NEGATIVE)]
        runs += [(kind, GenerationMode.POSITIVE, OTHER_KIND) for kind in KINDS if kind != own]
        for kind, mode, examples in runs:
            label = f"{operation.label} [{kind} key, {mode.value}]"
            headers = {"Authorization": f"Bearer {keys[kind]}"}
            try:
                counts[label] = exercise(operation, live_server.url, headers, mode, examples)
            except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001  (every run is tried; all failures are reported)
                failures[label] = f"{type(failure).__name__}: {failure}"[:3000]
    per_operation = {
        op.label: sum(n for label, n in counts.items() if label.startswith(op.label + " [")) for op in operations
    }
    print(f"\nschemathesis: {sum(counts.values())} requests over {len(operations)} operations: {per_operation}")
    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
    assert min(per_operation.values()) >= 20, per_operation
