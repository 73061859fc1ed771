import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid, invoice_mark_unpaid
from billing.ledger import ledger_post
from billing.models import EntryKind, Restriction, RestrictionReason
from billing.onboarding import client_onboard
from billing.restrictions import OnboardingBlocked, RestrictionError, restriction_lift, restrictions_evaluate
from billing.send_permission import send_permission
from tests.factories import HubFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def post(hub, kind, amount, key):
    return ledger_post(account=hub.credit_account, kind=kind, amount=Money(amount, hub.currency), key=key)


def active(**subject):
    return list(Restriction.objects.filter(lifted_at__isnull=True, **subject).values_list("reason", "detail"))


def test_a_new_hub_is_blocked_until_it_is_funded():
    hub = HubFactory()

    assert active(hub=hub) == [(RestrictionReason.CREDIT_BALANCE_DEPLETED, "Credit balance 0.00 EUR")]
    assert not send_permission(hub_pk=hub.pk).allowed

    post(hub, EntryKind.FUNDS_ADDED, "10.00", "funds")

    assert active(hub=hub) == []
    assert send_permission(hub_pk=hub.pk).allowed


def test_a_balance_at_zero_blocks_outbound_messaging_and_funds_lift_it_in_the_same_transaction():
    hub = HubFactory()
    post(hub, EntryKind.FUNDS_ADDED, "10.00", "funds")
    assert send_permission(hub_pk=hub.pk).allowed

    post(hub, EntryKind.USAGE, "-10.000000", "usage")

    assert active(hub=hub) == [(RestrictionReason.CREDIT_BALANCE_DEPLETED, "Credit balance 0.00 EUR")]
    permission = send_permission(hub_pk=hub.pk)
    assert not permission.allowed
    assert [r["reason"] for r in permission.reasons] == ["CREDIT_BALANCE_DEPLETED"]

    post(hub, EntryKind.FUNDS_ADDED, "0.01", "more funds")

    assert active(hub=hub) == []
    lifted = Restriction.objects.filter(hub=hub).order_by("id").last()
    assert (lifted.lifted_at, lifted.lift_reason) == (NOW, "Credit balance is above 0.00 again")
    assert send_permission(hub_pk=hub.pk).allowed


def test_an_unpaid_license_invoice_blocks_until_it_is_paid():
    hub = HubFactory()
    post(hub, EntryKind.FUNDS_ADDED, "100.00", "funds")
    invoice = topup_issue(hub=hub, amount=Decimal("20.00"), request_key="x")  # any invoice kind but license
    invoice_mark_unpaid(invoice=invoice)
    assert active(hub=hub) == []  # an unpaid top-up blocks nothing

    from billing.invoicing.licenses import license_issue
    from tests.factories import PhoneNumberFactory, WabaFactory

    PhoneNumberFactory(waba=WabaFactory(hub=hub))
    (license,) = license_issue(hub_ids=[hub.id], month=dt.date(2026, 11, 1), issued_at=NOW)
    invoice_mark_unpaid(invoice=license)

    assert active(hub=hub) == [(RestrictionReason.LICENSE_UNPAID, f"License invoice {license.number} unpaid")]

    invoice_mark_paid(invoice=license)

    assert active(hub=hub) == []
    assert (
        Restriction.objects.get(hub=hub, reason=RestrictionReason.LICENSE_UNPAID).lift_reason == "License invoice paid"
    )


def test_an_unpaid_partner_plan_refuses_onboarding_with_the_reason_and_payment_resumes_it():
    partner = PartnerFactory()
    (plan,) = partner_plan_issue(partner_ids=[partner.id], month=dt.date(2026, 11, 1), issued_at=NOW)
    invoice_mark_unpaid(invoice=plan)

    with pytest.raises(OnboardingBlocked) as refused:
        client_onboard(partner=partner, company_name="New GmbH", country="DE", billing_email="f@new.example")
    assert str(refused.value) == (
        f"Onboarding new clients is paused: Partner Plan invoice {plan.number} unpaid. Pay it in the Invoicing "
        "section of the Partner Hub and onboarding resumes automatically."
    )
    assert not partner.clients.exists()

    invoice_mark_paid(invoice=plan)
    client = client_onboard(partner=partner, company_name="New GmbH", country="de", billing_email="f@new.example")

    assert (client.partner, client.country) == (partner, "DE")


def test_staff_lift_holds_until_its_time_even_if_the_cause_remains(now):
    hub = HubFactory()
    post(hub, EntryKind.USAGE, "-1.000000", "usage")
    (restriction,) = Restriction.objects.filter(hub=hub)
    staff = UserFactory(is_staff=True)

    with pytest.raises(RestrictionError, match="needs a reason"):
        restriction_lift(restriction=restriction, user_id=staff.id, reason=" ")
    restriction_lift(
        restriction=restriction, user_id=staff.id, reason="Customer paid by bank transfer, booking pending",
        hold_until=NOW + dt.timedelta(hours=24),
    )  # fmt: skip

    post(hub, EntryKind.USAGE, "-1.000000", "usage 2")
    assert active(hub=hub) == []
    assert send_permission(hub_pk=hub.pk).allowed

    now.move_to(NOW + dt.timedelta(hours=25))
    restrictions_evaluate(hub_ids=[hub.id])

    assert active(hub=hub) == [(RestrictionReason.CREDIT_BALANCE_DEPLETED, "Credit balance -2.00 EUR")]
    history = Restriction.objects.filter(hub=hub).order_by("started_at")
    assert [(r.lifted_by_id, r.lift_reason) for r in history] == [
        (staff.id, "Customer paid by bank transfer, booking pending"),
        (None, ""),
    ]


def test_the_sweep_finds_what_no_event_reported():
    hub = HubFactory()
    Restriction.objects.filter(hub=hub).delete()  # as if the event's evaluation had been lost
    assert active(hub=hub) == []

    changes = restrictions_evaluate(hub_ids=[hub.id])

    assert [r.reason for r in changes.started] == [RestrictionReason.CREDIT_BALANCE_DEPLETED]
    assert restrictions_evaluate(hub_ids=[hub.id]).started == []  # evaluating again changes nothing
