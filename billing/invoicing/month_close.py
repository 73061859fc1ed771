"""The Month Closing Invoice (MCI) and the month close of the credit ledger (DESIGN.md, "Month Closing Invoice").

For a hub and billing month P, from the ledger (all figures in cents once the month is squared). W, the MCI's
window, is the months after the hub's previous MCI up to P (every month up to P for its first MCI): a month without
billable usage gets no MCI, and what was posted in it is shown on the next MCI, so every entry is on exactly one
MCI and each MCI starts where the previous one ended plus what it invoiced (S' = E + D).
    S = entries before W + MCI_INVOICED opening W                (Starting Balance)
    A = FUNDS_ADDED + FUNDS_RETURNED in W                        (Total Added Funds)
    U = −(USAGE + ROUNDING) in W                                 (Total Usage)
    R = REFUND in W                                              (Total Refunds)
    C = RECONCILIATION + MANUAL_ADJUSTMENT in W                  (Usage Reconciliation)
    E = S + A − U + R + C                                        (Ending Balance)
    D = max(0, −E)                                               (amount due)
Lines: WhatsApp Usage Costs U; Usage Reconciliation −C (when not zero); Settled with Credit Balance −(U − C − D);
Transaction Fee; tax. Issuing posts MCI_INVOICED +D at the opening of P+1: the debt moves from the balance to the
invoice and is never billed twice. Closing squares the month's sub-cent usage with a ROUNDING entry and marks the
month closed on the account, so late entries count in the next month and an issued MCI never changes.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, CharField, Exists, F, Max, Min, OuterRef, Q, Sum, Value, When
from django.utils.translation import gettext_noop
from djmoney.money import Money

from billing.invoicing.issue import Draft, DraftLine, Phrase, card_payers, company_of, invoices_issue
from billing.invoicing.month_close_set import month_close_chunk
from billing.ledger import Posting, accounts_lock, post_locked
from billing.models import CreditAccount, EntryKind, Invoice, InvoiceKind, LedgerEntry, MessageUsage
from billing.money import cents, micros
from billing.sql import one_of
from core import clock
from hub.models import Hub

BUCKETS = {
    EntryKind.FUNDS_ADDED: "A", EntryKind.FUNDS_RETURNED: "A", EntryKind.USAGE: "U", EntryKind.ROUNDING: "U",
    EntryKind.REFUND: "R", EntryKind.RECONCILIATION: "C", EntryKind.MANUAL_ADJUSTMENT: "C",
    EntryKind.MCI_INVOICED: "S",
}  # fmt: skip


@dataclass(frozen=True)
class MonthFigures:
    starting_balance: Decimal
    added_funds: Decimal
    usage: Decimal
    refunds: Decimal
    reconciliation: Decimal
    rounding: Decimal  # the ROUNDING entry that squares the month's usage to the cent

    @property
    def ending_balance(self) -> Decimal:
        return self.starting_balance + self.added_funds - self.usage + self.refunds + self.reconciliation

    @property
    def amount_due(self) -> Decimal:
        return max(Decimal("0.00"), -self.ending_balance)

    @property
    def settled_with_credit(self) -> Decimal:
        return self.usage - self.reconciliation - self.amount_due

    def summary(self, hub_id: str) -> dict:
        return {
            "hub_id": hub_id, "starting_balance": str(self.starting_balance),
            "total_added_funds": str(self.added_funds), "total_usage": str(self.usage),
            "total_refunds": str(self.refunds), "ending_balance": str(self.ending_balance),
            "usage_reconciliation": str(self.reconciliation),
        }  # fmt: skip


def month_figures(sums: dict[str, Decimal]) -> MonthFigures:
    """From the month's sums by bucket (`before` = all earlier months; S, A, U, R, C as above, signed as posted)."""
    usage_exact = Decimal(0) - sums.get("U", Decimal(0))  # not -0 when there is no usage entry: "0.00", not "-0.00"
    usage = cents(usage_exact)
    return MonthFigures(
        starting_balance=cents(sums.get("before", Decimal(0)) + sums.get("S", Decimal(0))),
        added_funds=cents(sums.get("A", Decimal(0))),
        usage=usage,
        refunds=cents(sums.get("R", Decimal(0))),
        reconciliation=cents(sums.get("C", Decimal(0))),
        rounding=usage_exact - usage,
    )


