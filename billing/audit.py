"""The ledger audit: proves every account's books from its entries. Set-based queries, not a loop per account."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, F, Max, OuterRef, Q, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, Round

from billing.models import AuditRun, CreditAccount, EntryKind, LedgerEntry, MessageUsage
from billing.money import micros
from core import clock
from hub.models import PhoneNumber

ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=6))


def exact(expression):
    """A money sum rounded to the ledger's 6 places. PostgreSQL sums numerics exactly; SQLite (the embedded
    default) sums in binary floating point, and rounding to 6 places restores the exact decimal."""
    return Round(expression, 6, output_field=DecimalField(max_digits=18, decimal_places=6))


@dataclass(frozen=True)
class Violation:
    hub_id: str
    account_id: int
    problem: str

    def __str__(self) -> str:
        return f"hub {self.hub_id} (credit account {self.account_id}): {self.problem}"


def audit_run_record() -> AuditRun:
    """Run the audit and keep its outcome."""
    started_at = clock.now()
    violations = ledger_audit()
    return AuditRun.objects.create(
        started_at=started_at,
        finished_at=clock.now(),
        accounts=CreditAccount.objects.count(),
        violations=[{"hub_id": v.hub_id, "account_id": v.account_id, "problem": v.problem} for v in violations],
    )


def ledger_audit() -> list[Violation]:
    checks = (
        _cached_balances,
        _entry_counts,
        _currencies,
        _running_balances,
        _usage_entries,
        _unposted_usage,
        _usage_references,
        _usage_dangling,
    )
    return [violation for check in checks for violation in check()]


def _cached_balances() -> list[Violation]:
    sums = LedgerEntry.objects.filter(account=OuterRef("pk")).values("account").annotate(total=Sum("amount"))
    accounts = (
        CreditAccount.objects.annotate(entries_total=exact(Coalesce(Subquery(sums.values("total")), ZERO)))
        .exclude(balance=F("entries_total"))
        .select_related("hub")
    )
    return [
        Violation(a.hub.hub_id, a.id, f"cached balance {a.balance} != sum of entries {micros(a.entries_total)}")
        for a in accounts
    ]


def _currencies() -> list[Violation]:
    found = [
        Violation(a.hub.hub_id, a.id, f"account currency {a.currency} != hub currency {a.hub.currency}")
        for a in CreditAccount.objects.exclude(currency=F("hub__currency")).select_related("hub")
    ]
    foreign = LedgerEntry.objects.exclude(currency=F("account__currency")).select_related("account__hub")
    found += [
        Violation(
            e.account.hub.hub_id,
            e.account_id,
            f"entry {e.id} in {e.currency}, account in {e.account.currency}",
        )
        for e in foreign
    ]
    usage = MessageUsage.objects.exclude(currency=F("hub__currency")).select_related("hub__credit_account")
    found += [
        Violation(
            u.hub.hub_id,
            u.hub.credit_account.id,
            f"usage {u.message_id} in {u.currency}, hub in {u.hub.currency}",
        )
        for u in usage[:100]
    ]
    return found


def _entry_counts() -> list[Violation]:
    """Sequence numbers run 1..entry_count without a gap: no entry went missing."""
    accounts = (
        CreditAccount.objects.annotate(posted=Count("entries"), last=Coalesce(Max("entries__sequence"), 0))
        .filter(~Q(posted=F("entry_count")) | ~Q(last=F("entry_count")))
        .select_related("hub")
    )
    return [
        Violation(a.hub.hub_id, a.id, f"{a.posted} entries, last sequence {a.last}, account counts {a.entry_count}")
        for a in accounts
    ]


def _running_balances() -> list[Violation]:
    """Each entry's balance_after is the sum of its account's entries up to and including it."""
    running = LedgerEntry.objects.annotate(
        running=exact(Window(Sum("amount"), partition_by=[F("account_id")], order_by=F("sequence").asc()))
    ).filter(~Q(balance_after=F("running")))
    return [
        Violation(
            e.account.hub.hub_id,
            e.account_id,
            f"entry {e.id} records balance {e.balance_after}, entries sum to {micros(e.running)}",
        )
        for e in running.select_related("account__hub")[:100]
    ]


def _usage_entries() -> list[Violation]:
    """A USAGE entry debits exactly the cost of the messages it covers."""
    costs = MessageUsage.objects.filter(ledger_entry=OuterRef("pk")).values("ledger_entry").annotate(c=Sum("cost"))
    entries = (
        LedgerEntry.objects.filter(kind=EntryKind.USAGE)
        .annotate(covered=exact(Coalesce(Subquery(costs.values("c")), ZERO)))
        .exclude(amount=-F("covered"))
        .select_related("account__hub")
    )
    return [
        Violation(
            e.account.hub.hub_id,
            e.account_id,
            f"USAGE entry {e.id} is {e.amount}, its messages cost {micros(e.covered)}",
        )
        for e in entries[:100]
    ]


def _unposted_usage() -> list[Violation]:
    """Every message that cost something was debited."""
    unposted = (
        MessageUsage.objects.filter(cost__gt=0, ledger_entry__isnull=True)
        .values("hub__hub_id", "hub__credit_account__id")
        .annotate(total=Sum("cost"))
    )
    return [
        Violation(
            row["hub__hub_id"], row["hub__credit_account__id"], f"usage costing {micros(row['total'])} not debited"
        )
        for row in unposted
    ]


def _usage_references() -> list[Violation]:
    """A usage row's hub and WABA are its number's (they are copies without a database foreign key)."""
    mismatched = (
        MessageUsage.objects.exclude(waba_id=F("phone_number__waba_id"))
        | MessageUsage.objects.exclude(hub_id=F("phone_number__waba__hub_id"))
    ).select_related("phone_number__waba__hub__credit_account")
    return [
        Violation(
            u.phone_number.waba.hub.hub_id,
            u.phone_number.waba.hub.credit_account.id,
            f"usage {u.message_id} names hub {u.hub_id} / WABA {u.waba_id}, its number belongs to "
            f"hub {u.phone_number.waba.hub_id} / WABA {u.phone_number.waba_id}",
        )
        for u in mismatched[:100]
    ]


def _usage_dangling() -> list[Violation]:
    """A usage row's number and ledger entry exist (references without a database foreign key, for speed)."""
    dangling = (
        MessageUsage.objects.filter(~Exists(PhoneNumber.objects.filter(pk=OuterRef("phone_number_id"))))
        | MessageUsage.objects.filter(ledger_entry_id__isnull=False).exclude(
            Exists(LedgerEntry.objects.filter(pk=OuterRef("ledger_entry_id")))
        )
    ).select_related("hub__credit_account")
    return [
        Violation(
            u.hub.hub_id,
            u.hub.credit_account.id,
            f"usage {u.message_id} names number {u.phone_number_id} / ledger entry {u.ledger_entry_id}, "
            "one of which does not exist",
        )
        for u in dangling.order_by("id")[:100]
    ]
