"""Every change of a hub's send permission, POSTed to the platform's URL as a signed webhook through the one
delivery service (billing/outbound_webhooks.py): to a real HTTP server on loopback that verifies each signature
itself, with the stream's sequence number, in commit order, retried, logged, and never for a rolled-back change.
The stream is real Redis (REDIS_URL); the money events are real commits (transactional tests)."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from djmoney.money import Money

from billing import send_permission_stream as stream
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid
from billing.ledger import ledger_post
from billing.models import DeliveryStatus, EntryKind, WebhookDelivery
from billing.tasks import webhook_deliveries_due_task
from tests.billing.stream import DEPLETED, NOW
from tests.factories import HubFactory

pytestmark = [pytest.mark.postgres, pytest.mark.celery_broker, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("redis_stream")]
SECRET = "whsec_platform_0123456789abcdef0123456789"


@pytest.fixture
def platform(settings, webhook_receiver):
    """The platform's URL and secret in settings, as PLATFORM_WEBHOOK_URL / _SECRET put them there."""
    settings.OUTBOUND_WEBHOOKS = {"send-permission": {"url": webhook_receiver.url, "secret": SECRET}}
    webhook_receiver.secret = SECRET
    return webhook_receiver


def fund(hub, amount: str, key: str) -> None:
    invoice_mark_paid(invoice=topup_issue(hub=hub, amount=Decimal(amount), request_key=key))


def changes(receiver) -> list[tuple[int, str, bool, int]]:
    """(seq, hub id, allowed, HTTP answer) of every request received, in arrival order."""
    return [(r.event["data"]["seq"], r.event["data"]["hub_id"], r.event["data"]["allowed"], r.answered)
            for r in receiver.received]  # fmt: skip


def test_a_block_and_its_lifting_are_pushed_signed_with_the_streams_numbers(platform, redis_stream):
    # given a hub just opened (no credit: blocked), then funded (the block lifts)
    hub = HubFactory()
    fund(hub, "20.00", "top-up")

    # then the platform received both changes, signed, in order, with the stream's sequence numbers
    assert changes(platform) == [(1, hub.hub_id, False, 200), (2, hub.hub_id, True, 200)]
    assert all(r.signature_ok for r in platform.received)
    blocked, allowed = (r.event for r in platform.received)
    assert blocked["type"] == "hub.send_permission"
    assert {k: v for k, v in blocked["data"].items() if k != "committed_at"} == {
        "seq": 1, "hub_id": hub.hub_id, "allowed": False, "reasons": [DEPLETED]}  # fmt: skip
    assert {k: v for k, v in allowed["data"].items() if k != "committed_at"} == {
        "seq": 2, "hub_id": hub.hub_id, "allowed": True, "reasons": []}  # fmt: skip
    assert dt.datetime.fromisoformat(allowed["data"]["committed_at"]) >= dt.datetime.fromisoformat(
        blocked["data"]["committed_at"])  # fmt: skip
    headers = platform.received[0].headers
    assert (headers["Hub-Event"], headers["Hub-Delivery"]) == ("hub.send_permission", blocked["id"])
    # the same entries as on the stream
    entries = [(int(entry_id.split("-")[0]), fields["allowed"], json.loads(fields["reasons"]))
               for entry_id, fields in redis_stream.xrange(stream.STREAM_KEY)]  # fmt: skip
    assert entries == [(1, "0", [DEPLETED]), (2, "1", [])]
    # and the delivery log has each, delivered at the first attempt
    log = WebhookDelivery.objects.filter(endpoint__name="send-permission").order_by("id")
    assert [(d.event_id, d.status, d.attempts, d.last_status_code) for d in log] == [
        (blocked["id"], DeliveryStatus.DELIVERED, 1, 200),
        (allowed["id"], DeliveryStatus.DELIVERED, 1, 200),
    ]


