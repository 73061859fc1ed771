import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.audit import ledger_audit
from billing.models import CreditAccount, EntryKind, LedgerEntry, RateCardRate, Restriction, UsageReconciliation
from billing.reconciliation import (
    ReconciliationError,
    ReconciliationResult,
    reconciliation_parse,
    usage_reconcile,
)
from billing.usage.ingest import usage_record_batch
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

pytestmark = pytest.mark.django_db

HEADER = "date,waba_id,currency,cost"
RATE = Decimal("0.131234")
# Three billable messages on 3 Nov in Berlin: 3 × 0.131234
RATED_3_NOV = Decimal("0.393702")
META_HIGHER = "2026-11-03,2001,EUR,0.45"  # 0.393702 − 0.45 = −0.056298 → −0.06
META_CORRECTED = "2026-11-03,2001,EUR,0.50"  # 0.393702 − 0.50 = −0.106298 → −0.11
OTHER_DAY = "2026-11-04,2001,EUR,0.20"  # 0.131234 − 0.20 = −0.068766 → −0.07


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def rate_card():
    for currency in ("EUR", "USD"):
        RateCardRate.objects.create(
            effective_date=dt.date(2026, 10, 1), currency=currency, market="DE", category="marketing", rate=RATE
        )


def event(number, n, timestamp="2026-11-03T10:15:00Z", **overrides):
    return {
        "message_id": f"wamid.{number.waba.meta_waba_id}.{n}",
        "waba_id": number.waba.meta_waba_id,
        "phone_number": number.e164,
        "recipient_country": "DE",
        "category": "marketing",
        "billable": True,
        "pricing_model": "PMP",
        "timestamp": timestamp,
        **overrides,
    }


@pytest.fixture
def number():
    """A Berlin WABA with three billable messages on 3 Nov (Berlin), one not billable, and one sent at 23:30 UTC on
    3 Nov, which is already 4 Nov in Berlin."""
    number = PhoneNumberFactory(e164="+4915112345678", waba=WabaFactory(meta_waba_id="2001", timezone="Europe/Berlin"))
    result = usage_record_batch(
        events=[
            event(number, 1),
            event(number, 2, timestamp="2026-11-03T08:00:00Z"),
            # 23:30 UTC on 2 Nov is 00:30 on 3 Nov in Berlin
            event(number, 3, timestamp="2026-11-02T23:30:00Z"),
            event(number, 4, billable=False),
            event(number, 5, timestamp="2026-11-03T23:30:00Z"),
        ]
    )
    assert (result.accepted, result.rejected) == (5, [])
    return number


def account(number) -> CreditAccount:
    return CreditAccount.objects.get(hub=number.waba.hub)


def reconcile(*lines: str) -> list[ReconciliationResult]:
    return usage_reconcile(rows=reconciliation_parse(lines=[HEADER, *lines]))


def reconciliation_entries():
    return list(LedgerEntry.objects.filter(kind=EntryKind.RECONCILIATION).order_by("sequence"))


