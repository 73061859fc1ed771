"""The send decision pushed to the platform: every change of a hub's send permission on a Redis Stream (real
Redis, REDIS_URL) with a sequence number, and GET /api/v1/send-permissions: the snapshot or the changes since."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import redis
import time_machine
from django.db import transaction
from rest_framework.test import APIClient

from api.keys import api_key_create
from billing import send_permission_stream as stream
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid
from billing.models import Invoice, SendPermissionUnpublished
from tests.billing.stream import DEPLETED, NOW
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


def test_a_published_change_leaves_nothing_for_the_sweep():
    HubFactory()

    assert SendPermissionUnpublished.objects.count() == 0
    assert stream.send_permission_unpublished_sweep() == 0


def test_a_change_redis_missed_reaches_the_stream_through_the_sweep(platform, redis_stream, monkeypatch):
    # given Redis unreachable while a hub's block commits (a refused connection: the publication fails, logged)
    monkeypatch.setattr(stream, "_client", redis.Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True))
    hub = HubFactory()
    monkeypatch.undo()
    assert redis_stream.xlen(stream.STREAM_KEY) == 0  # the change is not on the stream
    assert list(SendPermissionUnpublished.objects.values_list("hub_id", flat=True)) == [hub.pk]
    assert stream.send_permission_unpublished_sweep() == 0  # the on-commit publication's own time is not over

    # when beat's sweep runs a minute later
    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        swept = stream.send_permission_unpublished_sweep()

    # then the hub's whole answer is on the stream, once, and nothing is left to sweep
    assert swept == 1
    ((_entry_id, fields),) = redis_stream.xrange(stream.STREAM_KEY)
    assert (fields["hub_id"], fields["allowed"], json.loads(fields["reasons"])) == (hub.hub_id, "0", [DEPLETED])
    assert feed(platform, since=0)["entries"] == [{"seq": 1, "hub_id": hub.hub_id, "allowed": False,
                                                   "reasons": [DEPLETED]}]  # fmt: skip
    assert SendPermissionUnpublished.objects.count() == 0
    with time_machine.travel(NOW + dt.timedelta(minutes=2), tick=False):
        assert stream.send_permission_unpublished_sweep() == 0


def test_a_change_after_the_publication_read_its_mark_stays_for_its_own_publication():
    hub = HubFactory()
    stream.send_permission_unpublished_mark(hub_ids=[hub.pk])
    read = SendPermissionUnpublished.objects.get().version
    stream.send_permission_unpublished_mark(hub_ids=[hub.pk])  # a later change of the same hub, committed

    assert SendPermissionUnpublished.objects.get().version != read  # a new version: removing `read` leaves it
    stream.send_permission_publish(hub_ids=[hub.pk])  # reads the newest mark: published, removed
    assert SendPermissionUnpublished.objects.count() == 0


def test_a_rolled_back_change_marks_nothing():
    hub = HubFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        topup_issue(hub=hub, amount=Decimal("20.00"), request_key="rolled-back")
        invoice_mark_paid(invoice=Invoice.objects.get(hub=hub))  # lifts the block, inside the transaction
        assert SendPermissionUnpublished.objects.count() == 1
        raise RuntimeError("the caller fails after the change")

    assert SendPermissionUnpublished.objects.count() == 0
