"""The send decision pushed to the platform: every change of a hub's send permission on a Redis Stream (real
Redis, REDIS_URL) with a sequence number, and GET /api/v1/send-permissions: the snapshot or the changes since."""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_create
from billing import send_permission_stream as stream
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid
from tests.billing.stream import DEPLETED
from tests.factories import ClientFactory, HubFactory

pytestmark = [pytest.mark.postgres, pytest.mark.celery_broker, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("redis_stream")]


@pytest.fixture
def platform():
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='Messaging platform')[1]}")


def feed(platform, **params):
    response = platform.get("/api/v1/send-permissions", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_hub_is_blocked_on_the_stream_and_in_the_snapshot(platform, redis_stream):
    # given a hub just opened: no credit, so it may not send (the block starts as the hub is created)
    hub = HubFactory()

    # then the stream holds the change, sequence number 1, the hub's whole answer
    ((entry_id, fields),) = redis_stream.xrange(stream.STREAM_KEY)
    assert entry_id == "1-0"
    assert (fields["hub_id"], fields["allowed"], json.loads(fields["reasons"])) == (hub.hub_id, "0", [DEPLETED])
    # and the snapshot lists it, with the number to follow the stream from
    assert feed(platform) == {
        "seq": 1,
        "snapshot": True,
        "more": False,
        "entries": [{"hub_id": hub.hub_id, "allowed": False, "reasons": [DEPLETED]}],
    }


def test_a_payment_that_lifts_the_block_is_the_next_change_since_the_snapshot(platform):
    hub = HubFactory()
    seq = feed(platform)["seq"]

    invoice = topup_issue(hub=hub, amount=Decimal("20.00"), request_key="top-up")
    invoice_mark_paid(invoice=invoice)  # commits: the balance crosses 0.00, the block is lifted

    assert feed(platform, since=seq) == {
        "seq": seq + 1,
        "snapshot": False,
        "more": False,
        "entries": [{"seq": seq + 1, "hub_id": hub.hub_id, "allowed": True, "reasons": []}],
    }
    assert feed(platform, since=seq + 1) == {"seq": seq + 1, "snapshot": False, "more": False, "entries": []}
    assert feed(platform)["entries"] == []  # nobody is blocked now


def test_changes_come_in_pages_in_sequence_order(platform):
    hubs = [HubFactory() for _ in range(3)]

    first = feed(platform, since=0, limit=2)
    second = feed(platform, since=first["seq"], limit=2)

    assert [(e["seq"], e["hub_id"]) for e in first["entries"]] == [(1, hubs[0].hub_id), (2, hubs[1].hub_id)]
    assert (first["seq"], first["more"]) == (2, True)
    assert [(e["seq"], e["hub_id"]) for e in second["entries"]] == [(3, hubs[2].hub_id)]
    assert (second["seq"], second["more"]) == (3, False)


def test_a_since_older_than_the_stream_keeps_gets_the_snapshot(platform, redis_stream):
    hub = HubFactory()
    HubFactory()
    redis_stream.xtrim(stream.STREAM_KEY, minid="2-0", approximate=False)  # entry 1 trimmed away

    answer = feed(platform, since=0)

    assert answer["snapshot"] is True
    assert answer["seq"] == 2
    assert hub.hub_id in [entry["hub_id"] for entry in answer["entries"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "abc"}, "since must be a sequence number from an earlier answer."),
        ({"since": "-1"}, "since must be a sequence number from an earlier answer."),
        ({"limit": "0"}, "limit must be a whole number from 1 to 1000."),
        ({"limit": "1001"}, "limit must be a whole number from 1 to 1000."),
    ],
)
def test_a_bad_since_or_limit_is_refused(platform, params, message):
    response = platform.get("/api/v1/send-permissions", params)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_a_client_key_cannot_read_the_feed():
    _, plaintext = api_key_create(name="A client", party=ClientFactory())
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/api/v1/send-permissions")
    assert response.status_code == 403
