"""The set-based month close (PostgreSQL, billing/invoicing/month_close_set.py) against the per-hub path it replaced
there (`month_close_per_hub`, still the portable path and covered by test_month_close.py's exact figures): for a
mix of hubs both write exactly the same invoices, lines, tax, ledger entries, balances and numbers. And the number
block taken at the end of each chunk keeps numbers gapless under concurrent chunks."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from djmoney.money import Money

from billing.audit import ledger_audit
from billing.invoicing import month_close as month_close_module
from billing.invoicing.issue import sequence_lock
from billing.invoicing.month_close import month_close
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    EntryKind,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    LedgerEntry,
    PaymentMethod,
    PaymentMethodKind,
    RateCardRate,
)
from tests.billing.invoicing.helpers import messages, written_by_the_other_path
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

SEP, OCT = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
SEP_ISSUED_AT = dt.datetime(2026, 10, 1, 0, 10, tzinfo=dt.UTC)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def rate_cards() -> None:
    for currency, rate in (("EUR", "0.123457"), ("USD", "0.134561")):
        RateCardRate.objects.create(
            effective_date=dt.date(2026, 1, 1), currency=currency, market="DE", category="marketing", rate=rate
        )


def hub_with_number(n: int, *, currency: str = "EUR", **client_fields):
    client = ClientFactory(company_name=f"Company {n}", partner=PartnerFactory(currency=currency), **client_fields)
    return PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=client)), e164=f"+49151100000{n:02d}")


def post(hub, kind: str, amount: str, when: dt.datetime, key: str, memo: str = "") -> None:
    ledger_post(
        account=hub.credit_account, kind=kind, amount=Money(amount, hub.currency), key=key, occurred_at=when, memo=memo
    )


def mixed_hubs(time_machine) -> tuple[list[int], dict[str, object]]:
    """Positive and negative balances, reconciliation and a staff adjustment, EUR and USD, DE / reverse charge / EU
    without VAT ID / outside the EU, four invoice languages, a card payer, a hub with an earlier MCI (its window
    starts after it), a hub already closed for October (skipped), a hub without usage (no MCI, closed)."""
    time_machine.move_to(utc(2026, 9, 30, 23), tick=False)
    rate_cards()
    credit = hub_with_number(1, country="DE", invoice_language="de")  # covers its usage: nothing payable
    debtor = hub_with_number(2, country="FR", vat_id="FR40303265045")  # reverse charge, pays by card
    dollars = hub_with_number(3, currency="USD", country="US", invoice_language="es")  # outside the EU
    chained = hub_with_number(4, country="AT", invoice_language="pt-br")  # EU without VAT ID; MCI in September
    closed = hub_with_number(5, country="DE")
    idle = hub_with_number(6, country="DE")
    hubs = {name: number.waba.hub for name, number in locals().items() if hasattr(number, "waba")}
    PaymentMethod.objects.create(client=debtor.waba.hub.client, kind=PaymentMethodKind.CARD, position=0)

    messages(chained, 40, utc(2026, 9, 12, 9), "sep-chained")
    post(hubs["chained"], EntryKind.FUNDS_ADDED, "3.00", utc(2026, 9, 2, 8), "funds:chained:sep")
    time_machine.move_to(SEP_ISSUED_AT, tick=False)
    month_close(hub_ids=[hubs["chained"].id], period=SEP, issued_at=SEP_ISSUED_AT)

    time_machine.move_to(utc(2026, 10, 31, 23), tick=False)
    post(hubs["credit"], EntryKind.FUNDS_ADDED, "100.00", utc(2026, 10, 2, 8), "funds:credit")
    messages(credit, 250, utc(2026, 10, 3, 12), "credit")  # 30.864250: a ROUNDING entry
    messages(debtor, 7, utc(2026, 10, 4, 12), "debtor")
    post(hubs["dollars"], EntryKind.FUNDS_ADDED, "2.00", utc(2026, 10, 5, 8), "funds:dollars")
    messages(dollars, 33, utc(2026, 10, 6, 12), "dollars")
    post(hubs["dollars"], EntryKind.RECONCILIATION, "-0.40", utc(2026, 10, 25, 3), "reconciliation:dollars")
    post(
        hubs["dollars"], EntryKind.MANUAL_ADJUSTMENT, "0.25", utc(2026, 10, 28, 14), "adjust:dollars", "Goodwill"
    )  # fmt: skip
    post(hubs["dollars"], EntryKind.REFUND, "1.10", utc(2026, 10, 29, 9), "refund:dollars")
    messages(chained, 19, utc(2026, 10, 7, 12), "oct-chained")
    messages(closed, 5, utc(2026, 10, 8, 12), "closed")
    post(hubs["idle"], EntryKind.FUNDS_ADDED, "10.00", utc(2026, 10, 9, 8), "funds:idle")
    time_machine.move_to(ISSUED_AT, tick=False)
    month_close(hub_ids=[hubs["closed"].id], period=OCT, issued_at=ISSUED_AT)
    return [hub.id for hub in hubs.values()], hubs


def books() -> dict:
    """Everything a month close writes, without database ids (drawn from sequences a rollback does not return)."""
    invoice_fields = [f.column for f in Invoice._meta.concrete_fields if f.column != "id"]
    return {
        "invoices": list(Invoice.objects.order_by("number").values_list(*invoice_fields)),
        "lines": list(
            InvoiceLine.objects.order_by("invoice__number", "position").values_list(
                "invoice__number", "position", "role", "description", "quantity", "unit_amount", "amount", "details"
            )
        ),
        "entries": list(
            LedgerEntry.objects.order_by("account_id", "sequence").values_list(
                *[f.column for f in LedgerEntry._meta.concrete_fields if f.column != "id"]
            )
        ),
        "accounts": list(
            CreditAccount.objects.order_by("id").values_list("id", "balance", "entry_count", "closed_through")
        ),
        "sequences": list(
            InvoiceSequence.objects.order_by("series", "year").values_list("series", "year", "last_number")
        ),
    }


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_set_based_close_writes_exactly_what_the_per_hub_close_writes(
    time_machine, monkeypatch, django_assert_num_queries
):
    hub_ids, hubs = mixed_hubs(time_machine)
    assert connection.vendor == "postgresql"

    per_hub, expected = written_by_the_other_path(  # the per-hub path in place of the set-based one, rolled back
        module=month_close_module, name="month_close_chunk", other=month_close_module.month_close_per_hub,
        run=lambda: month_close(hub_ids=hub_ids, period=OCT, issued_at=ISSUED_AT), books=books,
    )  # fmt: skip
    assert Invoice.objects.filter(period_start=OCT).count() == 1  # only the closed hub's, issued before

    set_based = month_close(hub_ids=hub_ids, period=OCT, issued_at=ISSUED_AT)

    with django_assert_num_queries(0):
        assert len(set_based) == 4  # what a chunk task reports: no invoice loaded
    with django_assert_num_queries(1):
        assert [i.kind for i in set_based] == [InvoiceKind.MONTH_CLOSING] * 4
    assert books() == expected
    assert [i.number for i in set_based] == [i.number for i in per_hub]
    # the comparison is not between two empty books: every case of the mix is in them
    by_hub = {invoice.hub_id: invoice for invoice in set_based}
    assert set(by_hub) == {hubs[name].id for name in ("credit", "debtor", "dollars", "chained")}
    assert (by_hub[hubs["credit"].id].total, by_hub[hubs["credit"].id].status) == (Decimal("0.00"), "paid")
    assert by_hub[hubs["debtor"].id].fee_amount > 0 and "FR40303265045" in by_hub[hubs["debtor"].id].tax_note
    assert by_hub[hubs["dollars"].id].summary["usage_reconciliation"] == "-0.15"
    assert by_hub[hubs["chained"].id].tax_rate == Decimal("0.19")
    assert by_hub[hubs["chained"].id].summary["starting_balance"] == "0.00"  # after September's MCI
    assert by_hub[hubs["credit"].id].lines.get(role="usage").description == "WhatsApp-Nutzungskosten"
    assert LedgerEntry.objects.filter(kind=EntryKind.ROUNDING, period=OCT).count() >= 3
    assert (
        LedgerEntry.objects.filter(kind=EntryKind.MCI_INVOICED, period=dt.date(2026, 11, 1)).count() == 4
    )  # with the closed hub's
    assert Invoice.objects.filter(hub=hubs["closed"], kind=InvoiceKind.MONTH_CLOSING, period_start=OCT).count() == 1
    assert not Invoice.objects.filter(hub=hubs["idle"]).exists()
    assert CreditAccount.objects.filter(hub_id__in=hub_ids, closed_through=OCT).count() == len(hub_ids)
    assert month_close(hub_ids=hub_ids, period=OCT, issued_at=ISSUED_AT) == []
    assert books() == expected
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_chunks_take_their_number_blocks_at_the_end_and_numbers_stay_gapless():
    """Two chunks closing at once while a third transaction holds the year's sequence row: both do all their work
    (figures, drafts, lines, ROUNDING) and then wait on the sequence row together; released, each takes one block
    and writes its invoices.
    Numbers come out 1..N, no gap, no duplicate, each chunk's block consecutive."""
    with time_machine.travel(utc(2026, 10, 31, 23), tick=False):
        rate_cards()
        numbers = [hub_with_number(n, country="DE") for n in range(1, 9)]
        for n, number in enumerate(numbers):
            messages(number, 3 + n, utc(2026, 10, 3, 12), f"hub{n}")
    hub_ids = [number.waba.hub_id for number in numbers]
    chunks = [hub_ids[:4], hub_ids[4:]]
    issued: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    holder_has_lock, release = threading.Event(), threading.Event()
    InvoiceSequence.objects.create(series="INV", year=2026)  # committed: the chunks wait on its row lock

    def hold_sequence() -> None:
        try:
            with transaction.atomic():
                sequence_lock(series="INV", year=2026)
                holder_has_lock.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    def close(chunk: int) -> None:
        try:
            with time_machine.travel(ISSUED_AT, tick=False):
                issued[chunk] = [i.number for i in month_close(hub_ids=chunks[chunk], period=OCT, issued_at=ISSUED_AT)]
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_sequence)
    holder.start()
    assert holder_has_lock.wait(timeout=30)
    closers = [threading.Thread(target=close, args=(chunk,)) for chunk in (0, 1)]
    for thread in closers:
        thread.start()
    try:
        waiting = _backends_waiting_on_the_sequence(expected=2)
    finally:
        release.set()
        holder.join(timeout=60)
        for thread in closers:
            thread.join(timeout=120)

    assert errors == []
    assert waiting == 2  # both chunks had finished everything but their numbers while the row was held
    taken = sorted(issued[0] + issued[1])
    assert taken == [f"INV-2026-{n:06d}" for n in range(1, 9)]
    for block in issued.values():
        seq = [int(number.rsplit("-", 1)[1]) for number in block]
        assert seq == list(range(seq[0], seq[0] + 4))
    assert InvoiceSequence.objects.get(series="INV", year=2026).last_number == 8
    assert InvoiceLine.objects.count() == 8 * 4  # usage, settled, fee, tax
    assert ledger_audit() == []


def _backends_waiting_on_the_sequence(*, expected: int) -> int:
    """Poll until `expected` backends wait on a lock while running the sequence row's query and already hold what
    inserting lines and ledger entries takes (RowExclusiveLock on both tables) but not yet what inserting invoices
    takes: they wrote their lines and ROUNDING entries before asking for numbers, and write the invoices, issued,
    after. Gives up after 30 s."""
    import time

    deadline, waiting = time.monotonic() + 30, 0
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                """
                SELECT count(*) FROM pg_stat_activity s
                WHERE s.datname = current_database() AND s.wait_event_type = 'Lock'
                  AND s.query ILIKE %s
                  AND (SELECT count(DISTINCT l.relation) FROM pg_locks l WHERE l.pid = s.pid
                       AND l.mode = 'RowExclusiveLock'
                       AND l.relation IN ('billing_invoiceline'::regclass, 'billing_ledgerentry'::regclass)) = 2
                  AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = s.pid AND l.mode = 'RowExclusiveLock'
                                  AND l.relation = 'billing_invoice'::regclass)
                """,
                ["%billing_invoicesequence%"],
            )
            waiting = cursor.fetchone()[0]
            if waiting >= expected:
                break
            time.sleep(0.05)
    return waiting
