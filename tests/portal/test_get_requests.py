"""No GET request changes money state (edge 7), audited over every route of the Client Hub, the Partner Hub and the
API, each requested as its own party would, with the transaction's on-commit work (Celery tasks, eagerly) run. The
one GET allowed to apply a payment is the return from 3-D Secure (payment-status): it applies only what Stripe
reports, and once."""

import pytest
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

import api.urls
import clients.urls
import partners.urls
from api.keys import api_key_create
from billing.invoicing.settlement import invoice_mark_unpaid
from billing.models import (
    CreditAccount,
    Invoice,
    InvoiceDunning,
    LedgerEntry,
    PaymentAttempt,
    PaymentMethod,
    PaymentRefund,
    Restriction,
)
from billing.payments.attempts import AttemptSpec, Failure, attempt_create, attempt_fail
from billing.payments.manual import invoice_pay
from billing.payments.methods import card_setup_start
from tests.billing.payments.conftest import THREE_D_SECURE, VISA, license_invoice, plan_invoice, save_card
from tests.factories import ClientFactory, HubFactory, PartnerFactory
from tests.portal.conftest import client_member, partner_member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def money_state() -> dict:
    """Everything a payment, a charge or a posting changes."""
    return {
        "ledger": sorted(LedgerEntry.objects.values_list("id", "amount")),
        "balances": sorted(CreditAccount.objects.values_list("id", "balance")),
        "invoices": sorted(Invoice.objects.values_list("id", "status", "total")),
        "attempts": sorted(PaymentAttempt.objects.values_list("id", "status", "stripe_payment_intent_id")),
        "methods": sorted(PaymentMethod.objects.values_list("id", "position")),
        "refunds": sorted(PaymentRefund.objects.values_list("id", "status")),
        "dunning": sorted(InvoiceDunning.objects.values_list("id", "retries_done", "closed_at")),
        "restrictions": sorted(Restriction.objects.values_list("id", "lifted_at")),
    }


