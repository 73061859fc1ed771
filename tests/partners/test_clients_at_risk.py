"""Clients at risk: on the Partner Hub's overview and in the weekly digest (over SMTP to aiosmtpd), with the
opt-out per partner user. A partner reads states, never a client invoice's number or amount."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from djmoney.money import Money

from billing.invoicing.settlement import invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import CreditAccount, EntryKind, PaymentMethod, PaymentMethodKind
from billing.partner_risk import clients_at_risk, risk_digests_send
from billing.tasks import partner_risk_digest_task
from hub.models import Hub
from partners.models import PartnerMembership
from tests.billing.payments.conftest import license_invoice
from tests.clients.conftest import usage
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, UserFactory, WabaFactory
from tests.portal.conftest import partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TODAY = dt.datetime(2026, 12, 7, 8, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))  # a Monday


def client_with_credit(partner, name: str, balance: str, per_day: str | None = None, auto_renew: bool = False):
    client = ClientFactory(partner=partner, company_name=name)
    hub = HubFactory(client=client, name=f"{name} hub")
    Hub.objects.filter(pk=hub.pk).update(created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    number = PhoneNumberFactory(waba=WabaFactory(hub=hub, timezone="Europe/Berlin"))
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money(balance, "EUR"),
                key=f"funds:{hub.pk}", occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # fmt: skip
    CreditAccount.objects.filter(hub=hub).update(auto_renew=auto_renew)
    if per_day:
        for day in range(30, 37):  # 30 Nov – 6 Dec, noon Berlin
            sent = dt.datetime(2026, 11, 30, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")) + dt.timedelta(day - 30)
            usage(number, cost=per_day, sent_at=sent)
    return client, hub


@pytest.fixture
def partner_world():
    partner = PartnerFactory(name="Vermittler")
    runs_out, _ = client_with_credit(partner, "Acme GmbH", "25.00", per_day="10.000000")  # lasts until 9 Dec
    client_with_credit(partner, "Renewing AG", "25.00", per_day="10.000000", auto_renew=True)  # renews: not at risk
    PaymentMethod.objects.create(client=Client_of(partner, "Renewing AG"), kind=PaymentMethodKind.CARD, brand="visa",
                                 last4="4242", exp_month=12, exp_year=2030)  # fmt: skip
    unpaid, unpaid_hub = client_with_credit(partner, "Beta SA", "500.00")
    expiring, _ = client_with_credit(partner, "Gamma Ltd", "500.00")
    PaymentMethod.objects.create(client=expiring, kind=PaymentMethodKind.CARD, brand="visa", last4="1111",
                                 exp_month=12, exp_year=2026)  # fmt: skip
    client_with_credit(partner, "Calm GmbH", "500.00", per_day="1.000000")
    other = PartnerFactory(name="Andere")
    client_with_credit(other, "Not Yours GmbH", "1.00", per_day="10.000000")
    return {"partner": partner, "runs_out": runs_out, "unpaid_hub": unpaid_hub, "expiring": expiring}


def Client_of(partner, name):  # noqa: N802 -- reads like the model lookup it is
    return partner.clients.get(company_name=name)


def at_risk_now(partner) -> list[tuple[str, list[tuple[str, str]]]]:
    with time_machine.travel(TODAY, tick=False):
        rows = clients_at_risk(partner=partner)
    return [(row.client.company_name, [(r.code, r.text) for r in row.reasons]) for row in rows]


def test_clients_at_risk_and_why(partner_world):
    invoice = license_invoice(partner_world["unpaid_hub"])
    invoice_mark_unpaid(invoice=invoice)  # blocks Beta SA's hub too

    assert at_risk_now(partner_world["partner"]) == [
        ("Acme GmbH", [("runs_out", "credit runs out on 9 Dec 2026 at the last 7 days' rate")]),
        ("Beta SA", [("blocked", "outbound messaging paused (license invoice not paid upon receipt)"),
                     ("license_unpaid", "license invoice unpaid")]),
        ("Gamma Ltd", [("card_expiring", "card on file expires on 31 Dec 2026")]),
    ]  # fmt: skip


def test_the_overview_lists_them_in_a_fixed_number_of_queries(client, partner_world, django_assert_max_num_queries):
    partner_member(client, partner_world["partner"], "viewer")
    with time_machine.travel(TODAY, tick=False):
        client.get("/partner/")  # warm the session
        with django_assert_max_num_queries(25):
            response = client.get("/partner/")

    html = response.content.decode()
    section = html.split('id="at-risk"')[1].split("</section>")[0]
    assert f'<tr data-client="{partner_world["runs_out"].pk}">' in section
    assert '<li data-reason="runs_out">credit runs out on 9 Dec 2026 at the last 7 days&#x27; rate</li>' in section
    assert "Renewing AG" not in section and "Calm GmbH" not in section and "Not Yours GmbH" not in section


def test_the_weekly_digest_goes_to_each_partner_user_who_wants_it(partner_world, smtp):
    partner = partner_world["partner"]
    anna = UserFactory(email="anna@vermittler.example", first_name="Anna", last_name="Berg")
    PartnerMembership.objects.create(user=anna, partner=partner, role="owner")
    quiet = UserFactory(email="quiet@vermittler.example")
    PartnerMembership.objects.create(user=quiet, partner=partner, role="viewer", risk_digest=False)

    with time_machine.travel(TODAY, tick=False):
        assert partner_risk_digest_task() == 1

    assert smtp.texts() == [(
        "anna@vermittler.example",
        "Clients at risk this week: 2 of Vermittler",
        "Hello Anna Berg,\n\nthese clients of Vermittler may have their service paused soon:\n\n"
        "- Acme GmbH: credit runs out on 9 Dec 2026 at the last 7 days' rate\n"
        "- Gamma Ltd: card on file expires on 31 Dec 2026\n\n"
        "See them under Clients at risk on the overview of the Partner Hub. To stop this weekly email, turn it off "
        "there.\n\nHub Portal GmbH\n",
    )]  # fmt: skip


def test_a_partner_user_turns_the_digest_off_for_themselves_only(client, partner_world, smtp):
    partner = partner_world["partner"]
    colleague = UserFactory(email="colleague@vermittler.example")
    PartnerMembership.objects.create(user=colleague, partner=partner, role="owner")
    me = partner_member(client, partner, "viewer")
    me.email = "me@vermittler.example"
    me.save()

    response = client.post("/partner/risk-digest/", {}, follow=True)  # the box unticked

    assert "The weekly clients-at-risk email is off." in response.content.decode()
    with time_machine.travel(TODAY, tick=False):
        risk_digests_send()
    assert [to for to, _subject, _body in smtp.texts()] == ["colleague@vermittler.example"]
    client.post("/partner/risk-digest/", {"risk_digest": "on"})
    assert PartnerMembership.objects.get(user=me).risk_digest is True


def test_a_german_partners_digest_is_in_german(partner_world, smtp):
    """The digest, reasons included, in the partner's invoice language."""
    partner = partner_world["partner"]
    partner.invoice_language = "de"
    partner.save()
    anna = UserFactory(email="anna@vermittler.example", first_name="Anna", last_name="Berg")
    PartnerMembership.objects.create(user=anna, partner=partner, role="owner")

    with time_machine.travel(TODAY, tick=False):
        assert risk_digests_send() == 1

    [(to, subject, body)] = smtp.texts()
    assert to == "anna@vermittler.example"
    assert subject == "Gefährdete Kunden diese Woche: 2 von Vermittler"
    assert "- Gamma Ltd: hinterlegte Karte läuft am 31. Dezember 2026 ab\n" in body