def write(tmp_path, *lines: str, name: str = "meta.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_command(path: Path, *args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("reconcile_usage", str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_meta_billing_more_than_rated_posts_the_negative_difference_in_cents(number):
    balance_before = account(number).balance

    results = reconcile(META_HIGHER)

    assert results == [
        ReconciliationResult(
            waba=number.waba,
            day=dt.date(2026, 11, 3),
            currency="EUR",
            meta_cost=Decimal("0.45"),
            rated_cost=RATED_3_NOV,
            previous=Decimal("0.00"),
            adjustment=Decimal("-0.06"),
            posted=Decimal("-0.06"),
        )
    ]
    [entry] = reconciliation_entries()
    assert (entry.amount, entry.currency, entry.period) == (Decimal("-0.060000"), "EUR", dt.date(2026, 11, 1))
    assert entry.occurred_at == dt.datetime(2026, 11, 3, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert entry.idempotency_key == "reconcile:2001:2026-11-03:0.00->-0.06"
    assert entry.reference == "Meta 2001 2026-11-03"
    assert entry.memo == (
        "WABA 2001 on 2026-11-03: rated 0.393702 EUR, Meta billed 0.45 EUR; adjustment 0.00 -> -0.06 EUR."
    )
    assert account(number).balance == balance_before - Decimal("0.06")
    record = UsageReconciliation.objects.get()
    assert (record.waba, record.day, record.currency) == (number.waba, dt.date(2026, 11, 3), "EUR")
    assert (record.meta_cost, record.rated_cost, record.adjustment) == (
        Decimal("0.450000"),
        RATED_3_NOV,
        Decimal("-0.06"),
    )
    assert record.updated_at == dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


def test_meta_billing_less_than_rated_posts_a_credit(number):
    balance_before = account(number).balance

    [result] = reconcile("2026-11-03,2001,EUR,0.30")  # 0.393702 − 0.30 = 0.093702 → 0.09

    assert (result.adjustment, result.posted) == (Decimal("0.09"), Decimal("0.09"))
    assert [e.amount for e in reconciliation_entries()] == [Decimal("0.090000")]
    assert account(number).balance == balance_before + Decimal("0.09")


def test_rated_cost_is_the_wabas_billable_usage_on_that_day_in_its_time_zone(number):
    other_waba = PhoneNumberFactory(waba=WabaFactory(hub=number.waba.hub, meta_waba_id="2002"))
    usage_record_batch(events=[event(other_waba, 1)])  # same hub and day, other WABA: not counted

    results = reconcile(META_HIGHER, OTHER_DAY, "2026-11-02,2001,EUR,0")

    assert [(r.day, r.rated_cost, r.adjustment) for r in results] == [
        (dt.date(2026, 11, 3), RATED_3_NOV, Decimal("-0.06")),
        (dt.date(2026, 11, 4), RATED_3_NOV / 3, Decimal("-0.07")),
        (dt.date(2026, 11, 2), Decimal("0.000000"), Decimal("0.00")),
    ]


def test_a_day_without_rated_usage_owes_all_of_metas_cost(number):
    [result] = reconcile("2026-11-10,2001,EUR,1.234")

    assert (result.rated_cost, result.adjustment) == (Decimal("0.000000"), Decimal("-1.23"))
    assert [e.amount for e in reconciliation_entries()] == [Decimal("-1.230000")]


def test_reimporting_the_same_file_posts_nothing(number, now):
    reconcile(META_HIGHER, OTHER_DAY)
    balance = account(number).balance
    entries = LedgerEntry.objects.count()
    now.shift(dt.timedelta(hours=1))

    results = reconcile(META_HIGHER, OTHER_DAY)

    assert [(r.previous, r.adjustment, r.posted) for r in results] == [
        (Decimal("-0.06"), Decimal("-0.06"), Decimal("0.00")),
        (Decimal("-0.07"), Decimal("-0.07"), Decimal("0.00")),
    ]
    assert LedgerEntry.objects.count() == entries
    assert account(number).balance == balance
    # Nothing changed, so nothing was rewritten either.
    assert set(UsageReconciliation.objects.values_list("updated_at", flat=True)) == {
        dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    }


def test_a_corrected_figure_posts_only_the_new_difference(number, now):
    reconcile(META_HIGHER)
    now.shift(dt.timedelta(hours=1))

    [result] = reconcile(META_CORRECTED)

    assert (result.previous, result.adjustment, result.posted) == (Decimal("-0.06"), Decimal("-0.11"), Decimal("-0.05"))
    entries = reconciliation_entries()
    assert [(e.amount, e.idempotency_key) for e in entries] == [
        (Decimal("-0.060000"), "reconcile:2001:2026-11-03:0.00->-0.06"),
        (Decimal("-0.050000"), "reconcile:2001:2026-11-03:-0.06->-0.11"),
    ]
    assert sum(e.amount for e in entries) == Decimal("-0.11")
    record = UsageReconciliation.objects.get()
    assert (record.meta_cost, record.adjustment) == (Decimal("0.500000"), Decimal("-0.11"))
    assert record.updated_at == dt.datetime(2026, 11, 22, 13, tzinfo=dt.UTC)


def test_correcting_back_to_the_first_figure_posts_the_reversal(number):
    reconcile(META_HIGHER)
    reconcile(META_CORRECTED)

    [result] = reconcile(META_HIGHER)

    assert (result.previous, result.adjustment, result.posted) == (Decimal("-0.11"), Decimal("-0.06"), Decimal("0.05"))
    entries = reconciliation_entries()
    assert [(e.amount, e.idempotency_key) for e in entries] == [
        (Decimal("-0.060000"), "reconcile:2001:2026-11-03:0.00->-0.06"),
        (Decimal("-0.050000"), "reconcile:2001:2026-11-03:-0.06->-0.11"),
        (Decimal("0.050000"), "reconcile:2001:2026-11-03:-0.11->-0.06"),
    ]
    assert sum(e.amount for e in entries) == Decimal("-0.06")
    assert UsageReconciliation.objects.get().adjustment == Decimal("-0.06")


def test_flipping_between_two_figures_posts_every_change_even_when_it_was_made_before(number):
    reconcile(META_HIGHER)
    reconcile(META_CORRECTED)
    reconcile(META_HIGHER)

    # −0.06 → −0.11 again: the same change as the second import, but a new movement, so it must be posted.
    [result] = reconcile(META_CORRECTED)

    assert result.posted == Decimal("-0.05")
    entries = reconciliation_entries()
    assert [e.amount for e in entries] == [Decimal(a) for a in ("-0.06", "-0.05", "0.05", "-0.05")]
    assert entries[-1].idempotency_key == f"reconcile:2001:2026-11-03:-0.06->-0.11@{entries[-1].sequence}"
    assert sum(e.amount for e in entries) == UsageReconciliation.objects.get().adjustment == Decimal("-0.11")
    assert ledger_audit() == []


def test_late_usage_changes_the_difference_and_reimporting_posts_only_that(number):
    reconcile(META_HIGHER)
    usage_record_batch(events=[event(number, 9, timestamp="2026-11-03T12:00:00Z")])  # rated 0.524936 now

    [result] = reconcile(META_HIGHER)

    assert (result.rated_cost, result.previous, result.adjustment, result.posted) == (
        Decimal("0.524936"),
        Decimal("-0.06"),
        Decimal("0.07"),
        Decimal("0.13"),
    )
    assert [e.amount for e in reconciliation_entries()] == [Decimal("-0.060000"), Decimal("0.130000")]


@pytest.mark.parametrize("cost", ["0.393702", "0.39", "0.398"])
def test_meta_equal_to_rated_to_the_cent_posts_nothing(number, cost):
    balance = account(number).balance

    [result] = reconcile(f"2026-11-03,2001,EUR,{cost}")

    assert (result.adjustment, result.posted) == (Decimal("0.00"), Decimal("0.00"))
    assert str(result.adjustment) == "0.00"  # never a negative zero
    assert reconciliation_entries() == []
    assert account(number).balance == balance
    assert UsageReconciliation.objects.get().adjustment == Decimal("0.00")


def test_an_adjustment_back_to_zero_reverses_what_was_posted(number):
    reconcile(META_HIGHER)

    [result] = reconcile("2026-11-03,2001,EUR,0.393702")

    assert (result.previous, result.adjustment, result.posted) == (Decimal("-0.06"), Decimal("0.00"), Decimal("0.06"))
    assert sum(e.amount for e in reconciliation_entries()) == 0


def test_a_day_of_a_closed_month_counts_in_the_next_open_period(number):
    number_oct = PhoneNumberFactory(waba=WabaFactory(hub=number.waba.hub, meta_waba_id="2003", timezone="UTC"))
    usage_record_batch(events=[event(number_oct, 1, timestamp="2026-10-20T10:00:00Z")])
    CreditAccount.objects.filter(hub=number.waba.hub).update(closed_through=dt.date(2026, 10, 1))

    reconcile("2026-10-20,2003,EUR,0.20", META_HIGHER)

    entries = reconciliation_entries()
    assert [(e.reference, e.amount, e.occurred_at.date(), e.period) for e in entries] == [
        ("Meta 2003 2026-10-20", Decimal("-0.070000"), dt.date(2026, 10, 20), dt.date(2026, 11, 1)),
        ("Meta 2001 2026-11-03", Decimal("-0.060000"), dt.date(2026, 11, 3), dt.date(2026, 11, 1)),
    ]


def test_a_day_of_an_open_month_counts_in_that_month_even_on_its_last_day_in_berlin(number):
    # 22:30 UTC on 31 Oct is 23:30 in Berlin: usage of the last Berlin day of October, reconciled in October.
    usage_record_batch(events=[event(number, 20, timestamp="2026-10-31T22:30:00Z")])

    reconcile("2026-10-31,2001,EUR,0")

    [entry] = reconciliation_entries()
    assert (entry.amount, entry.period) == (Decimal("0.130000"), dt.date(2026, 10, 1))


def test_several_hubs_and_currencies_in_one_file_with_a_constant_number_of_queries(number):
    usd_hub = HubFactory(client=ClientFactory(partner=PartnerFactory(currency="USD")))
    usd_number = PhoneNumberFactory(waba=WabaFactory(hub=usd_hub, meta_waba_id="3001"))
    usage_record_batch(events=[event(usd_number, 1)])
    second = PhoneNumberFactory(waba=WabaFactory(meta_waba_id="4001"))
    one_line = ["2026-11-05,2001,EUR,1"]
    many_lines = ["2026-11-06,2001,EUR,1", OTHER_DAY, "2026-11-03,3001,USD,0.50", "2026-11-03,4001,EUR,0.01"]

    with CaptureQueriesContext(connection) as one:
        reconcile(*one_line)
    with CaptureQueriesContext(connection) as many:
        results = reconcile(*many_lines)

    # the same queries for four lines as for one (hub 4001 was blocked at 0.00 from its creation; going further
    # below zero changes no block, so no restriction query is needed)
    assert len(many) == len(one)
    assert Restriction.objects.filter(hub=second.waba.hub, lifted_at__isnull=True).count() == 1
    assert [(r.waba.meta_waba_id, r.currency, r.posted) for r in results] == [
        ("2001", "EUR", Decimal("-1.00")),
        ("2001", "EUR", Decimal("-0.07")),
        ("3001", "USD", Decimal("-0.37")),  # 0.131234 − 0.50
        ("4001", "EUR", Decimal("-0.01")),
    ]
    usd_entry = LedgerEntry.objects.get(kind=EntryKind.RECONCILIATION, account__hub=usd_hub)
    assert (usd_entry.currency, usd_entry.amount) == ("USD", Decimal("-0.370000"))
    assert CreditAccount.objects.get(hub=second.waba.hub).balance == Decimal("-0.010000")
    assert ledger_audit() == []


GOOD = "2026-11-03,2001,EUR,0.45"
GOOD_LAST = "2026-11-04,2001,EUR,0.20"


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("2026-11-3,2001,EUR,0.45", "date '2026-11-3' is not a date (YYYY-MM-DD)"),
        ("20261105,2001,EUR,0.45", "date '20261105' is not a date (YYYY-MM-DD)"),
        ("05.11.2026,2001,EUR,0.45", "date '05.11.2026' is not a date (YYYY-MM-DD)"),
        ("2026-02-30,2001,EUR,0.45", "date '2026-02-30' is not a date (YYYY-MM-DD)"),
        (
            "2026-11-23,2001,EUR,0.45",
            "date 2026-11-23 is in the future (today is 2026-11-22 in the WABA's time zone Europe/Berlin)",
        ),  # fmt: skip
        ("2026-11-05,WABA-2001,EUR,0.45", "waba_id 'WABA-2001' is not a WABA id (digits only)"),
        ("2026-11-05,,EUR,0.45", "waba_id '' is not a WABA id (digits only)"),
        ("2026-11-05,999999,EUR,0.45", "waba_id 999999 is not a known WABA"),
        ("2026-11-05,2001,USD,0.45", "currency 'USD' is not the currency of WABA 2001 (its hub is billed in EUR)"),
        ("2026-11-05,2001,eur,0.45", "currency 'eur' is not the currency of WABA 2001 (its hub is billed in EUR)"),
        ("2026-11-05,2001,GBP,0.45", "currency 'GBP' is not the currency of WABA 2001 (its hub is billed in EUR)"),
        ("2026-11-05,2001,EUR,-0.01", "cost '-0.01' must be between 0 and 99999999.999999"),
        ("2026-11-05,2001,EUR,100000000", "cost '100000000' must be between 0 and 99999999.999999"),
        ("2026-11-05,2001,EUR,NaN", "cost 'NaN' must be between 0 and 99999999.999999"),
        ("2026-11-05,2001,EUR,Infinity", "cost 'Infinity' must be between 0 and 99999999.999999"),
        ("2026-11-05,2001,EUR,0.1234567", "cost '0.1234567' has more than 6 decimal places"),
        ("2026-11-05,2001,EUR,abc", "cost 'abc' is not a number"),
        ("2026-11-05,2001,EUR,", "cost '' is not a number"),
        ("2026-11-05,2001,EUR,0,45", "expected 4 columns"),
        ("2026-11-05,2001,EUR", "expected 4 columns"),
        ("2026-11-03,2001,EUR,0.50", "duplicate of line 2 for the same date and WABA"),
    ],
)
def test_one_malformed_line_rejects_the_whole_file_and_posts_nothing(tmp_path, number, bad_line, reason):
    path = write(tmp_path, HEADER, GOOD, bad_line, GOOD_LAST)
    entries = LedgerEntry.objects.count()

    with pytest.raises(CommandError) as raised:
        run_command(path)

    assert str(raised.value) == "Reconciliation file rejected (1 problem(s)); nothing was posted."
    with pytest.raises(ReconciliationError) as parsed:
        reconcile(GOOD, bad_line, GOOD_LAST)
    assert parsed.value.problems == [(3, reason)]
    assert LedgerEntry.objects.count() == entries
    assert not UsageReconciliation.objects.exists()