def routes(patterns, prefix: str = "") -> list[tuple[str, list[str]]]:
    """Every named route (name, its path parameters), nested includes too."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{pattern.namespace}:" if pattern.namespace else ""
            found += routes(pattern.url_patterns, prefix + namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            found.append((prefix + pattern.name, list(pattern.pattern.converters)))
    return found


def failed_attempt(invoice: Invoice) -> PaymentAttempt:
    spec = AttemptSpec(
        invoice=invoice, method=None, kind="card", label="Visa •••• 4242", purpose="manual", round="manual",
        amount=invoice.total, currency=invoice.currency, key=f"{invoice.number}:manual:get-audit",
    )  # fmt: skip
    attempt = attempt_create(spec=spec)
    return attempt_fail(attempt_id=attempt.pk, failure=Failure("declined", "Declined."))


@pytest.fixture
def world(localstripe):
    """A client with a card, an unpaid license invoice and a card setup Stripe.js confirmed but the portal did not
    save yet (a GET that saved it would charge the unpaid invoice); its partner with a Partner Plan invoice."""
    partner = PartnerFactory(country="DE")
    party = ClientFactory(partner=partner, country="DE")
    hub = HubFactory(client=party)
    card = save_card(localstripe, party, VISA)
    unpaid = invoice_mark_unpaid(invoice=license_invoice(hub))
    setup = card_setup_start(party=party)
    localstripe.confirm_setup(setup, "5555555555554444")
    plan = plan_invoice(partner)
    return {
        "partner": partner, "client": party, "hub": hub, "card": card, "unpaid": unpaid, "plan": plan,
        "setup": setup.setup_intent_id, "number": hub.wabas.get().numbers.get(),
        "client_attempt": failed_attempt(unpaid), "partner_attempt": failed_attempt(plan),
        "client_key": api_key_create(name="c", party=party), "partner_key": api_key_create(name="p", party=partner),
        "service_key": api_key_create(name="s"),
    }  # fmt: skip


def portal_arguments(world, hub_kind: str) -> dict:
    invoice, attempt = (world["plan"], world["partner_attempt"]) if hub_kind == "partner" else (
        world["unpaid"], world["client_attempt"])  # fmt: skip
    return {
        "number": invoice.number, "attempt_id": attempt.pk, "method_id": world["card"].pk,
        "key_id": world[f"{hub_kind}_key"][0].pk, "number_id": world["number"].pk, "client_id": world["client"].pk,
        "endpoint_id": 1,  # no webhook endpoint exists: the page answers 404, and still must change nothing
    }  # fmt: skip


QUERY = {"card-added": {"setup_intent": "{setup}"}, "funds": {"hub": "{hub_id}"}}


@pytest.mark.parametrize("hub_kind", ["client", "partner"])
def test_no_portal_get_changes_money_state(world, client, hub_kind, django_capture_on_commit_callbacks):
    party = world["client"] if hub_kind == "client" else world["partner"]
    (client_member if hub_kind == "client" else partner_member)(client, party, "owner")
    arguments = portal_arguments(world, hub_kind)
    urlconf = clients.urls if hub_kind == "client" else partners.urls
    before = money_state()
    answered = {}

    for name, params in routes(urlconf.urlpatterns):
        path = reverse(f"{hub_kind}:{name}", kwargs={p: arguments[p] for p in params})
        query = {k: v.format(setup=world["setup"], hub_id=world["hub"].hub_id) for k, v in QUERY.get(name, {}).items()}
        with django_capture_on_commit_callbacks(execute=True):
            answered[name] = client.get(path, query).status_code
        assert money_state() == before, f"GET {path} changed money state"

    assert answered["card-added"] == 405  # saving a card charges unpaid invoices: a POST
    assert answered["invoices"] == answered["payment-methods"] == answered["payment-status"] == 200


def test_no_api_get_changes_money_state(world, django_capture_on_commit_callbacks):
    before = money_state()
    arguments = {"number_id": str(world["number"].pk), "hub_id": world["hub"].hub_id,
                 "client_id": str(world["client"].pk)}  # fmt: skip
    answered = {}

    for name, params in routes(api.urls.urlpatterns):
        kind = "partner" if name.startswith("v1:partner") else "service" if name in (
            "v1:usage-events", "v1:send-permission") else "client"  # fmt: skip
        number = world["plan" if kind == "partner" else "unpaid"].number
        path = reverse(name, kwargs={p: number if p == "number" else arguments[p] for p in params})
        requester = APIClient()
        requester.credentials(HTTP_AUTHORIZATION=f"Bearer {world[f'{kind}_key'][1]}")
        with django_capture_on_commit_callbacks(execute=True):
            answered[name] = requester.get(path).status_code
        assert money_state() == before, f"GET {path} changed money state"

    assert answered["v1:invoice"] == answered["v1:partner-invoice"] == answered["v1:send-permission"] == 200
    assert answered["v1:top-ups"] == answered["v1:usage-events"] == 405


def test_the_3d_secure_return_applies_only_what_stripe_reports_and_once(localstripe, client):
    party = ClientFactory(country="DE")
    invoice = license_invoice(HubFactory(client=party))
    save_card(localstripe, party, THREE_D_SECURE)
    start = invoice_pay(invoice=invoice, kind="card")
    client_member(client, party, "billing")
    status_url = f"/client/payments/{start.attempt_id}/"

    waiting = client.get(status_url)  # the cardholder has not authenticated yet: Stripe says requires_action
    unchanged = money_state()
    attempt = PaymentAttempt.objects.get(pk=start.attempt_id)
    localstripe.authenticate(attempt.stripe_payment_intent_id, start.client_secret)
    returned = client.get(status_url)
    paid = money_state()
    again = client.get(status_url)

    invoice.refresh_from_db()
    assert (waiting.status_code, unchanged["invoices"]) == (200, [(invoice.pk, "pending", invoice.total)])
    assert returned.status_code == again.status_code == 200
    assert invoice.status == "paid"
    assert money_state() == paid  # the second return changes nothing
    assert [status for _, status, _ in paid["attempts"]] == ["succeeded"]
