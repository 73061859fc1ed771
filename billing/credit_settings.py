"""A hub's credit settings, changed from the Client Hub: auto-renewal and the monthly prepayment. (Adding funds is
billing.payments.topup_requests, shared by the Funds page and the API.)"""

import logging
from decimal import Decimal

from django.db import transaction

from billing.invoicing.prepayments import TOPUP_MAX, TOPUP_MIN
from billing.ledger import accounts_lock
from billing.models import CreditAccount
from billing.money import is_cents
from billing.payments.topups import topup_needed
from billing.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

UNCHANGED = object()


class CreditSettingsError(ValueError):
    """A setting refused; nothing was changed. The message says why."""


def _check_amount(name: str, amount: Decimal, low: Decimal, high: Decimal) -> None:
    if not is_cents(amount) or not low <= amount <= high:
        raise CreditSettingsError(f"The {name} is between {low} and {high}, in whole cents; got {amount}.")


def credit_settings_update(
    *,
    account: CreditAccount,
    auto_renew: bool | None = None,
    auto_renew_threshold: Decimal | None = None,
    auto_renew_amount: Decimal | None = None,
    monthly_prepayment: Decimal | None | object = UNCHANGED,
) -> CreditAccount:
    """Change a hub's auto-renewal (on/off, threshold, amount) and monthly prepayment (None or 0 turns it off).
    Only what is given changes. Turning auto-renewal on, or raising the threshold, while the balance is already
    below the line queues the top-up now: the ledger only queues one when a posting crosses the line."""
    if auto_renew_threshold is not None:
        _check_amount("auto-renewal threshold", auto_renew_threshold, Decimal("0.00"), TOPUP_MAX)
    if auto_renew_amount is not None:
        _check_amount("auto-renewal amount", auto_renew_amount, TOPUP_MIN, TOPUP_MAX)
    if monthly_prepayment is not UNCHANGED and monthly_prepayment:
        _check_amount("monthly prepayment", monthly_prepayment, TOPUP_MIN, TOPUP_MAX)
    with transaction.atomic():
        account = accounts_lock([account.pk])[account.pk]
        was_needed = topup_needed(account)
        changes = {
            "auto_renew": auto_renew,
            "auto_renew_threshold": auto_renew_threshold,
            "auto_renew_amount": auto_renew_amount,
        }
        fields = [name for name, value in changes.items() if value is not None]
        for name in fields:
            setattr(account, name, changes[name])
        if monthly_prepayment is not UNCHANGED:
            account.monthly_prepayment = monthly_prepayment or None
            fields.append("monthly_prepayment")
        if fields:
            account.save(update_fields=[*fields, "updated_at"])
        if topup_needed(account) and not was_needed:
            enqueue_on_commit("billing.auto_topup", [account.pk])
    return account