def test_the_command_prints_file_line_and_reason_for_every_bad_line(tmp_path, number):
    path = write(
        tmp_path,
        HEADER,
        GOOD,
        "",
        "2026-11-05,2001,USD,0.45",
        GOOD_LAST,
        "2026-11-04,2001,EUR,0.30",
        "2026-11-05,777777,EUR,1",
    )
    stderr = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("reconcile_usage", str(path), stdout=StringIO(), stderr=stderr)

    assert str(raised.value) == "Reconciliation file rejected (3 problem(s)); nothing was posted."
    assert stderr.getvalue().splitlines() == [
        f"{path}:4: currency 'USD' is not the currency of WABA 2001 (its hub is billed in EUR)",
        f"{path}:6: duplicate of line 5 for the same date and WABA",
        f"{path}:7: waba_id 777777 is not a known WABA",
    ]
    assert reconciliation_entries() == []
    assert not UsageReconciliation.objects.exists()


def test_a_wrong_currency_is_rejected_even_when_the_amount_matches(number):
    with pytest.raises(ReconciliationError) as raised:
        reconcile("2026-11-03,2001,USD,0.393702")

    assert raised.value.problems == [(2, "currency 'USD' is not the currency of WABA 2001 (its hub is billed in EUR)")]
    assert not UsageReconciliation.objects.exists()


