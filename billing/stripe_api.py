"""The Stripe adapter: the only module that talks to Stripe.

It configures the SDK from settings (STRIPE_API_KEY, STRIPE_API_BASE: localstripe in tests), converts our Decimal
amounts to Stripe's integer minor units and back (nowhere else), turns Stripe's objects into small frozen records
and Stripe's errors into ours:

- PaymentDeclined: the payer's bank or Stripe declined the payment (card declined, authentication required), with
  Stripe's code, decline code and message;
- PaymentRequestInvalid: Stripe refused the request itself (unknown payment method, amount too large to refund, …);
- StripeUnavailable: no usable answer (network, rate limit, Stripe's own error, bad configuration) — the outcome of
  a write is unknown, so the caller retries with the same idempotency key.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import stripe
from django.conf import settings

# Currencies Stripe counts in whole units; every other one (EUR, USD, BRL) in hundredths.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905 -- a list from Stripe's docs
)
DEFAULT_API_BASE = "https://api.stripe.com"


class PaymentError(Exception):
    """What went wrong at Stripe, in our terms."""

    def __init__(self, message: str, *, code: str = "", decline_code: str = "", intent_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or ""
        self.decline_code = decline_code or ""
        self.intent_id = intent_id or ""


class PaymentDeclined(PaymentError):
    pass


class PaymentRequestInvalid(PaymentError):
    pass


class StripeUnavailable(PaymentError):
    pass


class WebhookInvalid(Exception):
    """The webhook's payload or signature does not verify."""


@dataclass(frozen=True)
class Voucher:
    """A PIX QR code or a Boleto, as Stripe shows it in the PaymentIntent's next_action."""

    kind: str  # "pix" | "boleto"
    reference: str  # the PIX copy-and-paste string, or the Boleto number
    hosted_url: str
    image_url: str  # PIX: the QR code image
    pdf_url: str  # Boleto: the printable voucher
    expires_at: dt.datetime | None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "hosted_url": self.hosted_url,
            "image_url": self.image_url,
            "pdf_url": self.pdf_url,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent: what was asked, where it stands, and why it failed if it did."""

    id: str
    status: str
    amount: Decimal
    currency: str
    customer_id: str
    payment_method_id: str
    client_secret: str
    metadata: dict = field(default_factory=dict)
    failure_code: str = ""
    decline_code: str = ""
    failure_message: str = ""
    next_action_type: str = ""
    voucher: Voucher | None = None


@dataclass(frozen=True)
class Card:
    id: str
    customer_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Setup:
    id: str
    status: str
    customer_id: str
    payment_method_id: str
    client_secret: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RefundState:
    id: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    amount: Decimal
    currency: str
    payment_intent_id: str
    metadata: dict = field(default_factory=dict)
    failure_reason: str = ""


# Money -------------------------------------------------------------------------------------------------------------


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal amount → Stripe's integer minor units; refuses an amount finer than the currency's smallest unit."""
    places = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    scaled = Decimal(amount).scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} has more decimal places than the currency allows.")
    return int(scaled)


def from_minor(value: int, currency: str) -> Decimal:
    places = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return Decimal(int(value)).scaleb(-places).quantize(Decimal(1).scaleb(-places))


# Plumbing ----------------------------------------------------------------------------------------------------------


def _configure() -> None:
    """Point the SDK at settings on every call (tests move STRIPE_API_BASE to their localstripe)."""
    stripe.api_key = settings.STRIPE_API_KEY
    stripe.api_base = settings.STRIPE_API_BASE or DEFAULT_API_BASE
    stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES


def _error_fields(error: stripe.StripeError) -> dict:
    detail = getattr(error, "error", None)
    intent = getattr(detail, "payment_intent", None) if detail is not None else None
    return {
        "code": getattr(error, "code", "") or "",
        "decline_code": (getattr(detail, "decline_code", "") if detail is not None else "") or "",
        "intent_id": _id(intent),
    }


def _message(error: stripe.StripeError) -> str:
    return getattr(error, "user_message", None) or str(error) or error.__class__.__name__


@contextmanager
def _stripe_call() -> Iterator[None]:
    _configure()
    try:
        yield
    except stripe.CardError as error:
        raise PaymentDeclined(_message(error), **_error_fields(error)) from error
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        raise PaymentRequestInvalid(_message(error), **_error_fields(error)) from error
    except stripe.StripeError as error:
        # Connection, rate limit, Stripe's own errors, and bad keys: nothing known about the outcome.
        raise StripeUnavailable(_message(error), **_error_fields(error)) from error


