"""Client Hub funds: balance, add funds by card (localstripe), auto-renewal and monthly prepayment, the ledger,
charts and usage this month. Viewers look only; another client's hub is 404."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import CreditAccount, Invoice, InvoiceKind, InvoiceStatus, LedgerEntry, PaymentAttempt
from tests.billing.payments.conftest import THREE_D_SECURE, VISA, save_card
from tests.clients.conftest import a_number, fund, member, partner_user, usage
from tests.factories import HubFactory, PartnerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 11, 15, 12, tzinfo=dt.UTC)


def account_of(client_) -> CreditAccount:
    return CreditAccount.objects.get(hub__client=client_, hub__name="Acme Main")


def settings_of(account: CreditAccount) -> tuple:
    account.refresh_from_db()
    return account.auto_renew, account.auto_renew_threshold, account.auto_renew_amount, account.monthly_prepayment


def test_anonymous_and_partner_users_are_kept_out(client):
    assert client.get("/client/funds/")["Location"] == "/login/?next=/client/funds/"
    client.force_login(partner_user(PartnerFactory()))
    assert client.get("/client/funds/").status_code == 403
    assert client.post("/client/funds/add/", {"amount": "50.00"}).status_code == 403


@pytest.mark.parametrize("role", ["owner", "billing"])
def test_managers_see_the_balance_and_the_forms(client, acme, role):
    client.force_login(member(acme, role))

    response = client.get("/client/funds/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<div class="value" data-balance>€100.00</div>' in html
    assert 'action="/client/funds/add/"' in html
    assert 'action="/client/funds/auto-renewal/"' in html
    assert 'action="/client/funds/monthly-prepayment/"' in html
    assert 'name="request_key"' in html
    assert "No card is saved to charge." in html and 'href="/client/payment-methods/"' in html  # no card yet


def test_each_form_render_has_a_fresh_request_key(client, acme):
    client.force_login(member(acme, "owner"))

    keys = {client.get("/client/funds/").context["add_form"]["request_key"].value() for _ in range(2)}

    assert len(keys) == 2


def test_a_viewer_sees_the_settings_but_no_forms_and_may_not_post(client, acme):
    account = account_of(acme)
    before = settings_of(account)
    client.force_login(member(acme, "viewer"))

    html = client.get("/client/funds/").content.decode()

    assert "€100.00" in html
    assert "On: tops up €50.00 when the balance falls below €10.00." in html
    assert "<form method=\"post\" action=\"/client/funds" not in html
    hub = account.hub.hub_id
    posts = {
        "/client/funds/add/": {"amount": "50.00", "request_key": uuid.uuid4(), "hub": hub},
        "/client/funds/auto-renewal/": {"auto_renew_threshold": "5.00", "auto_renew_amount": "20.00", "hub": hub},
        "/client/funds/monthly-prepayment/": {"monthly_prepayment": "100.00", "hub": hub},
    }
    assert [client.post(url, data).status_code for url, data in posts.items()] == [403, 403, 403]
    assert settings_of(account) == before
    assert not Invoice.objects.exists()


def test_another_clients_hub_is_not_found(client, acme, other_client):
    theirs = other_client.hubs.get()
    client.force_login(member(acme, "owner"))

    assert client.get(f"/client/funds/?hub={theirs.hub_id}").status_code == 404
    data = {"auto_renew": "on", "auto_renew_threshold": "5.00", "auto_renew_amount": "20.00", "hub": theirs.hub_id}
    response = client.post("/client/funds/auto-renewal/", data)
    assert response.status_code == 404
    assert settings_of(theirs.credit_account)[:3] == (True, Decimal("10.00"), Decimal("50.00"))


def test_funds_takes_the_hub_by_its_public_id(client, acme):
    second = HubFactory(client=acme, name="Acme Promo")
    fund(second, "7.00")
    client.force_login(member(acme, "owner"))

    first = client.get("/client/funds/")
    chosen = client.get(f"/client/funds/?hub={second.hub_id}")

    assert first.context["hub"].name == "Acme Main"
    assert chosen.context["hub"] == second
    assert '<div class="value" data-balance>€7.00</div>' in chosen.content.decode()
    assert f'href="/client/funds/?hub={second.hub_id}" aria-current="page">Acme Promo</a>' in chosen.content.decode()


def test_auto_renewal_is_saved(client, acme):
    account = account_of(acme)
    client.force_login(member(acme, "billing"))

    response = client.post("/client/funds/auto-renewal/", {
        "auto_renew_threshold": "25.00", "auto_renew_amount": "75.50", "hub": account.hub.hub_id})  # fmt: skip

    assert response.status_code == 302 and response["Location"] == f"/client/funds/?hub={account.hub.hub_id}"
    assert settings_of(account) == (False, Decimal("25.00"), Decimal("75.50"), None)
    assert "Auto-renewal saved." in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"auto_renew_threshold": "-1.00", "auto_renew_amount": "50.00"},
         "Ensure this value is greater than or equal to 0.00."),
        ({"auto_renew_threshold": "10.00", "auto_renew_amount": "5.00"},
         "Ensure this value is greater than or equal to 10.00."),
        ({"auto_renew_threshold": "10.00", "auto_renew_amount": "20000.00"},
         "Ensure this value is less than or equal to 10000.00."),
        ({"auto_renew_threshold": "10.001", "auto_renew_amount": "50.00"},
         "Ensure that there are no more than 2 decimal places."),
    ],
)  # fmt: skip
def test_invalid_auto_renewal_shows_the_error_and_changes_nothing(client, acme, data, error):
    account = account_of(acme)
    before = settings_of(account)
    client.force_login(member(acme, "owner"))

    response = client.post("/client/funds/auto-renewal/", {**data, "auto_renew": "on", "hub": account.hub.hub_id})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert settings_of(account) == before


def test_monthly_prepayment_is_set_and_turned_off(client, acme):
    account = account_of(acme)
    hub = account.hub.hub_id
    client.force_login(member(acme, "owner"))

    client.post("/client/funds/monthly-prepayment/", {"monthly_prepayment": "150.00", "hub": hub})
    assert settings_of(account)[3] == Decimal("150.00")

    response = client.post("/client/funds/monthly-prepayment/", {"monthly_prepayment": "0", "hub": hub}, follow=True)
    assert settings_of(account)[3] is None
    assert "Monthly prepayment turned off." in response.content.decode()


def test_a_monthly_prepayment_below_the_minimum_is_refused(client, acme):
    account = account_of(acme)
    client.force_login(member(acme, "owner"))

    response = client.post("/client/funds/monthly-prepayment/", {"monthly_prepayment": "5.00",
                                                                  "hub": account.hub.hub_id})  # fmt: skip

    assert response.status_code == 400
    assert "Enter 0 to turn it off, or at least 10.00." in response.content.decode()
    assert settings_of(account)[3] is None


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("5.00", "Ensure this value is greater than or equal to 10.00."),
        ("10000.01", "Ensure this value is less than or equal to 10000.00."),
        ("12.345", "Ensure that there are no more than 2 decimal places."),
        ("-20", "Ensure this value is greater than or equal to 10.00."),
        ("", "This field is required."),
    ],
)
def test_invalid_add_funds_shows_the_error_and_charges_nothing(client, acme, amount, error):
    client.force_login(member(acme, "owner"))

    response = client.post("/client/funds/add/", {"amount": amount, "request_key": uuid.uuid4(),
                                                  "hub": account_of(acme).hub.hub_id})  # fmt: skip

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Invoice.objects.exists()


def test_add_funds_without_a_card_explains_and_issues_nothing(client, acme):
    client.force_login(member(acme, "owner"))

    response = client.post("/client/funds/add/", {"amount": "50.00", "request_key": uuid.uuid4(),
                                                  "hub": account_of(acme).hub.hub_id}, follow=True)  # fmt: skip

    assert "No card is saved to charge: add a card under Payment methods, then add funds." in response.content.decode()
    assert not Invoice.objects.exists()


def test_the_ledger_lists_entries_newest_first_with_the_running_balance(client, acme):
    hub = acme.hubs.get()
    fund(hub, "25.50", key="second-funds")
    client.force_login(member(acme, "viewer"))

    response = client.get("/client/funds/")

    entries = list(response.context["ledger"].object_list)
    assert [(e.kind, e.amount, e.balance_after, e.reference) for e in entries] == [
        ("FUNDS_ADDED", Decimal("25.50"), Decimal("125.50"), ""),
        ("FUNDS_ADDED", Decimal("100.00"), Decimal("100.00"), ""),
    ]
    html = response.content.decode()
    assert '<td>Funds added</td><td></td><td class="num">€25.50</td><td class="num">€125.50</td>' in html


def test_the_ledger_paginates_with_a_fixed_number_of_queries(client, acme):
    hub = acme.hubs.get()
    client.force_login(member(acme, "owner"))

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries("/client/funds/")
    for n in range(40):
        fund(hub, "1.00", key=f"many:{n}")
    many = queries("/client/funds/")
    second_page = client.get("/client/funds/?page=2")

    assert few == many <= 22  # the budget includes the forecast's 3 queries and the chart's opening balance
    assert len(second_page.context["ledger"].object_list) == 16
    assert "Page 2 of 2 (41 in all)" in second_page.content.decode()


def test_usage_this_month_by_waba_number_category_and_market_and_the_charts(client, acme):
    hub = acme.hubs.get()
    number = a_number(hub)
    with time_machine.travel(NOW, tick=False):
        usage(number, cost="0.100000", sent_at=NOW - dt.timedelta(days=2), count=3)
        usage(number, cost="0.050000", category="utility", market="FR", sent_at=NOW - dt.timedelta(days=1))
        usage(number, cost="0.000000", category="service", sent_at=NOW, billable=False)
        usage(number, cost="5.000000", sent_at=dt.datetime(2026, 10, 20, tzinfo=dt.UTC))  # last month
        client.force_login(member(acme, "owner"))

        response = client.get("/client/funds/")

    rows = [(r["waba__name"], r["phone_number__e164"], r["category"], r["market"], r["messages"], r["billable"],
             r["cost"]) for r in response.context["breakdown"]]  # fmt: skip
    waba, e164 = number.waba.name, number.e164
    assert rows == [
        (waba, e164, "marketing", "DE", 3, 3, Decimal("0.300000")),
        (waba, e164, "service", "DE", 1, 0, Decimal("0.000000")),
        (waba, e164, "utility", "FR", 1, 1, Decimal("0.050000")),
    ]
    html = response.content.decode()
    assert '<td>Marketing</td><td>DE</td><td class="num">3</td><td class="num">3</td><td class="num">€0.30</td>' in html
    assert response.context["usage_this_month"] == Decimal("0.350000")
    balance = response.context["balance_chart"]
    assert len(balance.points.split()) == 16  # the opening balance, then the end of 1–15 November
    assert len(balance.dots) == 15
    usage_chart = response.context["usage_chart"]
    assert [(b["day"].day, b["category"], b["cost"]) for b in usage_chart.bars] == [
        (13, "marketing", Decimal("0.300000")), (14, "utility", Decimal("0.050000")),
    ]  # fmt: skip
    assert html.count('<svg class="chart"') == 2
    assert "<script" not in html


def test_the_balance_chart_follows_the_ledger(acme):
    from billing.selectors.clients import daily_balances

    hub = acme.hubs.get()
    account = hub.credit_account
    with time_machine.travel(dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC), tick=False):
        fund(hub, "10.00", key="nov-3")
    with time_machine.travel(dt.datetime(2026, 11, 5, 9, tzinfo=dt.UTC), tick=False):
        series = daily_balances(account=account, month=dt.date(2026, 11, 1))

    # The opening 100.00 was posted "now" (in the real present), after November: it is not in this past series.
    assert LedgerEntry.objects.filter(account=account).count() == 2
    assert [(day.day, balance) for day, balance in series][:3] == [(1, 0), (2, 0), (3, Decimal("110.000000"))]


# Adding funds by card, against localstripe ---------------------------------------------------------------------------


def test_adding_funds_charges_the_card_raises_the_balance_and_lifts_the_block(localstripe, client, acme):
    hub = HubFactory(client=acme, name="Acme New")  # 0.00: outbound messages paused
    save_card(localstripe, acme, VISA)
    client.force_login(member(acme, "billing"))
    page = client.get(f"/client/funds/?hub={hub.hub_id}")
    assert "Your credit balance is €0.00: outbound messages are paused." in page.content.decode()
    key = page.context["add_form"]["request_key"].value()

    form = {"amount": "50.00", "request_key": key, "hub": hub.hub_id}
    response = client.post("/client/funds/add/", form, follow=True)

    html = response.content.decode()
    invoice = Invoice.objects.get(hub=hub, kind=InvoiceKind.PREPAYMENT)
    assert invoice.status == InvoiceStatus.PAID
    assert f"€50.00 added to your credit balance (invoice {invoice.number}, paid)." in html
    assert '<div class="value" data-balance>€50.00</div>' in html
    assert "outbound messages are paused" not in html
    assert "outbound messages are paused" not in client.get("/client/").content.decode()

    again = client.post("/client/funds/add/", form, follow=True)  # a double submit

    assert Invoice.objects.filter(hub=hub, kind=InvoiceKind.PREPAYMENT).count() == 1
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
    assert len(localstripe.charges(acme.stripe_customer.stripe_customer_id)) == 1
    hub.credit_account.refresh_from_db()
    assert hub.credit_account.balance == Decimal("50.00")
    assert f"added to your credit balance (invoice {invoice.number}, paid)." in again.content.decode()
    detail = client.get(f"/client/invoices/{invoice.number}/").content.decode()
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert attempt.method_label.endswith("•••• 4242")
    assert f"<td>{attempt.method_label}</td><td>{attempt.get_status_display()}</td>" in detail


def test_a_card_asking_for_3d_secure_goes_to_the_pay_page(localstripe, client, acme):
    save_card(localstripe, acme, THREE_D_SECURE)
    client.force_login(member(acme, "owner"))

    response = client.post("/client/funds/add/", {"amount": "20.00", "request_key": uuid.uuid4(),
                                                  "hub": acme.hubs.get().hub_id})  # fmt: skip

    invoice = Invoice.objects.get(kind=InvoiceKind.PREPAYMENT)
    assert response.status_code == 302
    assert response["Location"] == f"/client/invoices/{invoice.number}/pay/"
    assert invoice.status == InvoiceStatus.PENDING
    assert account_of(acme).balance == Decimal("100.00")


def test_turning_auto_renewal_on_below_the_threshold_queues_the_top_up(
    client, acme, django_capture_on_commit_callbacks
):
    hub = HubFactory(client=acme, name="Acme Low")
    account = hub.credit_account
    CreditAccount.objects.filter(pk=account.pk).update(auto_renew=False)
    fund(hub, "5.00")
    client.force_login(member(acme, "owner"))
    data = {"auto_renew_threshold": "10.00", "auto_renew_amount": "50.00", "hub": hub.hub_id}

    with django_capture_on_commit_callbacks() as kept_off:
        client.post("/client/funds/auto-renewal/", data)
    with django_capture_on_commit_callbacks() as turned_on:
        client.post("/client/funds/auto-renewal/", {**data, "auto_renew": "on"})

    assert settings_of(account)[:3] == (True, Decimal("10.00"), Decimal("50.00"))
    assert (len(kept_off), len(turned_on)) == (0, 1)


def test_add_funds_re_sent_with_a_changed_amount_is_refused_and_says_what_was_charged(localstripe, client, acme):
    save_card(localstripe, acme, VISA)
    client.force_login(member(acme, "owner"))
    hub = acme.hubs.get()
    form = {"amount": "10.00", "request_key": uuid.uuid4(), "hub": hub.hub_id}
    first = client.post("/client/funds/add/", form, follow=True)
    invoice = Invoice.objects.get(hub=hub, kind=InvoiceKind.PREPAYMENT)

    changed = client.post("/client/funds/add/", {**form, "amount": "50.00"}, follow=True)
    again = client.post("/client/funds/add/", form, follow=True)

    assert f"€10.00 added to your credit balance (invoice {invoice.number}, paid)." in first.content.decode()
    assert (
        f"This form was already sent to add €10.00 (invoice {invoice.number}); nothing more was charged. To add "
        "another amount, enter it in this new form."
    ) in changed.content.decode()
    assert changed.context["add_form"]["request_key"].value() != form["request_key"]  # a fresh form to send
    assert f"€10.00 added to your credit balance (invoice {invoice.number}, paid)." in again.content.decode()
    assert Invoice.objects.filter(hub=hub, kind=InvoiceKind.PREPAYMENT).count() == 1
    assert len(localstripe.charges(acme.stripe_customer.stripe_customer_id)) == 1
    assert account_of(acme).balance == Decimal("110.00")


def test_add_funds_while_stripe_is_down_says_so_and_the_same_form_then_charges_once(localstripe, client, acme):
    save_card(localstripe, acme, VISA)
    client.force_login(member(acme, "billing"))
    hub = acme.hubs.get()
    form = {"amount": "50.00", "request_key": uuid.uuid4(), "hub": hub.hub_id}
    localstripe.stop()

    down = client.post("/client/funds/add/", form)

    invoice = Invoice.objects.get(hub=hub, kind=InvoiceKind.PREPAYMENT)
    (attempt,) = PaymentAttempt.objects.filter(invoice=invoice)
    assert down.status_code == 503
    assert (
        f"Stripe cannot be reached just now, so invoice {invoice.number} (€50.00) is not charged yet. It is charged "
        "to your card automatically once Stripe answers again, or send this form again: it is never charged twice."
    ) in down.content.decode()
    assert down.context["add_form"]["request_key"].value() == str(form["request_key"])  # sending it again is a retry
    assert (invoice.status, attempt.status, attempt.failure_code) == (InvoiceStatus.PENDING, "failed",
                                                                      "stripe_unavailable")  # fmt: skip
    localstripe.start()

    again = client.post("/client/funds/add/", form, follow=True)

    invoice.refresh_from_db()
    assert f"€50.00 added to your credit balance (invoice {invoice.number}, paid)." in again.content.decode()
    assert invoice.status == InvoiceStatus.PAID
    assert [a.status for a in PaymentAttempt.objects.filter(invoice=invoice).order_by("id")] == ["failed", "succeeded"]
    assert len(localstripe.charges(acme.stripe_customer.stripe_customer_id)) == 1
    assert account_of(acme).balance == Decimal("150.00")


def test_stripe_lost_between_creating_and_confirming_the_charge_is_settled_by_the_next_try(
    localstripe, client, acme, monkeypatch
):
    from billing import stripe_api

    save_card(localstripe, acme, VISA)
    client.force_login(member(acme, "owner"))
    hub = acme.hubs.get()
    form = {"amount": "20.00", "request_key": uuid.uuid4(), "hub": hub.hub_id}
    confirm = stripe_api.intent_confirm

    def outage_before_confirming(**kwargs):  # the intent exists at Stripe; then Stripe goes away
        localstripe.stop()
        return confirm(**kwargs)

    monkeypatch.setattr(stripe_api, "intent_confirm", outage_before_confirming)
    down = client.post("/client/funds/add/", form)
    monkeypatch.setattr(stripe_api, "intent_confirm", confirm)
    (stuck,) = PaymentAttempt.objects.filter(invoice__hub=hub)
    assert down.status_code == 503
    assert (stuck.status, bool(stuck.stripe_payment_intent_id)) == ("created", True)  # its outcome is unknown here
    localstripe.start()

    again = client.post("/client/funds/add/", form, follow=True)

    stuck.refresh_from_db()
    invoice = stuck.invoice
    invoice.refresh_from_db()
    assert f"€20.00 added to your credit balance (invoice {invoice.number}, paid)." in again.content.decode()
    assert (stuck.status, stuck.failure_code) == ("failed", "interrupted")  # Stripe held it unconfirmed: canceled
    assert len(localstripe.charges(acme.stripe_customer.stripe_customer_id)) == 1
    assert account_of(acme).balance == Decimal("120.00")


def test_the_ledgers_stored_english_references_are_shown_in_the_readers_language(client, acme):
    """The ledger keeps "317 messages" as written; a German reader sees it in German, an English one as stored."""
    from djmoney.money import Money

    from billing.ledger import ledger_post
    from billing.models import EntryKind

    hub = acme.hubs.get()
    account = hub.credit_account
    ledger_post(account=account, kind=EntryKind.USAGE, amount=Money("-3.17", "EUR"), key="u1",
                reference="1317 messages")  # fmt: skip
    ledger_post(account=account, kind=EntryKind.USAGE, amount=Money("-0.01", "EUR"), key="u2", reference="1 messages")
    ledger_post(account=account, kind=EntryKind.ROUNDING, amount=Money("-0.004", "EUR"), key="r1",
                reference="Usage rounded to the cent, November 2026")  # fmt: skip
    client.force_login(member(acme, "viewer"))

    german = client.get("/client/funds/", headers={"accept-language": "de"}).content.decode()
    english = client.get("/client/funds/", headers={"accept-language": "en"}).content.decode()

    assert "<td>1.317 Nachrichten</td>" in german
    assert "<td>1 Nachricht</td>" in german
    assert "<td>Nutzung auf den Cent gerundet, November 2026</td>" in german
    assert "<td>1,317 messages</td>" in english
    assert "<td>1 message</td>" in english
    assert "<td>Usage rounded to the cent, November 2026</td>" in english
    assert set(LedgerEntry.objects.filter(account=account).values_list("reference", flat=True)) >= {
        "1317 messages", "1 messages", "Usage rounded to the cent, November 2026"}  # fmt: skip
