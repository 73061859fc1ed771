"""Saved payment methods: cards through a SetupIntent (the page's confirmation or the webhook, whichever is first),
PIX and Boleto for partners in Brazil only, in the party's order."""

import json

import pytest

from billing.models import PaymentMethod, PaymentMethodKind, StripeCustomer
from billing.payments.eligibility import ELIGIBILITY, method_check
from billing.payments.errors import PaymentRefused
from billing.payments.methods import (
    card_setup_complete,
    card_setup_start,
    payment_method_remove,
    payment_methods_reorder,
    voucher_method_add,
)
from tests.billing.payments.conftest import THREE_D_SECURE, VISA, save_card, signature_header
from tests.factories import ClientFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def test_a_card_is_saved_from_stripes_record_of_it(localstripe):
    client = ClientFactory()

    method = save_card(localstripe, client, VISA)

    assert (method.kind, method.brand, method.last4, method.exp_month, method.exp_year) == (
        "card",
        "visa",
        "4242",
        12,
        2030,
    )
    assert method.stripe_payment_method_id.startswith("pm_")
    assert method.client == client and method.position == 0
    assert StripeCustomer.objects.get(client=client).stripe_customer_id.startswith("cus_")


def test_a_new_card_goes_first_unless_asked_to_go_last(localstripe):
    client = ClientFactory()
    old = save_card(localstripe, client, VISA)
    newest = save_card(localstripe, client, "5555555555554444")
    spare = save_card(localstripe, client, "4000056655665556", first=False)

    assert list(PaymentMethod.objects.filter(client=client).order_by("position").values_list("pk", flat=True)) == [
        newest.pk, old.pk, spare.pk,
    ]  # fmt: skip
    assert len(StripeCustomer.objects.filter(client=client)) == 1


def test_the_page_and_the_webhook_save_the_card_once(localstripe, client):
    party = ClientFactory()
    setup = card_setup_start(party=party)
    localstripe.confirm_setup(setup, VISA)
    event = {"id": "evt_setup_1", "object": "event", "type": "setup_intent.succeeded",
             "data": {"object": {"id": setup.setup_intent_id, "object": "setup_intent"}}}  # fmt: skip
    body = json.dumps(event).encode()

    response = client.post("/stripe/webhook/", body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=signature_header(body))  # fmt: skip
    method = card_setup_complete(party=party, setup_intent_id=setup.setup_intent_id)

    assert response.status_code == 200
    assert response.json() == {"id": "evt_setup_1", "status": "processed"}
    assert list(PaymentMethod.objects.filter(client=party)) == [method]


def test_a_card_still_asking_for_authentication_is_not_saved(localstripe):
    party = ClientFactory()
    setup = card_setup_start(party=party)
    localstripe.confirm_setup(setup, THREE_D_SECURE, authenticate=False)

    with pytest.raises(
        PaymentRefused, match=r"^The card asks for authentication \(3-D Secure\): complete it in the card "
    ):
        card_setup_complete(party=party, setup_intent_id=setup.setup_intent_id)
    assert not PaymentMethod.objects.exists()


def test_another_accounts_setup_is_refused(localstripe):
    owner, other = ClientFactory(), ClientFactory()
    setup = card_setup_start(party=owner)
    localstripe.confirm_setup(setup, VISA)
    card_setup_start(party=other)

    with pytest.raises(PaymentRefused, match=r"^This card setup belongs to another account\.$"):
        card_setup_complete(party=other, setup_intent_id=setup.setup_intent_id)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (PaymentMethodKind.PIX, "PIX is available to partners only."),
        (PaymentMethodKind.BOLETO, "Boleto is available to partners only."),
    ],  # fmt: skip
)
def test_clients_may_not_use_pix_or_boleto(kind, message):
    with pytest.raises(PaymentRefused) as refused:
        voucher_method_add(party=ClientFactory(), kind=kind)
    assert str(refused.value) == message


def test_pix_and_boleto_are_for_partners_in_brazil():
    with pytest.raises(PaymentRefused) as refused:
        voucher_method_add(party=PartnerFactory(country="DE"), kind=PaymentMethodKind.PIX)
    assert str(refused.value) == "PIX is available to partners in Brazil only."

    partner = PartnerFactory(country="BR")
    pix = voucher_method_add(party=partner, kind=PaymentMethodKind.PIX)
    boleto = voucher_method_add(party=partner, kind=PaymentMethodKind.BOLETO, first=True)

    assert voucher_method_add(party=partner, kind=PaymentMethodKind.PIX) == pix  # saved once
    assert list(PaymentMethod.objects.filter(partner=partner).order_by("position")) == [boleto, pix]


def test_who_may_use_what_is_one_table():
    assert {kind: rule.parties for kind, rule in ELIGIBILITY.items()} == {
        "card": ("client", "partner"), "pix": ("partner",), "boleto": ("partner",),
    }  # fmt: skip
    assert [kind for kind, rule in ELIGIBILITY.items() if rule.transaction_fee] == ["card"]
    assert method_check(kind="card", party=ClientFactory()).label == "Card"
    with pytest.raises(PaymentRefused, match=r"^Unknown payment method 'cash'"):
        method_check(kind="cash", party=ClientFactory())


def test_methods_are_reordered_and_removed(localstripe):
    partner = PartnerFactory(country="BR")
    card = save_card(localstripe, partner, VISA)
    pix = voucher_method_add(party=partner, kind=PaymentMethodKind.PIX)

    payment_methods_reorder(party=partner, method_ids=[pix.pk, card.pk])
    assert list(PaymentMethod.objects.filter(partner=partner).order_by("position")) == [pix, card]
    with pytest.raises(
        PaymentRefused, match=r"^Give every saved payment method of the account once, in the new order\.$"
    ):
        payment_methods_reorder(party=partner, method_ids=[pix.pk])

    payment_method_remove(method=pix)
    assert list(PaymentMethod.objects.filter(partner=partner).values_list("pk", "position")) == [(card.pk, 0)]