TEXT = CharField()


def windows_start(accounts: Sequence[CreditAccount], period: dt.date) -> dict[int, dt.date | None]:
    """Per account, the first month its MCI for `period` shows: the month after its hub's latest MCI before
    `period` (issued or voided), so what was posted in months without an MCI is shown on this one; None when the hub
    has had no MCI yet (the first MCI shows everything since the account opened). One query."""
    latest = dict(
        Invoice.objects.filter(
            one_of("hub__id", [a.hub_id for a in accounts]), kind=InvoiceKind.MONTH_CLOSING, period_start__lt=period
        )
        .values("hub_id")
        .annotate(latest=Max("period_start"))
        .values_list("hub_id", "latest")
    )
    return {a.id: clock.next_month(latest[a.hub_id]) if a.hub_id in latest else None for a in accounts}


def _shown_on_this_mci(windows: dict[int, dt.date | None]) -> Case:
    """'in' for an entry in its account's window (see `windows_start`), else 'before' (the Starting Balance)."""
    by_start: dict[dt.date | None, list[int]] = defaultdict(list)
    for account_id, start in windows.items():
        by_start[start].append(account_id)
    whens = [
        When(one_of("account__id", ids) & (Q(period__gte=start) if start else Q()), then=Value("in"))
        for start, ids in by_start.items()
    ]
    return Case(*whens, default=Value("before"), output_field=TEXT)


def _sums(windows: dict[int, dt.date | None], period: dt.date) -> dict[int, dict[str, Decimal]]:
    """Per account: the sum of everything before its window, and of its window up to `period` by bucket (A, U, R,
    C; MCI_INVOICED, which opens the window, counts in S). One query."""
    rows = (
        LedgerEntry.objects.filter(one_of("account__id", list(windows)), period__lte=period)
        .annotate(when=_shown_on_this_mci(windows))
        .values("account_id", "kind", "when")
        .annotate(total=Sum("amount"))
    )
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        bucket = "before" if row["when"] == "before" else BUCKETS[row["kind"]]
        sums[row["account_id"]][bucket] += micros(Decimal(row["total"]))  # SQLite sums in floats
    return sums


def _mci_lines(figures: MonthFigures) -> list[DraftLine]:
    lines = [DraftLine("usage", Phrase(gettext_noop("WhatsApp Usage Costs")), figures.usage)]
    if figures.reconciliation:
        lines.append(DraftLine("reconciliation", Phrase(gettext_noop("Usage Reconciliation")), -figures.reconciliation))
    settled = Phrase(gettext_noop("Settled with Credit Balance"))
    lines.append(DraftLine("settled", settled, -figures.settled_with_credit))
    return lines


def month_close(*, hub_ids: Sequence[int], period: dt.date, issued_at: dt.datetime) -> Sequence[Invoice]:
    """Close `period` for these hubs and issue their MCIs. Hubs whose month is already closed are skipped, so the
    job can run again (or on two workers) and closes each month once. A month left open before `period` (a missed
    billing day) is closed first, in order, each with its own MCI: no month is folded unsquared into another."""
    issued = [_month_close_one(hub_ids=hub_ids, period=m, issued_at=issued_at) for m in _open_months(hub_ids, period)]
    return issued[0] if len(issued) == 1 else [invoice for invoices in issued for invoice in invoices]


def _open_months(hub_ids: Sequence[int], period: dt.date) -> list[dt.date]:
    """The months up to `period` that some of these hubs have entries in and have not closed. One query."""
    earliest = (
        LedgerEntry.objects.filter(one_of("account__hub__id", hub_ids), period__lt=period)
        .filter(Q(account__closed_through__isnull=True) | Q(period__gt=F("account__closed_through")))
        .aggregate(first=Min("period"))["first"]
    )
    months, month = [], earliest or period
    while month <= period:
        months.append(month)
        month = clock.next_month(month)
    return months


def _month_close_one(*, hub_ids: Sequence[int], period: dt.date, issued_at: dt.datetime) -> Sequence[Invoice]:
    with transaction.atomic():
        account_ids = list(CreditAccount.objects.filter(one_of("hub__id", hub_ids)).values_list("id", flat=True))
        accounts = accounts_lock(account_ids)
        open_accounts = [a for a in accounts.values() if a.closed_through is None or a.closed_through < period]
        if not open_accounts:
            return []
        close = month_close_chunk if connection.vendor == "postgresql" else month_close_per_hub
        return close(accounts=accounts, open_accounts=open_accounts, period=period, issued_at=issued_at)


