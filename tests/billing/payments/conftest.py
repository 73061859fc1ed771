"""Payment tests run against real parts: localstripe (a local fake Stripe server, one process per test, so nothing
leaves the machine and no test sees another's objects or webhooks), PostgreSQL for the end-to-end scenarios, and
Django's live server receiving localstripe's signed webhooks.

What localstripe does not model — PIX and Boleto — is faked at the Stripe adapter's boundary (`vouchers`): the fake
stands in for the SDK's PaymentIntent resource and answers with the shapes Stripe documents, while every card call
still goes to localstripe.
"""

import datetime as dt
import hashlib
import hmac
import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import stripe
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from billing.invoicing.licenses import license_issue
from billing.invoicing.partner_plans import partner_plan_issue
from billing.ledger import ledger_post
from billing.models import EntryKind, Invoice, PaymentMethod, RateCardRate
from billing.payments.methods import card_setup_complete, card_setup_start
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

LAUNCHER = Path(__file__).with_name("localstripe_launcher.py")  # localstripe, with its state in the test's folder
SECRET_KEY = "sk_test_hubpay_payments"
PUBLISHABLE_KEY = "pk_test_hubpay_payments"
WEBHOOK_SECRET = "whsec_test_hubpay_payments"

VISA = "4242424242424242"
DECLINED_AT_CHARGE = "4000000000000341"  # attaches, then every charge is declined
THREE_D_SECURE = "4000002500003155"  # asks for 3-D Secure on every on-session payment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float = 20, what: str = "the condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class LocalStripe:
    """The localstripe server of one test, and what a browser's Stripe.js would do against it."""

    def __init__(self, base: str, port: int, state: Path, log) -> None:
        self.base = base
        self.port = port
        self.state = state  # its objects, kept across `stop()` and `start()`
        self.log = log
        self.http = requests.Session()
        self.process: subprocess.Popen | None = None

    def start(self, from_scratch: bool = False) -> None:
        """Start the server (again: with the objects it had when it was stopped)."""
        command = [sys.executable, str(LAUNCHER), str(self.state), "--port", str(self.port)]
        self.process = subprocess.Popen(
            command + (["--from-scratch"] if from_scratch else []), stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: _answers(self.base, self.process), timeout=30, what="localstripe to start")

    def stop(self) -> None:
        """Stripe goes away: connections to it are refused until `start()`."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def request(self, method: str, path: str, data: dict | None = None, secret: bool = True) -> dict:
        auth = (SECRET_KEY, "") if secret else None
        response = self.http.request(method, self.base + path, data=data, params=None, auth=auth, timeout=10)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def card(self, number: str, exp_month: int = 12, exp_year: int = 2030) -> str:
        """A PaymentMethod for a card number, as Stripe.js creates it from the card element."""
        data = {"type": "card", "card[number]": number, "card[exp_month]": exp_month, "card[exp_year]": exp_year,
                "card[cvc]": "123"}  # fmt: skip
        return self.request("POST", "/v1/payment_methods", data)["id"]

    def confirm_setup(self, setup, number: str, authenticate: bool = True) -> dict:
        """Stripe.js confirming a SetupIntent with a card, with the publishable key and the client secret; a card
        asking for 3-D Secure is authenticated by the cardholder (Stripe.js handles the next action) unless not."""
        path = f"/v1/setup_intents/{setup.setup_intent_id}/confirm"
        data = {"key": PUBLISHABLE_KEY, "client_secret": setup.client_secret}
        confirmed = self.request("POST", path, {**data, "payment_method": self.card(number)}, secret=False)
        if confirmed["status"] == "requires_action" and authenticate:
            confirmed = self.request("POST", path, data, secret=False)
        return confirmed

    def authenticate(self, intent_id: str, client_secret: str, success: bool = True) -> dict:
        """The cardholder completing (or failing) 3-D Secure in Stripe.js."""
        data = {"key": PUBLISHABLE_KEY, "client_secret": client_secret, "success": "true" if success else "false"}
        return self.request("POST", f"/v1/payment_intents/{intent_id}/_authenticate", data, secret=False)

    def charges(self, customer_id: str) -> list[dict]:
        response = self.http.get(
            f"{self.base}/v1/charges", params={"customer": customer_id}, auth=(SECRET_KEY, ""), timeout=10
        )
        return [c for c in response.json()["data"] if c["status"] == "succeeded"]

    def refunds(self, intent_id: str) -> list[dict]:
        response = self.http.get(
            f"{self.base}/v1/refunds", params={"payment_intent": intent_id}, auth=(SECRET_KEY, ""), timeout=10
        )
        return response.json()["data"]

    def send_webhooks_to(self, url: str) -> None:
        self.request("POST", "/_config/webhooks/hubpay", {"url": url, "secret": WEBHOOK_SECRET})


@pytest.fixture
def localstripe(settings, tmp_path):
    """A localstripe server on a free loopback port for this test; settings point the adapter at it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "localstripe.log", "wb") as log:
        server = LocalStripe(base, port, tmp_path / "localstripe.pickle", log)
        server.start(from_scratch=True)
        try:
            settings.STRIPE_API_BASE = base
            settings.STRIPE_API_KEY = SECRET_KEY
            settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
            settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
            settings.STRIPE_CONFIRM_OFF_SESSION = False  # localstripe refuses off_session on /confirm
            settings.STRIPE_MAX_NETWORK_RETRIES = 0
            yield server
        finally:
            server.stop()


