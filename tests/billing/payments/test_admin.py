"""Staff in the admin: the BRL rates of vouchers are kept there, and a payment is refunded with an action."""

from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.contrib.exchange.models import ExchangeBackend, Rate

from billing.invoicing.prepayments import topup_issue
from billing.models import CreditAccount, PaymentAttempt, PaymentRefund
from billing.payments.charging import invoice_charge_automatically
from billing.payments.fx import brl_quote
from tests.billing.payments.conftest import VISA, save_card
from tests.factories import ClientFactory, HubFactory

pytestmark = pytest.mark.django_db


def test_staff_set_the_eur_to_brl_rate_and_vouchers_use_it_at_once(admin_client):
    backend = ExchangeBackend.objects.get(name="staff-eur")

    response = admin_client.post(
        reverse("admin:exchange_rate_add"), {"backend": backend.pk, "currency": "BRL", "value": "6.1234"}
    )

    assert response.status_code == 302
    assert Rate.objects.get(backend=backend).value == Decimal("6.1234")
    assert brl_quote(amount=Decimal("100.00"), currency="EUR") == (Decimal("612.34"), Decimal("6.1234"))
    rate = Rate.objects.get(backend=backend)
    admin_client.post(reverse("admin:exchange_rate_change", args=[rate.pk]),
                      {"backend": backend.pk, "currency": "BRL", "value": "6.5"})  # fmt: skip
    assert brl_quote(amount=Decimal("100.00"), currency="EUR")[0] == Decimal("650.00")  # no stale cached rate


def test_staff_refund_a_payment_with_the_admin_action(admin_client, localstripe):
    hub = HubFactory(client=ClientFactory(country="DE"))
    save_card(localstripe, hub.client, VISA)
    invoice = topup_issue(hub=hub, amount=Decimal("50.00"), request_key="admin-1")
    invoice_charge_automatically(invoice_id=invoice.pk)
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    url = reverse("admin:billing_paymentattempt_changelist")

    def refund_all():
        chosen = {"action": "refund", "_selected_action": [attempt.pk]}
        token = admin_client.post(url, chosen).context["form"]["token"].value()
        return admin_client.post(
            url, chosen | {"apply": "1", "token": token, "reason": "Client cancelled"}, follow=True
        )

    response = refund_all()

    refund = PaymentRefund.objects.get()
    assert (refund.amount, refund.funds_amount, refund.status) == (Decimal("61.88"), Decimal("50.00"), "succeeded")
    assert f"{attempt}: refund 61.88 EUR succeeded." in response.text
    assert CreditAccount.objects.get(hub=hub).balance == 0
    again = refund_all()
    assert f"{attempt}: This payment of 61.88 EUR is already refunded in full." in again.text
    assert PaymentRefund.objects.count() == 1
