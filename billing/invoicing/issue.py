"""Issuing invoices: drafts built in memory by each kind's job, issued in bulk in one transaction.

An invoice is inserted as a draft with its lines, then numbered and issued by one UPDATE (the database refuses any
change to an issued invoice's figures or lines). Issuers serialise on the year's number sequence row, and check
which (party, kind, period) invoices exist only once they hold it, so a job run twice, or by two workers at once,
issues each invoice exactly once and numbers stay gapless. Lock order: credit accounts first, then the sequence.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from billing.invoicing.tax import TaxTreatment, tax_treatment
from billing.models import Invoice, InvoiceLine, InvoiceSequence, InvoiceStatus, PaymentMethod, PaymentMethodKind
from billing.money import cents
from billing.queue import enqueue_each_on_commit
from billing.sql import copy_objects, copy_rows, one_of
from clients.models import Client
from core import clock

CARD_FEE_RATE = Decimal("0.04")


@dataclass(frozen=True)
class Phrase:
    """A line's text, written in the invoice's language when the draft is inserted (drafts of many parties, each
    in its own language, are built together). `message` is marked with gettext_noop; a parameter may be a
    callable taking no argument, formatted then (a month or a date in that language)."""

    message: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        params = {key: value() if callable(value) else value for key, value in self.params.items()}
        return gettext(self.message) % params if params else gettext(self.message)


@dataclass
class DraftLine:
    role: str
    description: str | Phrase
    amount: Decimal
    quantity: Decimal = Decimal(1)
    unit_amount: Decimal | None = None
    details: dict = field(default_factory=dict)


@dataclass
class Draft:
    """An invoice before issue. `lines` add up to the net amount; the fee and tax lines are added at issue."""

    kind: str
    party_key: str
    period_key: str
    period_start: dt.date
    period_end: dt.date
    currency: str
    billed_company: dict
    tax: TaxTreatment
    pays_by_card: bool
    lines: list[DraftLine]
    hub_id: int | None = None
    client_id: int | None = None
    partner_id: int | None = None
    summary: dict = field(default_factory=dict)
    show_zero_fee: bool = False  # the Month Closing Invoice always shows its Transaction Fee line
    language: str = "en"  # the billed party's invoice language, kept on the invoice (Invoice.language)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.party_key, self.kind, self.period_key)


def company_of(party) -> tuple[dict, TaxTreatment]:
    """The billed company's snapshot and its tax treatment (client or partner), its texts in the party's invoice
    language."""
    with translation.override(party.billing_language):
        return party.company_snapshot(), tax_treatment(country=party.country, vat_id=party.vat_id)


def language_of(party) -> str:
    return party.billing_language


def card_payers(*, client_ids: Sequence[int] = (), partner_ids: Sequence[int] = ()) -> set[tuple[str, int]]:
    """Parties whose first saved payment method is a card (they pay the transaction fee). One query."""
    methods = PaymentMethod.objects.filter(
        one_of("client__id", client_ids) | one_of("partner__id", partner_ids)
    ).order_by("client_id", "partner_id", "position", "id")
    first: dict[tuple[str, int], str] = {}
    for client_id, partner_id, kind in methods.values_list("client_id", "partner_id", "kind"):
        party = ("client", client_id) if client_id else ("partner", partner_id)
        first.setdefault(party, kind)
    return {party for party, kind in first.items() if kind == PaymentMethodKind.CARD}


def hub_party_rows(*, hubs: Sequence[tuple[int, str, int, str]]) -> list[dict]:
    """What is the billed party's business, for a set-based issuer's hubs (PostgreSQL), decided as the drafts
    decide it (`company_of`, `card_payers`, `language_of`): for each (hub id, public Hub ID, client id, currency), a
    row of plain JSON values for `jsonb_to_recordset` (hub_id, client_id, public_hub_id, currency, billed_company,
    tax_rate — a string, read back as an exact numeric —, tax_label, tax_note, pays_by_card, language), the texts in
    the client's invoice language. Two queries (clients, payment methods); the tax treatment is decided once per
    language, country and VAT ID."""
    # plain values: a model instance per client cost more than the rest of this function
    fields = Client.snapshot_source_fields()
    clients = {c["id"]: c for c in Client.objects.filter(one_of("id", {hub[2] for hub in hubs})).values("id", *fields)}
    card = card_payers(client_ids=list(clients))
    by_language = defaultdict(list)  # one translation.override per language, not per hub
    for hub in hubs:
        by_language[Client.billing_language_of(clients[hub[2]])].append(hub)
    rows = []
    for language, group in by_language.items():
        treatments: dict[tuple[str, str], TaxTreatment] = {}
        with translation.override(language):
            for hub_id, public_hub_id, client_id, currency in group:
                client = clients[client_id]
                tax = treatments.get((client["country"], client["vat_id"]))
                if tax is None:
                    tax = treatments[(client["country"], client["vat_id"])] = tax_treatment(
                        country=client["country"], vat_id=client["vat_id"]
                    )
                rows.append({
                    "hub_id": hub_id, "client_id": client_id, "public_hub_id": public_hub_id, "currency": currency,
                    "billed_company": {**Client.snapshot_of(client), "hub_id": public_hub_id},
                    "tax_rate": str(tax.rate), "tax_label": tax.label, "tax_note": tax.note,
                    "pays_by_card": ("client", client_id) in card, "language": language,
                })  # fmt: skip
    return rows


def _finished_lines(draft: Draft) -> tuple[list[DraftLine], Decimal, Decimal, Decimal]:
    """The draft's lines plus its fee and tax lines; (lines, net, fee, tax). The fee is 4% of the net charged to
    a card; tax applies to net + fee."""
    net = sum((line.amount for line in draft.lines), Decimal(0))
    fee = cents(net * CARD_FEE_RATE) if draft.pays_by_card and net > 0 else Decimal("0.00")
    tax = cents((net + fee) * draft.tax.rate)
    lines = list(draft.lines)
    if fee or draft.show_zero_fee:
        fee_label = Phrase(gettext_noop("Transaction Fee"))
        lines.append(DraftLine("fee", fee_label, fee, details={"rate": str(CARD_FEE_RATE)}))
    lines.append(DraftLine("tax", draft.tax.label, tax, unit_amount=tax, details={"base": str(net + fee)}))
    with translation.override(draft.language):  # the invoice's language, frozen with its lines at issue
        for line in lines:
            line.description = str(line.description)
    return lines, net, fee, tax


def sequence_lock(*, series: str, year: int) -> InvoiceSequence:
    """The series' row for the year, locked until commit (created on first use)."""
    InvoiceSequence.objects.bulk_create([InvoiceSequence(series=series, year=year)], ignore_conflicts=True)
    return InvoiceSequence.objects.select_for_update().get(series=series, year=year)


