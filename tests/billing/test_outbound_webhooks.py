"""Partners' signed webhooks, delivered to a real HTTP server on loopback that checks each signature itself: which
events, with which payloads, to whom; retries with back-off for 24 hours; endpoints refused; the page."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from billing.invoicing.settlement import invoice_mark_paid, invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import CreditAccount, DeliveryStatus, EntryKind, WebhookDelivery, WebhookEndpoint
from billing.outbound_webhooks import (
    WebhookUrlError,
    endpoint_url_check,
    platform_endpoint,
    signature_header,
    signature_verify,
    webhook_endpoint_create,
    webhook_event_publish,
)
from billing.tasks import webhook_deliveries_due_task
from tests.billing.payments.conftest import license_invoice, plan_invoice
from tests.factories import ClientFactory, HubFactory, PartnerFactory, UserFactory
from tests.portal.conftest import partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


@pytest.fixture
def world(webhook_receiver):
    """A partner with a registered endpoint (the receiver knows its secret), a client hub of it with 100.00, and a
    second partner with its own endpoint that must never hear about the first one's clients."""
    partner = PartnerFactory(name="Vermittler")
    endpoint = webhook_endpoint_create(partner=partner, url=webhook_receiver.url)
    webhook_receiver.secret = endpoint.secret
    client = ClientFactory(partner=partner, company_name="Acme GmbH")
    hub = HubFactory(client=client, name="Acme Main")
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("100.00", "EUR"), key="funds")
    other = webhook_endpoint_create(partner=PartnerFactory(name="Andere"), url=webhook_receiver.url + "/other")
    return {"partner": partner, "endpoint": endpoint, "client": client, "hub": hub, "other": other}


def events(receiver) -> list[dict]:
    return [received.event for received in receiver.received]


def test_a_client_running_out_and_funded_again_is_told_as_blocked_then_unblocked(
    world, webhook_receiver, django_capture_on_commit_callbacks
):
    hub, client = world["hub"], world["client"]
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-100.50", "EUR"), key="usage")
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False), django_capture_on_commit_callbacks(execute=True):
        ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("50.00", "EUR"), key="more")

    assert [r.path for r in webhook_receiver.received] == ["/hooks/hub", "/hooks/hub"]  # never /hooks/hub/other
    assert all(r.signature_ok and r.answered == 200 for r in webhook_receiver.received)
    blocked, unblocked = events(webhook_receiver)
    common = {"client": {"id": client.pk, "name": "Acme GmbH"}, "hub": {"hub_id": hub.hub_id, "name": "Acme Main"},
              "blocks": "OUTBOUND_MESSAGING", "reason": "CREDIT_BALANCE_DEPLETED",
              "started_at": "2026-12-01T09:00:00Z"}  # fmt: skip
    assert blocked["type"] == "client.blocked" and blocked["created_at"] == "2026-12-01T09:00:00Z"
    assert blocked["data"] == {**common, "lifted_at": None}
    assert unblocked["type"] == "client.unblocked"
    assert unblocked["data"] == {**common, "lifted_at": "2026-12-01T11:00:00Z"}
    headers = webhook_receiver.received[0].headers
    assert (headers["Hub-Event"], headers["Hub-Delivery"]) == ("client.blocked", blocked["id"])
    assert headers["Content-Type"] == "application/json"
    delivery = WebhookDelivery.objects.get(event_id=blocked["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)
    assert not WebhookDelivery.objects.filter(endpoint=world["other"]).exists()


def test_a_balance_below_the_clients_alert_is_told_once(world, webhook_receiver, django_capture_on_commit_callbacks):
    hub = world["hub"]
    CreditAccount.objects.filter(hub=hub).update(low_balance_alert=Decimal("25.00"))
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(10):
            ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-8.00", "EUR"), key=f"u{n}")

    # 100.00 → 20.00: the 10th debit crosses 25.00; none reaches 0.00
    assert [(e["type"], e["data"]["balance"], e["data"]["threshold"], e["data"]["currency"])
            for e in events(webhook_receiver)] == [("client.balance_low", "20.00", "25.00", "EUR")]  # fmt: skip


def test_a_partners_own_plan_invoice_unpaid_is_told_but_a_client_invoice_never(
    world, webhook_receiver, django_capture_on_commit_callbacks
):
    partner, hub = world["partner"], world["hub"]
    plan = plan_invoice(partner)
    license_ = license_invoice(hub)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_unpaid(invoice=plan)
        invoice_mark_unpaid(invoice=license_)

    unpaid, blocked = events(webhook_receiver)
    assert unpaid["type"] == "invoice.unpaid"
    assert unpaid["data"] == {"invoice": {
        "number": plan.number, "kind": "PARTNER_PLAN", "status": "unpaid", "period_start": "2026-11-01",
        "period_end": "2026-12-01", "total": str(plan.total), "currency": "EUR",
        "issued_at": plan.issued_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "due_date": plan.due_date.isoformat() if plan.due_date else None,
    }}  # fmt: skip
    assert (blocked["type"], blocked["data"]["reason"]) == ("client.blocked", "LICENSE_UNPAID")
    raw = b"".join(r.body for r in webhook_receiver.received)
    assert license_.number.encode() not in raw and str(license_.total).encode() not in raw

    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=license_)
    assert events(webhook_receiver)[-1]["type"] == "client.unblocked"


def test_a_failing_endpoint_is_retried_with_back_off_then_delivered(world, webhook_receiver,
                                                                    django_capture_on_commit_callbacks):  # fmt: skip
    webhook_receiver.answers = [500, 503]
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_event_publish(endpoint=world["endpoint"], event_type="webhook.test", payload={"n": 1})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.PENDING, 1, 500, "HTTP 500")
    assert delivery.next_attempt_at == NOW + dt.timedelta(minutes=1)

    with time_machine.travel(NOW + dt.timedelta(seconds=30), tick=False):
        assert webhook_deliveries_due_task() == 0  # not due yet
    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        assert webhook_deliveries_due_task() == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 503)
    assert delivery.next_attempt_at == NOW + dt.timedelta(minutes=6)
    with time_machine.travel(NOW + dt.timedelta(minutes=6), tick=False):
        webhook_deliveries_due_task()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 3, 200)
    bodies = {r.body for r in webhook_receiver.received}
    assert len(webhook_receiver.received) == 3 and len(bodies) == 1  # the same body, re-signed each time