@pytest.mark.parametrize(
    "header",
    ["day,waba_id,currency,cost", "date,waba_id,cost", "waba_id,date,currency,cost", "date,waba_id,currency,cost,x"],
)
def test_a_wrong_header_is_rejected(tmp_path, number, header):
    path = write(tmp_path, header, GOOD)
    stderr = StringIO()

    with pytest.raises(CommandError, match=r"\(1 problem\(s\)\)"):
        call_command("reconcile_usage", str(path), stdout=StringIO(), stderr=stderr)

    assert stderr.getvalue() == f"{path}:1: header must be exactly: {HEADER}\n"


def test_a_file_with_only_a_header_is_rejected():
    with pytest.raises(ReconciliationError) as raised:
        reconcile()

    assert raised.value.problems == [(1, "the file holds no costs")]


def test_a_missing_file_is_a_command_error(tmp_path):
    missing = tmp_path / "nope.csv"

    with pytest.raises(CommandError) as raised:
        run_command(missing)

    assert str(raised.value) == f"Cannot read {missing}: No such file or directory"


def test_the_future_is_judged_in_the_wabas_time_zone(number, now):
    WabaFactory(hub=number.waba.hub, meta_waba_id="2009", timezone="UTC")
    now.move_to(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC))  # 23 Nov in Berlin, still 22 Nov in UTC

    with pytest.raises(ReconciliationError) as raised:
        reconcile("2026-11-23,2001,EUR,0", "2026-11-23,2009,EUR,0")

    assert raised.value.problems == [
        (3, "date 2026-11-23 is in the future (today is 2026-11-22 in the WABA's time zone UTC)")
    ]
    [result] = reconcile("2026-11-23,2001,EUR,0")
    assert (result.day, result.posted) == (dt.date(2026, 11, 23), Decimal("0.00"))


