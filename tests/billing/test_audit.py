"""The ledger audit (`ledger_audit()` and `manage.py billing_audit`): clean books pass, and each kind of corruption
is found and names the hub whose books are wrong. Ledger entries are immutable in the database, so the corruptions
are made where the database allows them: the cached account columns and the usage rows."""

import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from djmoney.money import Money

from billing.audit import Violation, ledger_audit
from billing.ledger import ledger_post
from billing.models import AuditRun, CreditAccount, EntryKind, LedgerEntry, MessageUsage, RateCardRate
from billing.usage.ingest import usage_record_batch
from hub.models import Hub
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db

RATE = Decimal("0.130000")


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture(autouse=True)
def rate_card():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 7, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )


def books(number, *, funds: str, messages: int, prefix: str):
    """Funds added, then `messages` billable marketing messages to Germany debited in one USAGE entry."""
    account = number.waba.hub.credit_account
    ledger_post(account=account, kind=EntryKind.FUNDS_ADDED, amount=Money(funds, "EUR"), key=f"{prefix}:funds")
    result = usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{prefix}.{n}",
                "waba_id": number.waba.meta_waba_id,
                "phone_number": number.e164,
                "recipient_country": "DE",
                "category": "marketing",
                "billable": True,
                "timestamp": "2026-11-03T10:15:00Z",
            }
            for n in range(1, messages + 1)
        ]
    )
    assert (result.accepted, result.rejected) == (messages, [])
    return account


@pytest.fixture
def number():
    """The hub whose books the tests corrupt: 50.00 in, two messages at 0.13 out."""
    number = PhoneNumberFactory(e164="+4915112345678")
    books(number, funds="50.00", messages=2, prefix="a")
    return number


@pytest.fixture
def bystander():
    """Another hub with clean books, so each test also proves the audit names only the hub that is wrong."""
    number = PhoneNumberFactory(e164="+4915187654321")
    books(number, funds="10.00", messages=1, prefix="b")
    return number


def audit_command() -> tuple[str, str, CommandError | None]:
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("billing_audit", stdout=stdout, stderr=stderr)
    except CommandError as exc:
        return stdout.getvalue(), stderr.getvalue(), exc
    return stdout.getvalue(), stderr.getvalue(), None


def usage_entry(number) -> LedgerEntry:
    return LedgerEntry.objects.get(account__hub=number.waba.hub, kind=EntryKind.USAGE)


def test_clean_books_pass_the_audit_and_the_command_says_so(number, bystander):
    account = number.waba.hub.credit_account
    account.refresh_from_db()
    assert (account.balance, account.entry_count) == (Decimal("49.740000"), 2)
    assert usage_entry(number).amount == Decimal("-0.260000")

    assert ledger_audit() == []
    stdout, stderr, error = audit_command()

    assert error is None
    assert stdout == "OK: 2 credit account(s) audited, no violations.\n"
    assert stderr == ""
    run = AuditRun.objects.get()
    assert (run.accounts, run.violations, run.clean) == (2, [], True)


def test_a_hub_with_no_entries_yet_audits_clean():
    PhoneNumberFactory()

    assert ledger_audit() == []
    assert audit_command()[:2] == ("OK: 1 credit account(s) audited, no violations.\n", "")


def assert_command_reports(violations: list[Violation]) -> None:
    """The command writes each violation to stderr, records the run and exits non-zero with the count. (Compared
    in any order: the audit's order is not part of its contract.)"""
    stdout, stderr, error = audit_command()

    assert str(error) == f"{len(violations)} violation(s) found."
    assert stdout == ""
    assert stderr.endswith("\n")
    assert sorted(stderr.splitlines()) == sorted(
        f"VIOLATION hub {v.hub_id} (credit account {v.account_id}): {v.problem}" for v in violations
    )
    recorded = AuditRun.objects.get().violations
    assert sorted(recorded, key=lambda v: v["problem"]) == sorted(
        ({"hub_id": v.hub_id, "account_id": v.account_id, "problem": v.problem} for v in violations),
        key=lambda v: v["problem"],
    )


def test_a_tampered_cached_balance_is_found(number, bystander):
    account = number.waba.hub.credit_account
    CreditAccount.objects.filter(pk=account.pk).update(balance=Decimal("99.740000"))

    violations = ledger_audit()

    assert violations == [
        Violation(number.waba.hub.hub_id, account.pk, "cached balance 99.740000 != sum of entries 49.740000")
    ]
    assert_command_reports(violations)


def test_the_command_line_names_the_hub_and_its_account(number):
    hub = number.waba.hub
    CreditAccount.objects.filter(hub=hub).update(balance=Decimal("0.01"))

    stderr = audit_command()[1]

    assert stderr == (
        f"VIOLATION hub {hub.hub_id} (credit account {hub.credit_account.pk}): "
        "cached balance 0.010000 != sum of entries 49.740000\n"
    )
    assert hub.hub_id.startswith("HUB-")


def test_a_tampered_entry_count_is_found(number, bystander):
    account = number.waba.hub.credit_account
    CreditAccount.objects.filter(pk=account.pk).update(entry_count=5)

    violations = ledger_audit()

    assert violations == [Violation(number.waba.hub.hub_id, account.pk, "2 entries, last sequence 2, account counts 5")]
    assert_command_reports(violations)


