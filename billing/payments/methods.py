"""Saved payment methods, in the party's order (first charged first).

Cards are saved through a Stripe SetupIntent: the server creates it for the party's Stripe customer, Stripe.js
confirms it with the card (the server never sees a card number), and the card is saved from Stripe's record, with
its brand, last four digits and expiry, when the page confirms (`card_setup_complete`) or when the
setup_intent.succeeded webhook arrives (`setup_intent_succeeded`), whichever is first; the other finds it saved.
A newly saved card is charged for the party's unpaid invoices at once.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max

from billing import stripe_api
from billing.models import PaymentMethod, PaymentMethodKind, StripeCustomer
from billing.payments.eligibility import method_check
from billing.payments.errors import PaymentRefused
from billing.payments.parties import Party, methods_of, party_filter, party_key
from billing.queue import enqueue_on_commit
from clients.models import Client
from partners.models import Partner

POSITION_FIRST, POSITION_LAST = "first", "last"


@dataclass(frozen=True)
class CardSetup:
    """What the card form needs: Stripe.js confirms `client_secret` with the card the payer types."""

    setup_intent_id: str
    client_secret: str
    publishable_key: str | None


def stripe_customer_id(*, party: Party) -> str:
    """The party's Stripe customer, created on first use."""
    stored = StripeCustomer.objects.filter(**party_filter(party)).values_list("stripe_customer_id", flat=True).first()
    if stored:
        return stored
    customer_id = stripe_api.customer_create(
        name=party.company_name, email=party.billing_email, party_key=party_key(party)
    )
    try:
        with transaction.atomic():
            StripeCustomer.objects.create(**party_filter(party), stripe_customer_id=customer_id)
    except IntegrityError:
        pass  # saved meanwhile by a concurrent request: the stored one is used
    return StripeCustomer.objects.filter(**party_filter(party)).values_list("stripe_customer_id", flat=True).get()


def party_of_customer(customer_id: str) -> Party | None:
    row = StripeCustomer.objects.filter(stripe_customer_id=customer_id).select_related("client", "partner").first()
    return None if row is None else row.client or row.partner


def card_setup_start(*, party: Party, first: bool = True) -> CardSetup:
    """Start saving a card; `first`: charge it before the cards already saved (a card being replaced)."""
    method_check(kind=PaymentMethodKind.CARD, party=party)
    setup = stripe_api.setup_intent_create(
        customer_id=stripe_customer_id(party=party),
        metadata={"party": party_key(party), "position": POSITION_FIRST if first else POSITION_LAST},
    )
    return CardSetup(setup.id, setup.client_secret, settings.STRIPE_PUBLISHABLE_KEY)


def card_setup_complete(*, party: Party, setup_intent_id: str) -> PaymentMethod:
    """The page's confirmation after Stripe.js confirmed the SetupIntent: save the card it set up."""
    setup = stripe_api.setup_intent_retrieve(setup_intent_id)
    stored = StripeCustomer.objects.filter(**party_filter(party)).values_list("stripe_customer_id", flat=True).first()
    if not stored or setup.customer_id != stored:
        raise PaymentRefused("This card setup belongs to another account.")
    return _card_from_setup(party, setup)


def setup_intent_succeeded(*, setup_intent_id: str) -> PaymentMethod | None:
    """The webhook's path: re-read the SetupIntent and save its card for the party of its customer (None when the
    customer is not one of ours)."""
    setup = stripe_api.setup_intent_retrieve(setup_intent_id)
    party = party_of_customer(setup.customer_id)
    return None if party is None else _card_from_setup(party, setup)


def _card_from_setup(party: Party, setup: stripe_api.Setup) -> PaymentMethod:
    if setup.status == "requires_action":
        raise PaymentRefused("The card asks for authentication (3-D Secure): complete it in the card form first.")
    if setup.status != "succeeded" or not setup.payment_method_id:
        raise PaymentRefused(f"The card was not saved: its setup is {setup.status.replace('_', ' ')}.")
    card = stripe_api.card_retrieve(setup.payment_method_id)
    if not card.customer_id:
        card = stripe_api.card_attach(payment_method_id=card.id, customer_id=setup.customer_id)
    elif card.customer_id != setup.customer_id:
        raise PaymentRefused("This card is saved for another account.")
    return card_save(party=party, card=card, first=setup.metadata.get("position", POSITION_FIRST) == POSITION_FIRST)


def _party_lock(party: Party) -> None:
    """Serialise changes to one party's list of methods (its row, PK-ordered with nothing else)."""
    model = Partner if isinstance(party, Partner) else Client
    model.objects.select_for_update().filter(pk=party.pk).values_list("pk", flat=True).get()


def _next_position(party: Party, first: bool) -> int:
    if first:
        methods_of(party).update(position=F("position") + 1)
        return 0
    last = methods_of(party).aggregate(last=Max("position"))["last"]
    return 0 if last is None else last + 1


def card_save(*, party: Party, card: stripe_api.Card, first: bool) -> PaymentMethod:
    """Save a card Stripe holds for the party (once: saving it again returns the saved one)."""
    with transaction.atomic():
        _party_lock(party)
        saved = methods_of(party).filter(stripe_payment_method_id=card.id).first()
        if saved is not None:
            return saved
        method = PaymentMethod.objects.create(
            **party_filter(party),
            kind=PaymentMethodKind.CARD,
            position=_next_position(party, first),
            stripe_payment_method_id=card.id,
            brand=card.brand[:20],
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
        enqueue_on_commit("billing.charge_after_card_added", method.pk)
    return method


def voucher_method_add(*, party: Party, kind: str, first: bool = False) -> PaymentMethod:
    """Save PIX or Boleto as a way the partner pays (by hand: a voucher is paid by the payer, never charged)."""
    method_check(kind=kind, party=party)
    if kind == PaymentMethodKind.CARD:
        raise PaymentRefused("Cards are saved through the card form (Stripe), not here.")
    with transaction.atomic():
        _party_lock(party)
        saved = methods_of(party).filter(kind=kind).first()
        if saved is not None:
            return saved
        return PaymentMethod.objects.create(**party_filter(party), kind=kind, position=_next_position(party, first))


def payment_methods_reorder(*, party: Party, method_ids: list[int]) -> list[PaymentMethod]:
    """Put the party's methods in this order (all of them, each once)."""
    with transaction.atomic():
        _party_lock(party)
        methods = {m.pk: m for m in methods_of(party)}
        if sorted(method_ids) != sorted(methods) or len(set(method_ids)) != len(method_ids):
            raise PaymentRefused("Give every saved payment method of the account once, in the new order.")
        for position, method_id in enumerate(method_ids):
            methods[method_id].position = position
        PaymentMethod.objects.bulk_update(methods.values(), ["position"])
    return [methods[method_id] for method_id in method_ids]


def payment_method_remove(*, method: PaymentMethod) -> None:
    """Forget a saved method; a card is detached from the Stripe customer first, so it can never be charged."""
    if method.stripe_payment_method_id:
        stripe_api.card_detach(method.stripe_payment_method_id)
    party = method.client or method.partner
    with transaction.atomic():
        _party_lock(party)
        PaymentMethod.objects.filter(pk=method.pk).delete()
        for position, remaining in enumerate(methods_of(party)):
            if remaining.position != position:
                PaymentMethod.objects.filter(pk=remaining.pk).update(position=position)
