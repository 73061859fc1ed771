"""Emails to a client's billing address before and when its service pauses: the credit balance fell below the
client's alert threshold, the credit ran out (messaging paused), a saved card expires in 30 or in 7 days.

Once per crossing, not per event: the ledger calls `balance_alerts_on_crossing` with each touched account's balance
before and after a posting (already in memory, under the account's lock), so a batch that crosses nothing costs no
query, and a thousand debits that take the balance below the threshold send one email, from the posting that
crossed it. The email is queued when the transaction commits; a rolled-back posting sends nothing.
"""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from billing import formats
from billing.models import CardExpiryReminder, CreditAccount, PaymentMethod, PaymentMethodKind
from billing.queue import enqueue_on_commit
from core import clock

LOW_BALANCE = "low_balance"
RUN_OUT = "run_out"
REMINDER_DAYS = (30, 7)


def money_text(amount: Decimal, currency: str) -> str:
    """In the active language's layout: the alerts render in the recipient party's language."""
    return formats.money(amount.quantize(Decimal("0.01")), currency)


def low_balance_crossed(account: CreditAccount, before: Decimal) -> bool:
    threshold = account.low_balance_alert
    return threshold is not None and before >= threshold > account.balance


def run_out_crossed(account: CreditAccount, before: Decimal) -> bool:
    return before > 0 >= account.balance


def balance_alerts_on_crossing(*, accounts: Iterable[CreditAccount], before: dict[int, Decimal]) -> None:
    """The ledger's hook (in its transaction): queue an alert for each balance that just crossed a line. Running out
    says more than running low, so a posting that crosses both sends the run-out alert only."""
    alerts = []
    for account in accounts:
        ran_out = run_out_crossed(account, before[account.id])
        if ran_out and account.run_out_alert:
            alerts.append([account.id, RUN_OUT, str(account.balance)])
        elif low_balance_crossed(account, before[account.id]) and not ran_out:
            alerts.append([account.id, LOW_BALANCE, str(account.balance)])
    if alerts:  # one task for the batch: a usage batch may take hundreds of hubs across at once
        enqueue_on_commit("billing.balance_alerts", alerts)


def _send(recipient: str, subject: str, body: str) -> None:
    if recipient:
        EmailMessage(subject=subject, body=f"{body}\n\n{settings.PROVIDER_NAME}\n", to=[recipient]).send()


def balance_alert_send(*, account_id: int, kind: str, balance: Decimal) -> None:
    """The email for one crossing; `balance` is the balance right after the posting that crossed."""
    account = CreditAccount.objects.select_related("hub__client").get(pk=account_id)
    with translation.override(account.hub.client.billing_language):
        _balance_email(account=account, kind=kind, balance=balance)


def _balance_email(*, account: CreditAccount, kind: str, balance: Decimal) -> None:
    hub, client = account.hub, account.hub.client
    figures = {"company": client.company_name, "hub": hub.name, "hub_id": hub.hub_id,
               "balance": money_text(balance, account.currency)}  # fmt: skip
    if kind == RUN_OUT:
        subject = _("Credit used up: outbound messages of %(hub)s are paused") % figures
        body = _(
            "Hello %(company)s,\n\nthe credit balance of hub %(hub)s (%(hub_id)s) is %(balance)s, so its outbound "
            "messages are paused.\nAdd funds on the Funds page of the Client Hub and sending resumes automatically."
        ) % figures
    elif kind == LOW_BALANCE:
        figures["threshold"] = money_text(account.low_balance_alert or Decimal(0), account.currency)
        subject = _("Low credit balance: %(hub)s is at %(balance)s") % figures
        body = _(
            "Hello %(company)s,\n\nthe credit balance of hub %(hub)s (%(hub_id)s) fell below your alert threshold of "
            "%(threshold)s: it is %(balance)s now.\nAdd funds on the Funds page of the Client Hub before it runs out: "
            "at 0.00 outbound messages are paused."
        ) % figures
    else:
        raise ValueError(f"Unknown balance alert {kind!r}")
    _send(client.billing_email, subject, body)


# Cards about to expire ---------------------------------------------------------------------------------------------


def card_expires_on(method: PaymentMethod) -> dt.date | None:
    """A card is valid through the last day of its expiry month."""
    if not (method.exp_month and method.exp_year):
        return None
    first = dt.date(method.exp_year, method.exp_month, 1)
    return clock.next_month(first) - dt.timedelta(days=1)


def reminder_due(expires_on: dt.date, today: dt.date) -> int | None:
    """The lead time whose reminder is due today: the shortest one reached (7 before 30), or None."""
    left = (expires_on - today).days
    if left < 0:
        return None
    due = [days for days in REMINDER_DAYS if left <= days]
    return min(due) if due else None


def card_expiry_reminders_send(*, today: dt.date | None = None) -> int:
    """Daily: email each party whose saved card expires within 30 days (then within 7), once per card and lead
    time. A card already within 7 days when first seen gets the 7-day reminder only."""
    today = today or clock.now().date()
    horizon = today + dt.timedelta(days=max(REMINDER_DAYS))
    cards = PaymentMethod.objects.filter(
        kind=PaymentMethodKind.CARD, exp_year__isnull=False, exp_month__isnull=False,
        exp_year__lte=horizon.year, exp_year__gte=today.year,
    ).select_related("client", "partner")  # fmt: skip
    reminders = CardExpiryReminder.objects.filter(payment_method__in=cards)
    sent_before = set(reminders.values_list("payment_method_id", "days_before"))
    sent = 0
    for card in cards:
        expires_on = card_expires_on(card)
        days = reminder_due(expires_on, today) if expires_on else None
        if days is None or (card.pk, days) in sent_before:
            continue
        if _reminder_record(card, days):
            _card_email(card, expires_on)
            sent += 1
    return sent


def _reminder_record(card: PaymentMethod, days: int) -> bool:
    """Record the reminder before sending (two runs race: one wins, the other sends nothing)."""
    try:
        with transaction.atomic():
            CardExpiryReminder.objects.create(payment_method=card, days_before=days, sent_at=clock.now())
    except IntegrityError:
        return False
    return True


def _card_email(card: PaymentMethod, expires_on: dt.date) -> None:
    party = card.client or card.partner
    with translation.override(party.billing_language):
        _card_email_in_language(card=card, party=party, expires_on=expires_on)


def _card_email_in_language(*, card: PaymentMethod, party, expires_on: dt.date) -> None:
    where = _("Client Hub") if card.client_id else _("Partner Hub")
    figures = {"company": party.company_name, "card": f"{(card.brand or 'Card').capitalize()} •••• {card.last4}",
               "date": formats.day(expires_on), "where": where}  # fmt: skip
    subject = _("Your card %(card)s expires on %(date)s") % figures
    body = _(
        "Hello %(company)s,\n\nyour saved card %(card)s expires on %(date)s. Invoices and automatic top-ups are "
        "charged to it; once it has expired, charges fail and services may be paused.\nAdd a new card under "
        "Payment methods in the %(where)s."
    ) % figures
    _send(party.billing_email, subject, body)


def balance_alerts_update(
    *, account: CreditAccount, low_balance_alert: Decimal | None, run_out_alert: bool
) -> CreditAccount:
    """Set the client's alerts (Funds page; the form checks the amount). The next crossing is judged against the
    new threshold; a balance already below it sends nothing until it rises above and falls again."""
    with transaction.atomic():
        CreditAccount.objects.filter(pk=account.pk).update(
            low_balance_alert=low_balance_alert, run_out_alert=run_out_alert
        )
        account.low_balance_alert, account.run_out_alert = low_balance_alert, run_out_alert
    return account