def numbers_take(*, sequence: InvoiceSequence, count: int) -> list[str]:
    """`count` consecutive numbers from a sequence row locked by `sequence_lock`."""
    series, year = sequence.series, sequence.year
    first = sequence.last_number + 1
    if count:
        sequence.last_number += count
        sequence.save(update_fields=["last_number"])
    return [f"{series}-{year}-{n:06d}" for n in range(first, first + count)]


def invoices_issue(*, drafts: Sequence[Draft], issued_at: dt.datetime) -> list[Invoice]:
    """Issue every draft whose (party, kind, period) has no invoice yet; return the invoices issued now."""
    with transaction.atomic():
        sequence = sequence_lock(series="INV", year=issued_at.year)
        existing = _existing_keys(drafts)
        fresh, seen = [], set(existing)
        for draft in drafts:
            if draft.key not in seen:
                seen.add(draft.key)
                fresh.append(draft)
        if not fresh:
            return []
        invoices = _insert_drafts(fresh)
        numbers = numbers_take(sequence=sequence, count=len(invoices))
        _issue_rows(invoices, numbers, issued_at)
        # one delivery task per invoice (each retried on its own); an invoice whose task is lost is queued again
        # by the delivery sweep (billing/delivery.py)
        enqueue_each_on_commit("billing.deliver_invoice", [invoice.id for invoice in invoices])
    return invoices


def _db_time(value: dt.datetime | None):
    """A datetime as the ORM stores it (raw SQL on SQLite must match the ORM's text format, or equality fails)."""
    return connection.ops.adapt_datetimefield_value(value)


def _existing_keys(drafts: Sequence[Draft]) -> set[tuple[str, str, str]]:
    rows = Invoice.objects.filter(
        one_of("party_key", {d.party_key for d in drafts}),
        one_of("kind", {d.kind for d in drafts}),
        one_of("period_key", {d.period_key for d in drafts}),
    ).values_list("party_key", "kind", "period_key")
    return set(rows)