def test_the_command_shows_each_day_before_and_after_and_a_total(tmp_path, number):
    first = write(tmp_path, HEADER, META_HIGHER, OTHER_DAY, name="first.csv")
    corrected = write(tmp_path, HEADER, META_CORRECTED, OTHER_DAY, name="corrected.csv")
    run_command(first)

    stdout, stderr = run_command(corrected)

    assert stderr == "reconciled [##############################] 2/2 100%\n"  # the progress bar
    assert stdout.splitlines() == [
        "WABA            Day        Cur          Rated           Meta     Before → After          Posted",
        "2001            2026-11-03 EUR       0.393702           0.50      -0.06 → -0.11           -0.05",
        "2001            2026-11-04 EUR       0.131234           0.20      -0.07 → -0.07            none",
        "Total EUR: rated 0.524936, Meta 0.70, adjustment -0.13 → -0.18, posted -0.05",
        "Posted 1 RECONCILIATION entr(y/ies).",
    ]


def test_a_dry_run_prints_the_adjustments_and_posts_nothing(tmp_path, number):
    path = write(tmp_path, HEADER, META_HIGHER)
    balance = account(number).balance
    entries = LedgerEntry.objects.count()

    stdout, _ = run_command(path, "--dry-run")

    assert stdout.splitlines()[1:] == [
        "2001            2026-11-03 EUR       0.393702           0.45       0.00 → -0.06           -0.06",
        "Total EUR: rated 0.393702, Meta 0.45, adjustment 0.00 → -0.06, posted -0.06",
        "Dry run: 1 entr(y/ies) would be posted; nothing was posted.",
    ]
    assert LedgerEntry.objects.count() == entries
    assert account(number).balance == balance
    assert not UsageReconciliation.objects.exists()
    # The real run afterwards posts what the dry run showed.
    stdout, _ = run_command(path)
    assert [e.amount for e in reconciliation_entries()] == [Decimal("-0.060000")]