def test_an_endpoint_that_never_answers_2xx_is_given_up_after_24_hours(world, webhook_receiver,
                                                                      django_capture_on_commit_callbacks):  # fmt: skip
    webhook_receiver.answers = [500] * 100
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_event_publish(endpoint=world["endpoint"], event_type="webhook.test", payload={})
    moments = []
    for _ in range(50):
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            break
        moments.append(delivery.next_attempt_at)
        with time_machine.travel(delivery.next_attempt_at, tick=False):
            webhook_deliveries_due_task()

    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    pauses = [(b - a) for a, b in zip([NOW, *moments], moments, strict=False)]
    assert [p.total_seconds() / 60 for p in pauses[:6]] == [1, 5, 15, 60, 180, 360]
    assert moments[-1] <= NOW + dt.timedelta(hours=24)
    ours = [r for r in webhook_receiver.received if r.event["id"] == delivery.event_id]
    assert delivery.attempts == len(ours) == 1 + len(moments) == 9


def test_the_signature_is_the_documented_hmac_and_a_stale_one_is_refused():
    body = json.dumps({"id": "evt_1"})
    header = signature_header(secret="whsec_test", body=body, timestamp=1_795_000_000)

    assert header == "t=1795000000,v1=" + __import__("hmac").new(
        b"whsec_test", b"1795000000." + body.encode(), "sha256").hexdigest()  # fmt: skip
    assert signature_verify(secret="whsec_test", body=body, header=header, now=1_795_000_100)
    assert not signature_verify(secret="whsec_test", body=body, header=header, now=1_795_000_400)  # replayed later
    assert not signature_verify(secret="whsec_other", body=body, header=header, now=1_795_000_100)
    assert not signature_verify(secret="whsec_test", body=body + " ", header=header, now=1_795_000_100)


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://example.com/x", "Enter a valid URL, such as https://example.com/webhooks/hub."),
    ("http://example.com/hooks", "The URL must start with https://: events are only sent encrypted."),
    ("https://10.1.2.3/hooks", "The host 10.1.2.3 is not a public address; webhooks are sent over the internet only."),
    ("https://127.0.0.1:8443/hooks", None),  # loopback: allowed in tests only (the setting)
])  # fmt: skip
def test_endpoint_urls_must_be_https_to_a_public_address(url, message, settings):
    if message is None:
        assert endpoint_url_check(url) == url
        settings.OUTBOUND_WEBHOOKS_ALLOW_LOOPBACK_HTTP = False
        message = "The host 127.0.0.1 is not a public address; webhooks are sent over the internet only."
    with pytest.raises(WebhookUrlError) as refused:
        endpoint_url_check(url)
    assert str(refused.value) == message