def month_close_per_hub(*, accounts, open_accounts, period: dt.date, issued_at: dt.datetime) -> list[Invoice]:
    """The month close of locked accounts a hub at a time, through drafts and `invoices_issue`: the portable path
    (SQLite, the embedded default). On PostgreSQL `month_close_chunk` does the same set-based; a test proves both
    write the same invoices, lines and entries."""
    figures = {a.id: month_figures(s) for a, s in _with_sums(open_accounts, period)}
    _square(accounts, open_accounts, figures, period)
    invoices = invoices_issue(drafts=_drafts(open_accounts, figures, period), issued_at=issued_at)
    _move_debt_to_invoices(accounts, invoices, figures, period)
    CreditAccount.objects.filter(one_of("id", [a.id for a in open_accounts])).update(closed_through=period)
    return invoices


def _with_sums(open_accounts, period):
    sums = _sums(windows_start(open_accounts, period), period)
    return [(account, sums.get(account.id, {})) for account in open_accounts]


def _square(accounts, open_accounts, figures, period: dt.date) -> None:
    """Post each month's ROUNDING entry (the sub-cent remainder of its usage) inside the month."""
    _, end = clock.period_bounds(period)
    postings = [
        Posting(
            account_id=a.id,
            kind=EntryKind.ROUNDING,
            amount=Money(figures[a.id].rounding, a.currency),
            key=f"rounding:{a.id}:{period:%Y-%m}",
            occurred_at=end - dt.timedelta(microseconds=1),
            reference=f"Usage rounded to the cent, {period:%B %Y}",
        )  # fmt: skip
        for a in open_accounts
        if figures[a.id].rounding
    ]
    if postings:
        post_locked(accounts=accounts, postings=postings)


def _drafts(open_accounts, figures, period: dt.date) -> list[Draft]:
    """An MCI for every hub that had billable usage in the month."""
    billable = MessageUsage.objects.filter(hub=OuterRef("pk"), period=period, billable=True)
    hubs = {
        h.id: h
        for h in Hub.objects.filter(one_of("id", [a.hub_id for a in open_accounts]))
        .filter(Exists(billable))  # an index probe per hub that stops at the first message
        .select_related("client")
    }
    card = card_payers(client_ids=[h.client_id for h in hubs.values()])
    drafts = []
    for account in open_accounts:
        hub = hubs.get(account.hub_id)
        if hub is None:
            continue
        company, tax = company_of(hub.client)
        drafts.append(
            Draft(
                kind=InvoiceKind.MONTH_CLOSING,
                party_key=f"hub:{hub.id}",
                period_key=f"{period:%Y-%m}",
                period_start=period,
                period_end=clock.next_month(period),
                currency=hub.currency,
                billed_company={**company, "hub_id": hub.hub_id},
                tax=tax,
                pays_by_card=("client", hub.client_id) in card,
                lines=_mci_lines(figures[account.id]),
                hub_id=hub.id,
                client_id=hub.client_id,
                summary=figures[account.id].summary(hub.hub_id),
                show_zero_fee=True,
                language=hub.client.billing_language,
            )  # fmt: skip
        )
    return drafts


def _move_debt_to_invoices(accounts, invoices: list[Invoice], figures, period: dt.date) -> None:
    """MCI_INVOICED +D at the opening of the next month: the balance no longer owes what the invoice bills."""
    by_hub = {a.hub_id: a for a in accounts.values()}
    opening, _ = clock.period_bounds(clock.next_month(period))
    postings = []
    for invoice in invoices:
        account = by_hub[invoice.hub_id]
        due = figures[account.id].amount_due
        if due:
            postings.append(
                Posting(
                    account_id=account.id,
                    kind=EntryKind.MCI_INVOICED,
                    amount=Money(due, account.currency),
                    key=f"mci:{invoice.number}",
                    occurred_at=opening,
                    reference=invoice.number,
                )  # fmt: skip
            )
    if postings:
        post_locked(accounts=accounts, postings=postings)