def _answers(base: str, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"localstripe exited with {process.returncode}")
    try:
        return requests.get(f"{base}/v1/customers", auth=(SECRET_KEY, ""), timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture
def webhooks(localstripe, live_server):
    """localstripe delivers its events, signed, to the live server's /stripe/webhook/."""
    url = f"{live_server.url}/stripe/webhook/"
    localstripe.send_webhooks_to(url)
    return url


def signed_delivery(url: str, event: dict, secret: str = WEBHOOK_SECRET) -> requests.Response:
    """POST an event as Stripe does: JSON body, Stripe-Signature over "<timestamp>.<body>"."""
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}
    return requests.post(url, data=body, headers=headers, timeout=30)


def signature_header(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


class VoucherIntents:
    """PIX and Boleto PaymentIntents, which localstripe does not model, faked where the adapter meets the SDK.

    Stands in for `stripe.PaymentIntent`: a create with payment_method_types pix or boleto (confirmed at once, as
    the adapter asks) answers as Stripe documents — status requires_action, next_action.pix_display_qr_code {data,
    expires_at, hosted_instructions_url, image_url_png, image_url_svg} or next_action.boleto_display_details
    {number, expires_at, hosted_voucher_url, pdf} — and honours the idempotency key as Stripe does. The test then
    pays or expires the voucher (Stripe's asynchronous confirmation) and delivers the matching event. Card calls go
    to the real resource, i.e. to localstripe."""

    VOUCHER_TYPES = {"pix", "boleto"}

    def __init__(self, real) -> None:
        self.real = real
        self.intents: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.serial = itertools.count(1)
        self.created = 0
        self.requests: list[dict] = []  # every voucher create as the SDK was asked, i.e. what Stripe receives

    def _object(self, intent_id: str):
        return self.real.construct_from(json.loads(json.dumps(self.intents[intent_id])), SECRET_KEY)

    def create(self, **params):
        if not self.VOUCHER_TYPES & set(params.get("payment_method_types") or []):
            return self.real.create(**params)
        self.requests.append(json.loads(json.dumps(params)))
        key = params.get("idempotency_key")
        if key in self.by_key:
            return self._object(self.by_key[key])
        kind = params["payment_method_types"][0]
        if kind == "boleto":
            self._boleto_check(params["payment_method_data"])
        intent_id = f"pi_fake{next(self.serial):06d}"
        expires = int(time.time()) + (86400 if kind == "pix" else 3 * 86400)
        if kind == "pix":
            action = {"type": "pix_display_qr_code", "pix_display_qr_code": {
                "data": f"00020101021226850014br.gov.bcb.pix{intent_id}", "expires_at": expires,
                "hosted_instructions_url": f"https://payments.stripe.com/pix/instructions/{intent_id}",
                "image_url_png": f"https://qr.stripe.com/{intent_id}.png",
                "image_url_svg": f"https://qr.stripe.com/{intent_id}.svg"}}  # fmt: skip
        else:
            action = {"type": "boleto_display_details", "boleto_display_details": {
                "number": "01010101010101010101010101010101010101010101010", "expires_at": expires,
                "hosted_voucher_url": f"https://payments.stripe.com/boleto/voucher/{intent_id}",
                "pdf": f"https://payments.stripe.com/boleto/voucher/{intent_id}/pdf"}}  # fmt: skip
        self.intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": params["amount"], "currency": params["currency"],
            "customer": params.get("customer"), "payment_method": f"pm_fake_{kind}", "payment_method_types": [kind],
            "status": "requires_action", "next_action": action, "last_payment_error": None, "latest_charge": None,
            "client_secret": f"{intent_id}_secret_fake", "metadata": dict(params.get("metadata") or {}),
            "created": int(time.time()), "livemode": False,
        }  # fmt: skip
        self.by_key[key] = intent_id
        self.created += 1
        return self._object(intent_id)

    @staticmethod
    def _boleto_check(data: dict) -> None:
        """Stripe's Boleto requirements (docs: payments/boleto/accept-a-payment): the payer's CPF (11 digits) or
        CNPJ (14 digits) as boleto.tax_id, and a name, email and full address with its state."""
        tax_id = (data.get("boleto") or {}).get("tax_id", "")
        details = data.get("billing_details") or {}
        address = details.get("address") or {}
        if not (tax_id.isdigit() and len(tax_id) in (11, 14)):
            raise stripe.InvalidRequestError("Invalid tax_id for boleto.", "payment_method_data[boleto][tax_id]")
        for field in ("line1", "city", "state", "postal_code", "country"):
            if not address.get(field):
                raise stripe.InvalidRequestError(
                    f"Missing required param: payment_method_data[billing_details][address][{field}].",
                    f"payment_method_data[billing_details][address][{field}]",
                )
        if not (details.get("name") and details.get("email")):
            raise stripe.InvalidRequestError("Boleto needs the payer's name and email.", "billing_details")

    def retrieve(self, intent_id, **params):
        return self._object(intent_id) if intent_id in self.intents else self.real.retrieve(intent_id, **params)

    def confirm(self, intent_id, **params):
        return self.real.confirm(intent_id, **params)

    def cancel(self, intent_id, **params):
        if intent_id not in self.intents:
            return self.real.cancel(intent_id, **params)
        self.intents[intent_id].update(status="canceled", next_action=None, cancellation_reason="requested_by_customer")
        return self._object(intent_id)

    # What the payer and Stripe do later.
    def pay(self, intent_id: str) -> dict:
        self.intents[intent_id].update(status="succeeded", next_action=None, latest_charge=f"ch_{intent_id}")
        return self.event(intent_id, "payment_intent.succeeded")

    def expire(self, intent_id: str) -> dict:
        self.intents[intent_id].update(
            status="requires_payment_method", next_action=None,
            last_payment_error={"code": "payment_intent_payment_attempt_expired",
                                "message": "The voucher expired before it was paid."},
        )  # fmt: skip
        return self.event(intent_id, "payment_intent.payment_failed")

    def event(self, intent_id: str, event_type: str) -> dict:
        return {
            "id": f"evt_fake{next(self.serial):06d}", "object": "event", "type": event_type,
            "created": int(time.time()), "api_version": "2026-10-28.endive", "livemode": False,
            "data": {"object": json.loads(json.dumps(self.intents[intent_id]))},
        }  # fmt: skip