def test_the_platform_endpoint_comes_from_settings(settings, webhook_receiver, django_capture_on_commit_callbacks):
    settings.OUTBOUND_WEBHOOKS = {"send-permission": {"url": webhook_receiver.url, "secret": "whsec_platform"}}
    webhook_receiver.secret = "whsec_platform"

    endpoint = platform_endpoint(name="send-permission")
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_publish(endpoint=endpoint, event_type="hub.send_permission", payload={"hub_id": "HUB-1"})

    assert platform_endpoint(name="send-permission").pk == endpoint.pk and endpoint.partner is None
    assert [(r.signature_ok, r.event["type"]) for r in webhook_receiver.received] == [(True, "hub.send_permission")]


# The Webhooks page -------------------------------------------------------------------------------------------------


def test_only_an_owner_reaches_the_webhooks_page(client):
    partner = PartnerFactory()
    partner_member(client, partner, "billing")
    assert client.get("/partner/webhooks/").status_code == 403
    assert client.post("/partner/webhooks/", {"url": "https://example.com/x"}).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_an_owner_registers_an_endpoint_sees_the_secret_once_and_sends_a_test_event(
    client, webhook_receiver, django_capture_on_commit_callbacks
):
    partner = PartnerFactory()
    partner_member(client, partner, "owner")

    response = client.post("/partner/webhooks/", {"url": webhook_receiver.url}, follow=True)
    endpoint = WebhookEndpoint.objects.get(partner=partner)
    assert f"<code data-secret>{endpoint.secret}</code>" in response.content.decode()
    assert endpoint.secret not in client.get("/partner/webhooks/").content.decode()  # shown once
    webhook_receiver.secret = endpoint.secret

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/partner/webhooks/{endpoint.pk}/test/")
    html = client.get("/partner/webhooks/").content.decode()

    (received,) = webhook_receiver.received
    assert received.signature_ok and received.event["type"] == "webhook.test"
    assert received.event["data"] == {"message": "A test event from the Partner Hub."}
    assert f'<tr data-delivery="{received.event["id"]}">' in html
    assert "<td data-answer>HTTP 200</td>" in html


def test_a_refused_url_is_explained_and_nothing_is_registered(client):
    partner_member(client, PartnerFactory(), "owner")

    response = client.post("/partner/webhooks/", {"url": "http://example.com/hooks"})

    assert response.status_code == 400
    assert "The URL must start with https://: events are only sent encrypted." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_another_partners_endpoint_is_404(client, webhook_receiver):
    theirs = webhook_endpoint_create(partner=PartnerFactory(), url=webhook_receiver.url)
    partner_member(client, PartnerFactory(), "owner")

    assert client.post(f"/partner/webhooks/{theirs.pk}/test/").status_code == 404
    assert client.post(f"/partner/webhooks/{theirs.pk}/remove/").status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_a_staff_lift_is_told_as_unblocked(world, webhook_receiver, django_capture_on_commit_callbacks):
    from billing.models import Restriction
    from billing.restrictions import restriction_lift

    hub = world["hub"]
    ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-100.00", "EUR"), key="all")
    blocked = Restriction.objects.get(hub=hub, lifted_at__isnull=True)
    staff = UserFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        restriction_lift(restriction=blocked, user_id=staff.pk, reason="Bank transfer on its way")

    (unblocked,) = events(webhook_receiver)
    assert (unblocked["type"], unblocked["data"]["reason"]) == ("client.unblocked", "CREDIT_BALANCE_DEPLETED")
    assert unblocked["data"]["lifted_at"] is not None
