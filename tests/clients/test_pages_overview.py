"""Client Hub overview: balance per hub, usage this month, active restrictions in words with what to do."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.invoicing.settlement import invoice_mark_unpaid
from billing.models import Restriction, RestrictionReason
from tests.billing.payments.conftest import license_invoice
from tests.clients.conftest import a_number, fund, member, partner_user, usage
from tests.factories import HubFactory, PartnerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 11, 15, 12, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_anonymous_is_sent_to_login(client):
    response = client.get("/client/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/client/"


def test_a_partner_user_is_refused(client):
    client.force_login(partner_user(PartnerFactory()))

    assert client.get("/client/").status_code == 403


@pytest.mark.parametrize("role", ["owner", "billing", "viewer"])
def test_balance_and_usage_this_month_per_hub(frozen, client, acme, role):
    main = acme.hubs.get()
    second = HubFactory(client=acme, name="Acme Promo")
    fund(second, "12.34")
    number = a_number(main)
    usage(number, cost="0.125000", sent_at=NOW - dt.timedelta(days=3), count=4)  # 0.50
    usage(number, cost="1.000000", category="utility", sent_at=NOW - dt.timedelta(hours=1))  # 1.00
    usage(number, cost="9.000000", sent_at=dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC))  # last month: not counted
    client.force_login(member(acme, role))

    response = client.get("/client/")

    assert response.status_code == 200
    hubs = response.context["hubs"]
    assert [(s.hub.name, s.account.balance, s.usage_this_month) for s in hubs] == [
        ("Acme Main", Decimal("100.00"), Decimal("1.50")), ("Acme Promo", Decimal("12.34"), Decimal("0")),
    ]  # fmt: skip
    html = response.content.decode()
    assert "€100.00" in html and "€1.50" in html and "€12.34" in html and main.hub_id in html
    assert "Add funds" in html if role != "viewer" else "Add funds" not in html
    assert 'role="alert"' not in html  # both hubs are funded: no restriction


def test_an_empty_balance_shows_the_paused_banner_with_a_link_to_funds(client, acme):
    hub = HubFactory(client=acme, name="Acme New")  # a new hub starts at 0.00, blocked
    client.force_login(member(acme, "owner"))

    response = client.get("/client/")

    html = response.content.decode()
    assert Restriction.objects.get(hub=hub, lifted_at=None).reason == RestrictionReason.CREDIT_BALANCE_DEPLETED
    assert "<strong>Acme New:</strong>" in html
    assert "Your credit balance is €0.00: outbound messages are paused." in html
    assert f'<a href="/client/funds/?hub={hub.hub_id}">Add funds to resume.</a>' in html
    assert html.count('role="alert"') == 1


def test_an_unpaid_license_shows_the_paused_banner_with_a_link_to_pay(client, acme, other_client):
    invoice = invoice_mark_unpaid(invoice=license_invoice(acme.hubs.get()))
    license_invoice_of_other = invoice_mark_unpaid(invoice=license_invoice(other_client.hubs.get()))
    client.force_login(member(acme, "billing"))

    html = client.get("/client/").content.decode()

    assert f"Your license invoice {invoice.number} is unpaid: outbound messages are paused." in html
    assert f'<a href="/client/invoices/{invoice.number}/pay/">Pay it to resume.</a>' in html
    assert license_invoice_of_other.number not in html
    assert "Your credit balance" not in html  # only the other client's new hub sits at 0.00


def test_the_banner_goes_once_funds_arrive(client, acme):
    hub = HubFactory(client=acme, name="Acme New")
    client.force_login(member(acme, "owner"))
    assert "outbound messages are paused" in client.get("/client/").content.decode()

    fund(hub, "20.00")

    assert "outbound messages are paused" not in client.get("/client/").content.decode()


def test_the_overview_takes_a_fixed_number_of_queries(client, acme, django_assert_max_num_queries):
    client.force_login(member(acme, "owner"))
    with django_assert_max_num_queries(12):
        client.get("/client/")
    for n in range(5):
        HubFactory(client=acme, name=f"Extra {n}")  # each blocked at 0.00
    with django_assert_max_num_queries(12):
        response = client.get("/client/")
    assert response.content.decode().count('role="alert"') == 5


def test_the_banner_partial_serves_a_partners_own_plan_block():
    from django.template.loader import render_to_string

    from billing.selectors.clients import restriction_notices
    from tests.billing.payments.conftest import plan_invoice

    partner = PartnerFactory()
    invoice = invoice_mark_unpaid(invoice=plan_invoice(partner))

    html = render_to_string("portal/_restrictions.html", {"notices": restriction_notices(partner=partner)})

    assert f"Your Partner Plan invoice {invoice.number} is unpaid: onboarding new clients is paused." in html
    assert f'<a href="/partner/invoices/{invoice.number}/pay/">Pay it to resume.</a>' in html


def test_the_banner_partial_words_a_clients_block_for_its_partner(acme):
    from django.template.loader import render_to_string

    from billing.selectors.clients import restriction_notices

    hub = HubFactory(client=acme, name="Acme New")

    notices = restriction_notices(hub_ids=[hub.id], links="")
    html = render_to_string("portal/_restrictions.html", {"notices": notices})

    assert "Credit balance €0.00: outbound messages are paused until funds are added." in html
    assert "Your" not in html and "<a " not in html
