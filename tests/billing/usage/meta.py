"""What the Meta webhook tests share: Meta's signature (computed here, not by the code under test), a rate card, the
test's WABA and number, posting a signed body through Django, and the hub's balance."""

import datetime as dt
import hashlib
import hmac
from decimal import Decimal

from django.test import Client, TestCase

from billing.models import CreditAccount, RateCardRate
from tests.factories import PhoneNumberFactory, WabaFactory


def meta_signature(body: bytes, secret: str) -> str:
    """X-Hub-Signature-256 as Meta computes it: `sha256=` + the hex HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rates_create(rates, *, effective_date=dt.date(2025, 1, 1)) -> None:
    """(currency, market, category, rate) rows of a rate card effective from `effective_date`."""
    RateCardRate.objects.bulk_create(
        RateCardRate(effective_date=effective_date, currency=c, market=m, category=k, rate=Decimal(r))
        for c, m, k, r in rates
    )


def meta_number(*, waba_id: str, phone_number_id: str):
    """The test's number (+1 555 078 3881, as in Meta's samples) with its Meta ids."""
    return PhoneNumberFactory(
        e164="+15550783881", meta_phone_number_id=phone_number_id, waba=WabaFactory(meta_waba_id=waba_id)
    )


def signed_post(body: bytes, signature: str | None):
    """POST /webhooks/meta/ (no X-Hub-Signature-256 when `signature` is empty). The test's transaction never
    commits: the drain queued on commit runs as the real commit would run it (eagerly)."""
    headers = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post("/webhooks/meta/", body, content_type="application/json", **headers)


def balance(number) -> Decimal:
    return CreditAccount.objects.get(hub=number.waba.hub).balance