def _insert_drafts(drafts: list[Draft]) -> list[Invoice]:
    invoices, lines = [], []
    now = clock.now()
    for draft in drafts:
        finished, net, fee, tax = _finished_lines(draft)
        invoice = Invoice(
            kind=draft.kind, status=InvoiceStatus.DRAFT, party_key=draft.party_key, hub_id=draft.hub_id,
            client_id=draft.client_id, partner_id=draft.partner_id, period_key=draft.period_key,
            period_start=draft.period_start, period_end=draft.period_end, currency=draft.currency,
            net_amount=net, fee_amount=fee, tax_rate=draft.tax.rate, tax_amount=tax, total=net + fee + tax,
            tax_note=draft.tax.note, pays_by_card=draft.pays_by_card, billed_company=draft.billed_company,
            summary=draft.summary, language=draft.language, created_at=now,
        )  # fmt: skip
        invoices.append(invoice)
        lines.append(finished)
    if connection.vendor == "postgresql":
        copy_objects(Invoice, invoices, INVOICE_COLUMNS)
        _copy_lines(invoices, lines)
    else:
        Invoice.objects.bulk_create(invoices)
        InvoiceLine.objects.bulk_create(
            InvoiceLine(invoice=invoice, **_line_fields(position, line))
            for invoice, finished in zip(invoices, lines, strict=True)
            for position, line in enumerate(finished, start=1)
        )
    return invoices


def _line_fields(position: int, line: DraftLine) -> dict:
    return {
        "position": position, "role": line.role, "description": line.description[:300], "quantity": line.quantity,
        "unit_amount": line.amount if line.unit_amount is None else line.unit_amount, "amount": line.amount,
        "details": line.details,
    }  # fmt: skip


def _copy_lines(invoices: list[Invoice], lines: list[list[DraftLine]]) -> None:
    """Lines straight from the drafts into COPY: no model instance per line (a month close writes ~100,000)."""
    copy_rows(
        InvoiceLine,
        LINE_COLUMNS,
        (
            (invoice.id, *_line_fields(position, line).values())
            for invoice, finished in zip(invoices, lines, strict=True)
            for position, line in enumerate(finished, start=1)
        ),
    )


LINE_COLUMNS = ("invoice_id", "position", "role", "description", "quantity", "unit_amount", "amount", "details")
INVOICE_COLUMNS = (
    "kind", "status", "party_key", "hub_id", "client_id", "partner_id", "period_key", "period_start", "period_end",
    "currency", "net_amount", "fee_amount", "tax_rate", "tax_amount", "total", "tax_note", "pays_by_card",
    "billed_company", "summary", "void_reason", "pdf", "delivery_error", "language", "created_at",
)  # fmt: skip


def _issue_rows(invoices: list[Invoice], numbers: list[str], issued_at: dt.datetime) -> None:
    """Draft → issued in one statement: number, issue time, due date (payable upon receipt) and status (pending:
    the automatic payment is scheduled; paid when there is nothing to pay)."""
    for invoice, number in zip(invoices, numbers, strict=True):
        invoice.number = number
        invoice.issued_at = issued_at
        invoice.due_date = issued_at.date()
        invoice.status = InvoiceStatus.PENDING if invoice.total > 0 else InvoiceStatus.PAID
        invoice.paid_at = None if invoice.total > 0 else issued_at
    table = Invoice._meta.db_table
    rows = [(i.id, i.number, i.status, i.paid_at) for i in invoices]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s::bigint, %s, %s, %s::timestamptz)"] * len(rows))
            cursor.execute(
                f"UPDATE {table} AS i SET number = v.number, status = v.status, paid_at = v.paid_at, "  # noqa: S608
                f"issued_at = %s, due_date = %s FROM (VALUES {values}) AS v(id, number, status, paid_at) "
                f"WHERE i.id = v.id",
                [issued_at, issued_at.date(), *[x for row in rows for x in row]],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET number = %s, status = %s, paid_at = %s, issued_at = %s, due_date = %s "  # noqa: S608
                f"WHERE id = %s",
                [
                    (number, status, _db_time(paid_at), _db_time(issued_at), issued_at.date(), pk)
                    for pk, number, status, paid_at in rows
                ],
            )