def test_an_entry_recording_a_wrong_running_balance_is_found(number, bystander):
    # Entries cannot be changed, but nothing stops a buggy writer inserting one with a wrong balance_after.
    account = number.waba.hub.credit_account
    entry = LedgerEntry.objects.create(
        account=account,
        kind=EntryKind.MANUAL_ADJUSTMENT,
        amount=Decimal("1.000000"),
        currency="EUR",
        sequence=3,
        balance_after=Decimal("100.000000"),
        period=dt.date(2026, 11, 1),
        occurred_at=dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC),
        posted_at=dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC),
        idempotency_key="bad-writer",
        memo="goodwill",
    )
    CreditAccount.objects.filter(pk=account.pk).update(balance=Decimal("50.740000"), entry_count=3)

    violations = ledger_audit()

    assert violations == [
        Violation(
            number.waba.hub.hub_id, account.pk, f"entry {entry.pk} records balance 100.000000, entries sum to 50.740000"
        )
    ]
    assert_command_reports(violations)


def test_a_usage_entry_whose_messages_cost_a_different_amount_is_found(number, bystander):
    MessageUsage.objects.filter(message_id="wamid.a.2").update(cost=Decimal("0.100000"))
    entry = usage_entry(number)

    violations = ledger_audit()

    assert violations == [
        Violation(
            number.waba.hub.hub_id,
            number.waba.hub.credit_account.pk,
            f"USAGE entry {entry.pk} is -0.260000, its messages cost 0.230000",
        )
    ]
    assert_command_reports(violations)


def test_billable_usage_that_was_never_debited_is_found(number, bystander):
    MessageUsage.objects.filter(message_id="wamid.a.2").update(ledger_entry=None)
    hub, entry = number.waba.hub, usage_entry(number)

    violations = ledger_audit()

    # The entry now covers one message too few, and that message's cost is debited nowhere.
    assert violations == [
        Violation(
            hub.hub_id, hub.credit_account.pk, f"USAGE entry {entry.pk} is -0.260000, its messages cost 0.130000"
        ),
        Violation(hub.hub_id, hub.credit_account.pk, "usage costing 0.130000 not debited"),
    ]
    assert_command_reports(violations)


def test_usage_naming_another_hub_than_its_numbers_is_found(number, bystander):
    hub, other = number.waba.hub, bystander.waba.hub
    MessageUsage.objects.filter(message_id="wamid.a.1").update(hub_id=other.pk)

    violations = ledger_audit()

    # Named under the number's own hub: that is the hub whose usage is misfiled.
    assert violations == [
        Violation(
            hub.hub_id,
            hub.credit_account.pk,
            f"usage wamid.a.1 names hub {other.pk} / WABA {number.waba.pk}, its number belongs to "
            f"hub {hub.pk} / WABA {number.waba.pk}",
        )
    ]
    assert_command_reports(violations)


def test_usage_naming_another_waba_than_its_numbers_is_found(number, bystander):
    hub, other_waba = number.waba.hub, bystander.waba
    MessageUsage.objects.filter(message_id="wamid.a.1").update(waba_id=other_waba.pk)

    violations = ledger_audit()

    assert violations == [
        Violation(
            hub.hub_id,
            hub.credit_account.pk,
            f"usage wamid.a.1 names hub {hub.pk} / WABA {other_waba.pk}, its number belongs to "
            f"hub {hub.pk} / WABA {number.waba.pk}",
        )
    ]
    assert_command_reports(violations)


def test_an_account_and_usage_in_another_currency_than_the_hub_are_found(number, bystander):
    hub = number.waba.hub
    Hub.objects.filter(pk=hub.pk).update(currency="USD")

    violations = ledger_audit()

    # The usage rows share a timestamp, so the audit lists them in no particular order.
    assert sorted(violations, key=lambda v: v.problem) == [
        Violation(hub.hub_id, hub.credit_account.pk, "account currency EUR != hub currency USD"),
        Violation(hub.hub_id, hub.credit_account.pk, "usage wamid.a.1 in EUR, hub in USD"),
        Violation(hub.hub_id, hub.credit_account.pk, "usage wamid.a.2 in EUR, hub in USD"),
    ]
    assert_command_reports(violations)


def test_every_corruption_is_reported_together(number, bystander):
    hub, other = number.waba.hub, bystander.waba.hub
    CreditAccount.objects.filter(hub=hub).update(balance=Decimal("1"))
    CreditAccount.objects.filter(hub=other).update(entry_count=1)

    violations = ledger_audit()

    assert violations == [
        Violation(hub.hub_id, hub.credit_account.pk, "cached balance 1.000000 != sum of entries 49.740000"),
        Violation(other.hub_id, other.credit_account.pk, "2 entries, last sequence 2, account counts 1"),
    ]
    assert_command_reports(violations)


def test_usage_naming_a_number_or_entry_that_does_not_exist_is_found(number, bystander):
    """The usage table has no database foreign key to its number and entry (ingestion's speed): the audit checks."""
    hub = number.waba.hub
    entry = usage_entry(number)
    MessageUsage.objects.filter(message_id="wamid.a.1").update(phone_number_id=number.pk + 1000)
    MessageUsage.objects.filter(message_id="wamid.a.2").update(ledger_entry_id=entry.pk + 1000)

    violations = ledger_audit()

    dangling = [v for v in violations if "does not exist" in v.problem]
    assert dangling == [
        Violation(
            hub.hub_id,
            hub.credit_account.pk,
            f"usage wamid.a.1 names number {number.pk + 1000} / ledger entry {entry.pk}, one of which does not exist",
        ),
        Violation(
            hub.hub_id,
            hub.credit_account.pk,
            f"usage wamid.a.2 names number {number.pk} / ledger entry {entry.pk + 1000}, one of which does not exist",
        ),
    ]
    # and the entry no longer covered by wamid.a.2 is found by the entry check
    assert any(f"USAGE entry {entry.pk} is" in v.problem for v in violations)
    assert_command_reports(violations)