def _plain(obj) -> dict:
    """A Stripe object as plain dicts and lists (what webhook payloads and fakes hand in already)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj or {})


def _get(obj, name: str, default=None):
    """A field of a plain dict, or `default` when it is missing or null."""
    value = obj.get(name) if isinstance(obj, dict) else None
    return default if value is None else value


def _id(value) -> str:
    """An expandable field: an id, or the expanded object."""
    if value is None:
        return ""
    return value if isinstance(value, str) else _get(_plain(value), "id", "")


def _timestamp(value) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC) if value else None


def _voucher(next_action) -> Voucher | None:
    pix = _get(next_action, "pix_display_qr_code")
    if pix is not None:
        return Voucher(
            kind="pix",
            reference=_get(pix, "data", ""),
            hosted_url=_get(pix, "hosted_instructions_url", ""),
            image_url=_get(pix, "image_url_png", ""),
            pdf_url="",
            expires_at=_timestamp(_get(pix, "expires_at")),
        )
    boleto = _get(next_action, "boleto_display_details")
    if boleto is not None:
        return Voucher(
            kind="boleto",
            reference=_get(boleto, "number", ""),
            hosted_url=_get(boleto, "hosted_voucher_url", ""),
            image_url="",
            pdf_url=_get(boleto, "pdf", ""),
            expires_at=_timestamp(_get(boleto, "expires_at")),
        )
    return None


def _intent(obj) -> Intent:
    obj = _plain(obj)
    currency = str(_get(obj, "currency", "")).upper()
    error = _get(obj, "last_payment_error")
    next_action = _get(obj, "next_action")
    return Intent(
        id=_get(obj, "id"),
        status=_get(obj, "status", ""),
        amount=from_minor(_get(obj, "amount", 0), currency),
        currency=currency,
        customer_id=_id(_get(obj, "customer")),
        payment_method_id=_id(_get(obj, "payment_method")),
        client_secret=_get(obj, "client_secret", ""),
        metadata=dict(_get(obj, "metadata", {}) or {}),
        failure_code=_get(error, "code", ""),
        decline_code=_get(error, "decline_code", ""),
        failure_message=_get(error, "message", ""),
        next_action_type=_get(next_action, "type", ""),
        voucher=_voucher(next_action),
    )


def _card(obj) -> Card:
    obj = _plain(obj)
    if _get(obj, "type") != "card":
        raise PaymentRequestInvalid(f"Payment method {_get(obj, 'id')} is not a card.")
    card = _get(obj, "card")
    return Card(
        id=_get(obj, "id"),
        customer_id=_id(_get(obj, "customer")),
        brand=str(_get(card, "brand", "")),
        last4=str(_get(card, "last4", "")),
        exp_month=int(_get(card, "exp_month", 0)),
        exp_year=int(_get(card, "exp_year", 0)),
    )


def _setup(obj) -> Setup:
    obj = _plain(obj)
    return Setup(
        id=_get(obj, "id"),
        status=_get(obj, "status", ""),
        customer_id=_id(_get(obj, "customer")),
        payment_method_id=_id(_get(obj, "payment_method")),
        client_secret=_get(obj, "client_secret", ""),
        metadata=dict(_get(obj, "metadata", {}) or {}),
    )


def _refund(obj) -> RefundState:
    obj = _plain(obj)
    currency = str(_get(obj, "currency", "")).upper()
    return RefundState(
        id=_get(obj, "id"),
        status=_get(obj, "status", ""),
        amount=from_minor(_get(obj, "amount", 0), currency),
        currency=currency,
        payment_intent_id=_id(_get(obj, "payment_intent")),
        metadata=dict(_get(obj, "metadata", {}) or {}),
        failure_reason=_get(obj, "failure_reason", ""),
    )


# Customers and saved cards -----------------------------------------------------------------------------------------


def customer_create(*, name: str, email: str, party_key: str) -> str:
    with _stripe_call():
        customer = stripe.Customer.create(
            name=name, email=email, metadata={"party": party_key}, idempotency_key=f"customer:{party_key}"
        )
    return customer.id


def setup_intent_create(*, customer_id: str, metadata: dict) -> Setup:
    """A SetupIntent saving a card for later off-session charges; Stripe.js confirms it with the card."""
    with _stripe_call():
        return _setup(
            stripe.SetupIntent.create(
                customer=customer_id, usage="off_session", payment_method_types=["card"], metadata=metadata
            )
        )


def setup_intent_retrieve(setup_intent_id: str) -> Setup:
    with _stripe_call():
        return _setup(stripe.SetupIntent.retrieve(setup_intent_id))


def card_retrieve(payment_method_id: str) -> Card:
    with _stripe_call():
        return _card(stripe.PaymentMethod.retrieve(payment_method_id))


def card_attach(*, payment_method_id: str, customer_id: str) -> Card:
    with _stripe_call():
        return _card(stripe.PaymentMethod.attach(payment_method_id, customer=customer_id))


def card_detach(payment_method_id: str) -> None:
    with _stripe_call():
        stripe.PaymentMethod.detach(payment_method_id)


# Payments ----------------------------------------------------------------------------------------------------------


def card_intent_create(
    *,
    amount: Decimal,
    currency: str,
    customer_id: str,
    payment_method_id: str,
    metadata: dict,
    idempotency_key: str,
) -> Intent:
    """A card PaymentIntent, not confirmed yet: nothing is charged until `intent_confirm`. Created apart from the
    confirmation so its id is recorded before any money can move."""
    with _stripe_call():
        return _intent(
            stripe.PaymentIntent.create(
                amount=to_minor(amount, currency),
                currency=currency.lower(),
                customer=customer_id,
                payment_method=payment_method_id,
                payment_method_types=["card"],
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )


def intent_confirm(*, intent_id: str, off_session: bool, idempotency_key: str) -> Intent:
    """Confirm (charge) a PaymentIntent. A decline raises PaymentDeclined; on-session, a card that asks for
    3-D Secure comes back as requires_action, with the client secret Stripe.js needs."""
    params = {"off_session": True} if off_session and settings.STRIPE_CONFIRM_OFF_SESSION else {}
    with _stripe_call():
        return _intent(stripe.PaymentIntent.confirm(intent_id, idempotency_key=idempotency_key, **params))


def intent_retrieve(intent_id: str) -> Intent:
    with _stripe_call():
        return _intent(stripe.PaymentIntent.retrieve(intent_id))


def intent_cancel(intent_id: str) -> Intent:
    with _stripe_call():
        return _intent(stripe.PaymentIntent.cancel(intent_id))


def voucher_intent_create(
    *,
    kind: str,
    amount: Decimal,
    currency: str,
    customer_id: str,
    billing_details: dict,
    tax_id: str,
    metadata: dict,
    idempotency_key: str,
) -> Intent:
    """A PIX or Boleto PaymentIntent, created and confirmed at once: it comes back requires_action with the QR code
    or voucher to show (next_action.pix_display_qr_code / boleto_display_details) and succeeds asynchronously when
    the payer pays, or fails when the voucher expires. Nothing is taken by creating it."""
    if kind == "pix":
        data = {"type": "pix"}
        options = {"pix": {"expires_after_seconds": settings.PIX_EXPIRES_AFTER_SECONDS}}
    else:
        data = {"type": "boleto", "boleto": {"tax_id": tax_id}, "billing_details": billing_details}
        options = {"boleto": {"expires_after_days": settings.BOLETO_EXPIRES_AFTER_DAYS}}
    with _stripe_call():
        return _intent(
            stripe.PaymentIntent.create(
                amount=to_minor(amount, currency),
                currency=currency.lower(),
                customer=customer_id,
                payment_method_types=[kind],
                payment_method_data=data,
                payment_method_options=options,
                confirm=True,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )


# Refunds -----------------------------------------------------------------------------------------------------------


def refund_create(
    *, intent_id: str, amount: Decimal, currency: str, metadata: dict, idempotency_key: str
) -> RefundState:
    with _stripe_call():
        return _refund(
            stripe.Refund.create(
                payment_intent=intent_id,
                amount=to_minor(amount, currency),
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )


def refunds_of(intent_id: str) -> list[RefundState]:
    """Every refund of a PaymentIntent (newest first)."""
    with _stripe_call():
        listing = stripe.Refund.list(payment_intent=intent_id, limit=100)
        return [_refund(refund) for refund in listing.auto_paging_iter()]


# Webhooks ----------------------------------------------------------------------------------------------------------


def webhook_event(*, payload: bytes, signature: str | None) -> dict:
    """The event, once its Stripe-Signature header verifies against STRIPE_WEBHOOK_SECRET."""
    if not signature:
        raise WebhookInvalid("The Stripe-Signature header is missing.")
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise WebhookInvalid("STRIPE_WEBHOOK_SECRET is not configured.")
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except stripe.SignatureVerificationError as error:
        raise WebhookInvalid(f"The signature does not verify: {error}") from error
    except ValueError as error:
        raise WebhookInvalid(f"The payload is not a Stripe event: {error}") from error
    return _plain(event)


def event_object_id(event: dict) -> str:
    return _id(_get(_get(event, "data", {}), "object", {}))


def event_object_field(event: dict, name: str) -> str:
    return _id(_get(_get(_get(event, "data", {}), "object", {}), name))