def test_the_books_still_prove_after_a_series_of_imports(tmp_path, number):
    for lines in ([META_HIGHER, OTHER_DAY], [META_CORRECTED], [META_HIGHER, "2026-11-04,2001,EUR,0"]):
        run_command(write(tmp_path, HEADER, *lines))

    assert ledger_audit() == []
    assert account(number).balance == sum(LedgerEntry.objects.values_list("amount", flat=True))
    by_day = dict(UsageReconciliation.objects.values_list("day", "adjustment"))
    assert by_day == {dt.date(2026, 11, 3): Decimal("-0.06"), dt.date(2026, 11, 4): Decimal("0.13")}
    assert sum(e.amount for e in reconciliation_entries()) == Decimal("0.07")


def test_staff_see_the_differences_read_only_in_the_admin(client, number):
    reconcile(META_HIGHER)
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-for-tests")
    client.force_login(staff)
    url = reverse("admin:billing_usagereconciliation_changelist")

    response = client.get(url, {"q": "2001"})

    assert response.status_code == 200
    assert [r.adjustment for r in response.context["cl"].result_list] == [Decimal("-0.06")]
    assert client.get(url, {"q": "999"}).context["cl"].result_list.count() == 0
    assert client.get(reverse("admin:billing_usagereconciliation_add")).status_code == 403
