"""See it coming: a client whose credit runs out at its last 7 days' rate reads the forecast and sets a balance
alert; its partner sees it under Clients at risk, registers a webhook (a real HTTP server on loopback that checks
every signature), sends a test event, and is told when the client's messaging is paused; the client gets the
run-out email over SMTP (aiosmtpd on loopback)."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from djmoney.money import Money
from playwright.sync_api import expect

from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind
from hub.models import Hub
from tests.browser.conftest import member_of, sign_in
from tests.clients.conftest import a_number, usage
from tests.factories import ClientFactory, HubFactory, PartnerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
TODAY = dt.datetime(2026, 12, 1, 10, tzinfo=BERLIN)
FORECAST = (
    "At the last 7 days' rate your credit lasts until 3 Dec 2026; auto-renewal is off, so add funds before then to "
    "keep sending."
)


def acme_running_out(partner):
    """20.00 of credit, 8.00 of usage a day over 24–30 November (Berlin), auto-renewal off."""
    client = ClientFactory(partner=partner, company_name="Acme GmbH", billing_email="finance@acme.example")
    hub = HubFactory(client=client, name="Acme Main")
    Hub.objects.filter(pk=hub.pk).update(created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    number = a_number(hub)
    number.waba.timezone = "Europe/Berlin"
    number.waba.save()
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("20.00", "EUR"), key="funds",
                occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # fmt: skip
    CreditAccount.objects.filter(hub=hub).update(auto_renew=False)
    for day in range(24, 31):
        usage(number, cost="8.000000", sent_at=dt.datetime(2026, 11, day, 12, tzinfo=BERLIN))
    return client, hub


def test_a_client_runs_out_and_its_partner_sees_it_coming_and_hears_of_it(
    page, browser, live_server, shots, webhook_receiver, smtp
):
    partner = PartnerFactory(name="Vermittler")
    client, hub = acme_running_out(partner)
    member_of(client, "owner@acme")
    member_of(partner, "owner@vermittler")

    with time_machine.travel(TODAY, tick=True):
        # The client reads the forecast and asks for an email below 15.00.
        sign_in(page, "owner@acme")
        expect(page.locator(f"[data-forecast-of='{hub.hub_id}'] .forecast")).to_contain_text(FORECAST)
        shots(page, "client-overview-forecast")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Funds").click()
        expect(page.locator("#forecast .forecast")).to_contain_text(FORECAST)
        page.get_by_label("Email me when the balance falls below").fill("15.00")
        page.get_by_role("button", name="Save balance alerts").click()
        expect(page.locator(".message.success")).to_have_text("Balance alerts saved.")
        shots(page, "client-funds-alert-set")

        # Its partner sees the client at risk, and registers its webhook receiver.
        partner_page = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}).new_page()
        sign_in(partner_page, "owner@vermittler")
        at_risk = partner_page.locator(f"#at-risk tr[data-client='{client.pk}']")
        expect(at_risk).to_contain_text("Acme GmbH")
        expect(at_risk.locator("[data-reason='runs_out']")).to_have_text(
            "credit runs out on 3 Dec 2026 at the last 7 days' rate"
        )
        shots(partner_page, "partner-clients-at-risk")
        partner_page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        partner_page.get_by_label("Endpoint URL").fill(webhook_receiver.url)
        partner_page.get_by_role("button", name="Add endpoint").click()
        webhook_receiver.secret = partner_page.locator("[data-secret]").inner_text()
        assert webhook_receiver.secret.startswith("whsec_")
        shots(partner_page, "partner-webhook-secret-shown-once")
        partner_page.get_by_role("button", name="Send test event").click()
        expect(partner_page.locator("tr[data-delivery] [data-answer]").first).to_have_text("HTTP 200")
        shots(partner_page, "partner-webhook-test-delivered")

        # The day's usage uses the credit up: messaging pauses.
        ledger_post(account=hub.credit_account, kind=EntryKind.USAGE, amount=Money("-20.40", "EUR"), key="usage")

        partner_page.reload()
        log = partner_page.locator("tr[data-delivery]")
        expect(log).to_have_count(3)
        expect(log.filter(has_text="client.blocked").locator("[data-answer]")).to_have_text("HTTP 200")
        shots(partner_page, "partner-webhook-log")
        page.goto("/client/")
        expect(page.locator("[data-reason='CREDIT_BALANCE_DEPLETED']")).to_contain_text(
            "Your credit balance is -€0.40: outbound messages are paused."
        )
        shots(page, "client-paused")

    received = [(r.event["type"], r.signature_ok, r.answered) for r in webhook_receiver.received]
    assert sorted(received) == [("client.balance_low", True, 200), ("client.blocked", True, 200),
                                ("webhook.test", True, 200)]  # fmt: skip
    blocked = next(r.event for r in webhook_receiver.received if r.event["type"] == "client.blocked")
    assert blocked["data"]["hub"] == {"hub_id": hub.hub_id, "name": "Acme Main"}
    assert blocked["data"]["reason"] == "CREDIT_BALANCE_DEPLETED"
    assert [(to, subject) for to, subject, _body in smtp.texts()] == [
        ("finance@acme.example", "Credit used up: outbound messages of Acme Main are paused")
    ]
