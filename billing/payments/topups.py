"""Automatic top-ups: when a hub's balance falls below its auto-renewal threshold, a top-up of the set amount is
issued and charged to its card; with the balance below zero, an emergency top-up is issued even when auto-renewal
is off (large enough to bring the balance back to the threshold).

Once per dip: the ledger queues `auto_topup_evaluate` after every posting that leaves an account low, and usage
keeps arriving while a charge is in flight, so the evaluation runs under the account's lock and issues nothing while
any Prepayment Invoice of the hub is pending (being charged) or unpaid. Each auto top-up's request key counts the
hub's auto top-ups ("auto:<account>:<n>"), so even two evaluations of the same dip name the same invoice, which
exists once.
"""

from decimal import ROUND_CEILING, Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef

from billing.invoicing.prepayments import TOPUP_MAX, TOPUP_MIN, topup_issue
from billing.ledger import accounts_lock
from billing.models import CreditAccount, Invoice, InvoiceKind, InvoiceStatus, PaymentMethod, PaymentMethodKind
from billing.queue import enqueue_on_commit
from billing.sql import one_of

AUTO_PREFIX = "topup:auto:"


def topup_needed(account: CreditAccount) -> bool:
    return account.balance < 0 or (account.auto_renew and account.balance < account.auto_renew_threshold)


def topup_amount(account: CreditAccount) -> Decimal:
    """The set amount; below zero, at least enough to reach the threshold again. Within the top-up limits."""
    amount = account.auto_renew_amount
    if account.balance < 0:
        deficit = (max(account.auto_renew_threshold, Decimal(0)) - account.balance).quantize(
            Decimal("0.01"), rounding=ROUND_CEILING
        )
        amount = max(amount, deficit)
    return min(max(amount, TOPUP_MIN), TOPUP_MAX)


def auto_topup_candidates(*, account_ids: list[int]) -> list[int]:
    """The accounts worth a look, in one query: a card to charge, and no top-up already being charged or awaiting
    payment. The ledger queues every low account of a usage batch (hundreds); most need nothing."""
    open_prepayment = Invoice.objects.filter(
        hub_id=OuterRef("hub_id"), kind=InvoiceKind.PREPAYMENT, status__in=(InvoiceStatus.PENDING, InvoiceStatus.UNPAID)
    )
    card = PaymentMethod.objects.filter(client_id=OuterRef("hub__client_id"), kind=PaymentMethodKind.CARD)
    return list(
        CreditAccount.objects.filter(one_of("id", account_ids))
        .filter(Exists(card))
        .exclude(Exists(open_prepayment))
        .order_by("id")
        .values_list("id", flat=True)
    )


def auto_topup_evaluate(*, account_id: int) -> Invoice | None:
    """Issue the hub's automatic top-up if its balance needs one and none is under way; its charge is queued when
    the transaction commits. None when nothing is issued."""
    with transaction.atomic():
        account = accounts_lock([account_id])[account_id]
        if not topup_needed(account):
            return None
        hub = account.hub
        if not PaymentMethod.objects.filter(client_id=hub.client_id, kind=PaymentMethodKind.CARD).exists():
            return None  # nothing to charge: the balance block tells the client to add funds
        prepayments = Invoice.objects.filter(hub=hub, kind=InvoiceKind.PREPAYMENT)
        if prepayments.filter(status__in=(InvoiceStatus.PENDING, InvoiceStatus.UNPAID)).exists():
            return None  # one is being charged, or awaits payment: this dip is covered
        count = prepayments.filter(period_key__startswith=AUTO_PREFIX).count()
        invoice = topup_issue(hub=hub, amount=topup_amount(account), request_key=f"auto:{account.pk}:{count + 1}")
        if invoice.status == InvoiceStatus.PENDING:
            enqueue_on_commit("billing.charge_invoice", invoice.pk)
    return invoice