@pytest.fixture
def vouchers(localstripe, monkeypatch) -> VoucherIntents:
    fake = VoucherIntents(stripe.PaymentIntent)
    fake.localstripe = localstripe  # cards still go to localstripe
    monkeypatch.setattr(stripe, "PaymentIntent", fake)
    return fake


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"  # invoice PDFs rendered when issued invoices are delivered


def brl_rate(currency: str, value: str) -> Rate:
    """Staff set the currency's BRL rate (what the admin's Exchange rates page writes)."""
    backend = ExchangeBackend.objects.get(name=f"staff-{currency.lower()}")
    rate, _ = Rate.objects.update_or_create(backend=backend, currency="BRL", defaults={"value": Decimal(value)})
    return rate


def save_card(localstripe: LocalStripe, party, number: str, first: bool = True) -> PaymentMethod:
    """The card form end to end: SetupIntent, Stripe.js confirming it, the page's confirmation."""
    setup = card_setup_start(party=party, first=first)
    localstripe.confirm_setup(setup, number)
    return card_setup_complete(party=party, setup_intent_id=setup.setup_intent_id)


def license_invoice(hub, month: dt.date | None = None) -> Invoice:
    """The hub's License Invoice for one Regular number (25.00 net)."""
    PhoneNumberFactory(waba=WabaFactory(hub=hub), onboarded_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    month = month or dt.date(2026, 11, 1)
    (invoice,) = license_issue(hub_ids=[hub.pk], month=month, issued_at=dt.datetime.now(dt.UTC))
    return invoice


def plan_invoice(partner, month: dt.date | None = None) -> Invoice:
    month = month or dt.date(2026, 11, 1)
    (invoice,) = partner_plan_issue(partner_ids=[partner.pk], month=month, issued_at=dt.datetime.now(dt.UTC))
    return invoice


@pytest.fixture
def hub():
    """A German client's hub with 100.00 EUR of credit (so only what a test does can block it)."""
    hub = HubFactory(client=ClientFactory(country="DE"))
    ledger_post(
        account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("100.00", "EUR"), key=f"opening:{hub.pk}"
    )
    return hub


@pytest.fixture
def brazilian_partner():
    return PartnerFactory(
        country="BR", currency="USD", tax_id="12345678000195", state="SP", company_name="Parceiro Ltda",
        address_line1="Av. Paulista 1000", city="São Paulo", postal_code="01310-100",
    )  # fmt: skip


@pytest.fixture
def rate_card():
    return RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=Decimal("2.000000")
    )


def usage_events(number, count: int, prefix: str) -> list[dict]:
    return [
        {
            "message_id": f"wamid.{prefix}.{n}",
            "waba_id": number.waba.meta_waba_id,
            "phone_number": number.e164,
            "recipient_country": "DE",
            "category": "marketing",
            "billable": True,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        }  # fmt: skip
        for n in range(count)
    ]


def post_event(client, event: dict):
    """Deliver a signed event to /stripe/webhook/ through Django's test client (same database transaction)."""
    body = json.dumps(event).encode()
    return client.post(
        "/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature_header(body)
    )


def intent_event(intent_id: str, event_type: str, event_id: str) -> dict:
    """An event naming a PaymentIntent (handlers re-read the intent, so its copy in the event does not matter)."""
    return {"id": event_id, "object": "event", "type": event_type, "created": int(time.time()),
            "data": {"object": {"id": intent_id, "object": "payment_intent"}}}  # fmt: skip