class IssuedInvoices(Sequence):
    """The invoices a set-based issuer wrote, by id in number order: counted without a query (a chunk task only
    reports how many), their Invoice objects loaded in one query when first read (~60 µs of Python each, a third of
    a chunk's Python). Read them in the transaction that wrote them when it may still roll back."""

    def __init__(self, ids: Sequence[int], known: dict[int, Invoice] | None = None) -> None:
        self.ids = list(ids)
        self._known = dict(known or {})  # objects a caller already has: not read again
        self._invoices: list[Invoice] | None = None

    @classmethod
    def joined(cls, parts: Sequence[Sequence[Invoice]]) -> "IssuedInvoices":
        """Several issuers' results as one, still not loaded (a billing run's chunks)."""
        ids, known = [], {}
        for part in parts:
            if isinstance(part, IssuedInvoices):
                ids += part.ids
                known.update(part._known)
                known.update({invoice.id: invoice for invoice in part._invoices or ()})
            else:
                ids += [invoice.id for invoice in part]
                known.update({invoice.id: invoice for invoice in part})
        return cls(ids, known)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        return self._loaded()[index]

    def __iter__(self):
        return iter(self._loaded())

    def __eq__(self, other) -> bool:
        if isinstance(other, IssuedInvoices):
            return self.ids == other.ids
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None

    def __add__(self, other):
        if isinstance(other, IssuedInvoices):
            return IssuedInvoices(self.ids + other.ids)
        return list(self) + list(other)

    def __radd__(self, other):
        return list(other) + list(self)

    def _loaded(self) -> list[Invoice]:
        if self._invoices is None:
            missing = [invoice_id for invoice_id in self.ids if invoice_id not in self._known]
            if missing:
                self._known.update((i.id, i) for i in Invoice.objects.filter(one_of("id", missing)))
            self._invoices = [self._known[invoice_id] for invoice_id in self.ids]
        return self._invoices


def invoices_insert_issued(*, drafts_table: str, issued_at: dt.datetime) -> list[int]:
    """Write the invoices a set-based issuer computed into `drafts_table` (PostgreSQL; a temporary table with an
    `id` drawn from the invoices' sequence and INVOICE_COLUMNS but `status`), already issued, in one statement:
    lock the year's sequence row, take one block of consecutive numbers, give them out in id order, and set issue
    time, due date and status as `_issue_rows` does. Called at the very end of a chunk's transaction, so the
    sequence row (where concurrent chunks serialise) is held only for this and the commit; numbers stay gapless,
    since a rollback returns the block with the rest of the chunk. Lines may reference the ids before (the foreign
    key is checked at commit). Lock order: whatever the caller locked first, then the sequence. Delivery is queued
    after commit. Returns the ids in number order."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {drafts_table} ORDER BY id")  # noqa: S608
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        numbers = numbers_take(sequence=sequence_lock(series="INV", year=issued_at.year), count=len(ids))
        columns = ", ".join(c for c in INVOICE_COLUMNS if c != "status")
        cursor.execute(
            f"INSERT INTO {Invoice._meta.db_table} (id, {columns}, status, number, issued_at, due_date, paid_at) "  # noqa: S608
            f"SELECT d.id, {', '.join(f'd.{c}' for c in INVOICE_COLUMNS if c != 'status')}, "
            "CASE WHEN d.total > 0 THEN %(pending)s ELSE %(paid)s END, v.number, %(at)s, %(due)s, "
            "CASE WHEN d.total > 0 THEN NULL ELSE %(at)s::timestamptz END "
            f"FROM {drafts_table} d JOIN unnest(%(ids)s::bigint[], %(numbers)s::text[]) AS v(id, number) "
            "ON v.id = d.id ORDER BY d.id",
            {
                "at": issued_at, "due": issued_at.date(), "pending": InvoiceStatus.PENDING,
                "paid": InvoiceStatus.PAID, "ids": ids, "numbers": numbers,
            },
        )  # fmt: skip
        if cursor.rowcount != len(numbers):
            raise RuntimeError(f"{len(numbers)} numbers taken for {cursor.rowcount} invoices: not issued.")
    enqueue_each_on_commit("billing.deliver_invoice", ids)  # as invoices_issue does
    return ids
