"""Prepayment Invoices for Usage Cost: a top-up, or the monthly prepayment issued on the last day of the month.
The funds reach the credit balance only when the invoice is paid (`invoice_mark_paid`)."""

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from functools import partial

from django.utils.translation import gettext_noop

from billing import formats
from billing.invoicing.issue import Draft, DraftLine, Phrase, card_payers, company_of, invoices_issue
from billing.models import CreditAccount, Invoice, InvoiceKind
from billing.money import is_cents
from billing.sql import one_of
from core import clock
from hub.models import Hub

TOPUP_MIN = Decimal("10.00")
TOPUP_MAX = Decimal("10000.00")
TOPUP_LABEL = Phrase(gettext_noop("Funds added to Credit Balance"))


class PrepaymentError(ValueError):
    pass


def _draft(hub: Hub, amount: Decimal, period_key: str, start: dt.date, end: dt.date, label: Phrase, card) -> Draft:
    company, tax = company_of(hub.client)
    return Draft(
        kind=InvoiceKind.PREPAYMENT, party_key=f"hub:{hub.id}", period_key=period_key, period_start=start,
        period_end=end, currency=hub.currency, billed_company={**company, "hub_id": hub.hub_id}, tax=tax,
        pays_by_card=("client", hub.client_id) in card, hub_id=hub.id, client_id=hub.client_id,
        lines=[DraftLine("charge", label, amount, details={"funds": str(amount)})],
        language=hub.client.billing_language,
    )  # fmt: skip


def _short(request_key: str) -> str:
    """The request key as it fits the 40-character period key: as given when short, else its digest (never cut)."""
    if len(request_key) <= 34:
        return request_key
    return hashlib.sha256(request_key.encode()).hexdigest()[:34]


def topup_issue(*, hub: Hub, amount: Decimal, request_key: str, issued_at: dt.datetime | None = None) -> Invoice:
    """A Prepayment Invoice for a top-up of `amount`. `request_key` makes a repeated request (a double click, a
    retried API call) return the same invoice instead of a second one."""
    if not is_cents(amount) or not TOPUP_MIN <= amount <= TOPUP_MAX:
        raise PrepaymentError(
            f"A top-up is between {TOPUP_MIN} and {TOPUP_MAX} {hub.currency}, in whole cents; got {amount}."
        )
    issued_at = issued_at or clock.now()
    period_key = f"topup:{_short(request_key)}"
    card = card_payers(client_ids=[hub.client_id])
    day = issued_at.date()
    draft = _draft(hub, amount, period_key, day, day + dt.timedelta(days=1), TOPUP_LABEL, card)
    invoices_issue(drafts=[draft], issued_at=issued_at)
    return Invoice.objects.get(party_key=f"hub:{hub.id}", kind=InvoiceKind.PREPAYMENT, period_key=period_key)


def monthly_prepayment_issue(
    *, month: dt.date, issued_at: dt.datetime, hub_ids: Sequence[int] | None = None
) -> list[Invoice]:
    """On the last day of `month`: each hub with a monthly prepayment amount gets its Prepayment Invoice for the
    next month's messaging."""
    accounts = CreditAccount.objects.filter(monthly_prepayment__gt=0).select_related("hub__client")
    if hub_ids is not None:
        accounts = accounts.filter(one_of("hub__id", hub_ids))
    accounts = list(accounts)
    card = card_payers(client_ids=[a.hub.client_id for a in accounts])
    funded = clock.next_month(month)
    drafts = [
        _draft(
            account.hub,
            account.monthly_prepayment,
            f"monthly:{funded:%Y-%m}",
            funded,
            clock.next_month(funded),
            Phrase(
                gettext_noop("Monthly prepayment for usage costs, %(month)s"), {"month": partial(formats.month, funded)}
            ),
            card,
        )  # fmt: skip
        for account in accounts
    ]
    return invoices_issue(drafts=drafts, issued_at=issued_at)