def test_a_refused_first_attempt_is_retried_and_no_later_change_overtakes_it(platform):
    # given the platform answers the first request with 503
    platform.answers = [503]
    first = HubFactory()  # seq 1: refused
    second = HubFactory()  # seq 2: must wait for seq 1

    # then seq 2 is not sent while seq 1 waits for its retry
    assert changes(platform) == [(1, first.hub_id, False, 503)]
    waiting = WebhookDelivery.objects.order_by("id").first()
    assert json.loads(waiting.body)["data"]["seq"] == 1
    assert (waiting.status, waiting.attempts, waiting.last_status_code, waiting.last_error) == (
        DeliveryStatus.PENDING, 1, 503, "HTTP 503")  # fmt: skip
    assert waiting.next_attempt_at == NOW + dt.timedelta(minutes=1)
    with time_machine.travel(NOW + dt.timedelta(seconds=30), tick=False):
        assert webhook_deliveries_due_task() == 0  # not due; seq 2 waits in line, not listed

    # when the sweep retries it a minute later
    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        assert webhook_deliveries_due_task() == 1

    # then seq 1 is delivered, and seq 2 right after it
    assert changes(platform) == [
        (1, first.hub_id, False, 503), (1, first.hub_id, False, 200), (2, second.hub_id, False, 200)]  # fmt: skip
    assert all(r.signature_ok for r in platform.received)
    assert platform.received[0].body == platform.received[1].body  # the stored body, signed anew
    log = WebhookDelivery.objects.filter(endpoint__name="send-permission").order_by("id")
    assert [(d.status, d.attempts, d.last_status_code) for d in log] == [
        (DeliveryStatus.DELIVERED, 2, 200), (DeliveryStatus.DELIVERED, 1, 200)]  # fmt: skip


def test_a_change_whose_transaction_rolls_back_is_never_pushed(platform, redis_stream):
    hub = HubFactory()
    fund(hub, "10.00", "top-up")
    sent = len(platform.received)

    # when a debit that would block the hub is rolled back
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-11.00", "EUR"), key="usage")
        raise RuntimeError("the caller fails after the posting")

    # then nothing was sent, logged or streamed for it
    assert len(platform.received) == sent == 2
    assert WebhookDelivery.objects.count() == 2
    assert redis_stream.xlen(stream.STREAM_KEY) == 2
    # and the same debit committed is pushed
    ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-11.00", "EUR"), key="usage")
    assert changes(platform)[-1] == (3, hub.hub_id, False, 200)


def test_without_a_platform_url_only_the_stream_is_written(redis_stream, webhook_receiver):
    HubFactory()

    assert redis_stream.xlen(stream.STREAM_KEY) == 1
    assert not WebhookDelivery.objects.exists() and not webhook_receiver.received


def test_a_refused_platform_url_does_not_stop_the_stream(settings, redis_stream, caplog):
    settings.OUTBOUND_WEBHOOKS = {"send-permission": {"url": "http://example.com/hooks", "secret": SECRET}}

    HubFactory()

    assert redis_stream.xlen(stream.STREAM_KEY) == 1
    assert not WebhookDelivery.objects.exists()
    assert "The platform's send-permission webhook URL is refused" in caplog.text


def test_a_change_given_up_after_24_hours_lets_the_next_one_go(platform):
    # given the platform refuses everything for a day: the first change is retried, the second waits behind it
    platform.answers = [500] * 100
    first = HubFactory()
    second = HubFactory()
    head = WebhookDelivery.objects.order_by("id").first()
    for _ in range(20):
        head.refresh_from_db()
        if head.status != DeliveryStatus.PENDING:
            break
        with time_machine.travel(head.next_attempt_at, tick=False):
            webhook_deliveries_due_task()

    # then the first is given up after 24 hours, and only then the second is tried
    assert head.status == DeliveryStatus.FAILED
    seqs = [seq for seq, *_ in changes(platform)]
    assert seqs == [1] * head.attempts + [2]
    assert [hub_id for _, hub_id, *_ in changes(platform)][-1] == second.hub_id != first.hub_id
