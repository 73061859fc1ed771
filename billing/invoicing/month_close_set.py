"""The month close of a chunk of hubs, set-based (PostgreSQL): the same MCIs, lines, tax, ROUNDING and
MCI_INVOICED entries as `month_close`'s per-hub path (billing/invoicing/month_close.py has the formulas), computed
in SQL from the month's sums with a few statements per chunk instead of Python objects per hub and line.

Python still decides what is the party's business: its company snapshot, its tax treatment (billing/invoicing/
tax.py), its invoice language and whether it pays by card, once per billed hub, in a light loop over plain values.
Everything else, the figures, the invoice rows and their lines, is one statement each over temporary tables that
live until the chunk's transaction ends. The ledger entries go through the ledger (`post_locked_query`). The
invoices are computed into a temporary table first (ids drawn ahead, so their lines are written from it) and
written once, already numbered and issued, at the very end (`invoices_insert_issued`): one block of numbers, so
concurrent chunks serialise on the sequence row only briefly, and no draft row written then updated.
"""

import datetime as dt
import json
from collections.abc import Sequence
from functools import cache

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import translation
from django.utils.translation import gettext

from billing.invoicing.issue import CARD_FEE_RATE, IssuedInvoices, hub_party_rows, invoices_insert_issued
from billing.ledger import post_locked_query
from billing.models import CreditAccount, EntryKind, Invoice, InvoiceKind, MessageUsage
from billing.sql import one_of
from core import clock
from hub.models import Hub

# Per open account: its window (see month_close.windows_start), the window's sums by bucket and the MonthFigures
# (round() on numeric is half away from zero: billing.money.cents). Entries of a closed month are whole cents, so
# only U carries sub-cent amounts.
FIGURES = """
CREATE TEMP TABLE month_close_figures ON COMMIT DROP AS
WITH accounts AS MATERIALIZED (
    SELECT a.id AS account_id, a.hub_id, a.currency, (latest.period_start + interval '1 month')::date AS window_start
    FROM billing_creditaccount a
    LEFT JOIN LATERAL (
        SELECT max(i.period_start) AS period_start FROM billing_invoice i
        WHERE i.hub_id = a.hub_id AND i.kind = %(mci)s AND i.period_start < %(period)s
    ) AS latest ON true
    WHERE a.id = ANY(%(accounts)s)
), sums AS (  -- per account (LATERAL): a range of one index, bounded by the chunk whatever the ledger's size
    SELECT w.account_id, w.hub_id, w.currency, x.*
    FROM accounts w CROSS JOIN LATERAL (
        SELECT coalesce(sum(e.amount) FILTER (WHERE e.period < w.window_start), 0) AS before,
               coalesce(sum(e.amount) FILTER (WHERE %(in)s AND e.kind = ANY(%(s)s)), 0) AS s,
               coalesce(sum(e.amount) FILTER (WHERE %(in)s AND e.kind = ANY(%(a)s)), 0) AS a,
               coalesce(sum(e.amount) FILTER (WHERE %(in)s AND e.kind = ANY(%(u)s)), 0) AS u,
               coalesce(sum(e.amount) FILTER (WHERE %(in)s AND e.kind = ANY(%(r)s)), 0) AS r,
               coalesce(sum(e.amount) FILTER (WHERE %(in)s AND e.kind = ANY(%(c)s)), 0) AS c
        FROM billing_ledgerentry e WHERE e.account_id = w.account_id AND e.period <= %(period)s
    ) AS x
), rounded AS (
    SELECT account_id, hub_id, currency, round(before + s, 2) AS starting_balance, round(a, 2) AS added_funds,
           -u AS usage_exact, round(-u, 2) AS usage, round(r, 2) AS refunds, round(c, 2) AS reconciliation
    FROM sums
), ending AS (
    SELECT *, usage_exact - usage AS rounding,
           starting_balance + added_funds - usage + refunds + reconciliation AS ending_balance
    FROM rounded
)
SELECT *, greatest(0.00, -ending_balance) AS amount_due,
       usage - reconciliation - greatest(0.00, -ending_balance) AS settled_with_credit
FROM ending
"""
IN_WINDOW = "(w.window_start IS NULL OR e.period >= w.window_start)"

ROUNDING_POSTINGS = """
SELECT account_id, %(kind)s, rounding, currency, 'rounding:' || account_id || ':' || %(month)s, %(at)s,
       %(reference)s, ''
FROM month_close_figures WHERE rounding <> 0 ORDER BY account_id
"""

# The MCIs of the billed hubs not yet invoiced for the month (one per party, kind and period, as invoices_issue), in
# account order, each with an id drawn from the invoices' sequence: the lines reference them before the invoices
# are written, issued, at the very end (`invoices_insert_issued`; the foreign key is checked at commit).
DRAFTS = """
CREATE TEMP TABLE month_close_drafts ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('billing_invoice', 'id')) AS id, d.* FROM (
    SELECT %(mci)s::varchar AS kind, 'hub:' || p.hub_id AS party_key, p.hub_id, p.client_id,
           NULL::bigint AS partner_id, %(period_key)s::varchar AS period_key, %(period)s::date AS period_start,
           %(end)s::date AS period_end, p.currency, f.amount_due AS net_amount, t.fee AS fee_amount, p.tax_rate,
           t.tax AS tax_amount, f.amount_due + t.fee + t.tax AS total, p.tax_note, p.pays_by_card, p.billed_company,
           jsonb_build_object('hub_id', p.public_hub_id, 'starting_balance', f.starting_balance::text,
               'total_added_funds', f.added_funds::text, 'total_usage', f.usage::text,
               'total_refunds', f.refunds::text, 'ending_balance', f.ending_balance::text,
               'usage_reconciliation', f.reconciliation::text) AS summary,
           ''::varchar AS void_reason, ''::varchar AS pdf, ''::text AS delivery_error, p.language,
           %(now)s::timestamptz AS created_at, p.usage_label, p.reconciliation_label, p.settled_label, p.fee_label,
           p.tax_label
    FROM jsonb_to_recordset(%(parties)s::jsonb) AS p(hub_id bigint, client_id bigint, public_hub_id text,
        currency text, billed_company jsonb, tax_rate numeric, tax_label text, tax_note text, pays_by_card boolean,
        language text, usage_label text, reconciliation_label text, settled_label text, fee_label text)
    JOIN month_close_figures f ON f.hub_id = p.hub_id
    CROSS JOIN LATERAL (
        SELECT fee, round((f.amount_due + fee) * p.tax_rate, 2) AS tax
        FROM (SELECT CASE WHEN p.pays_by_card AND f.amount_due > 0 THEN round(f.amount_due * %(fee_rate)s, 2)
                          ELSE 0.00 END AS fee) AS x
    ) AS t
    WHERE NOT EXISTS (SELECT 1 FROM billing_invoice i  -- OFFSET 0: an index probe per hub (licenses.FRESH)
                      WHERE i.party_key = 'hub:' || p.hub_id AND i.kind = %(mci)s AND i.period_key = %(period_key)s
                      OFFSET 0)
    ORDER BY f.account_id
) AS d
"""

# WhatsApp Usage Costs U; Usage Reconciliation −C (when not zero); Settled with Credit Balance −(U − C − D);
# Transaction Fee (always shown on an MCI); tax on net + fee.
LINES = """
INSERT INTO billing_invoiceline (invoice_id, position, role, description, quantity, unit_amount, amount, details)
SELECT i.id, row_number() OVER (PARTITION BY i.id ORDER BY l.ord), l.role, left(l.description, 300), 1,
       l.amount, l.amount, l.details
FROM month_close_drafts i
JOIN month_close_figures f ON f.hub_id = i.hub_id
CROSS JOIN LATERAL (VALUES
    (1, 'usage', i.usage_label, f.usage, '{}'::jsonb),
    (2, 'reconciliation', i.reconciliation_label, -f.reconciliation, '{}'::jsonb),
    (3, 'settled', i.settled_label, -f.settled_with_credit, '{}'::jsonb),
    (4, 'fee', i.fee_label, i.fee_amount, jsonb_build_object('rate', %(fee_rate)s::text)),
    (5, 'tax', i.tax_label, i.tax_amount, jsonb_build_object('base', (i.net_amount + i.fee_amount)::text))
) AS l(ord, role, description, amount, details)
WHERE l.ord <> 2 OR f.reconciliation <> 0
"""

MCI_INVOICED_POSTINGS = """
SELECT f.account_id, %(kind)s, f.amount_due, f.currency, 'mci:' || i.number, %(at)s, i.number, ''
FROM billing_invoice i JOIN month_close_figures f ON f.hub_id = i.hub_id
WHERE i.id = ANY(%(ids)s) AND f.amount_due > 0 ORDER BY f.account_id
"""

LABELS = ("usage_label", "reconciliation_label", "settled_label", "fee_label")


def month_close_chunk(
    *,
    accounts: dict[int, CreditAccount],
    open_accounts: Sequence[CreditAccount],
    period: dt.date,
    issued_at: dt.datetime,
) -> IssuedInvoices | list[Invoice]:
    """Close `period` for `open_accounts` (locked by the caller, with `accounts`) and issue their MCIs."""
    _, end = clock.period_bounds(period)
    opening, _ = clock.period_bounds(clock.next_month(period))
    with connection.cursor() as cursor:
        # These statements touch a chunk's rows through indexes; their cost estimates (a subplan per account)
        # would start the JIT compiler, which costs more than a second per statement (measured: 1.4 s of 2.0 s).
        cursor.execute("SET LOCAL jit = off")
        _figures(cursor, [a.id for a in open_accounts], period)
        # the month squared and marked closed in one UPDATE of the accounts, before the numbers are taken
        post_locked_query(
            accounts=accounts,
            postings_sql=ROUNDING_POSTINGS,
            params={"kind": EntryKind.ROUNDING, "month": f"{period:%Y-%m}", "at": end - dt.timedelta(microseconds=1),
                    "reference": f"Usage rounded to the cent, {period:%B %Y}"},
            close=(period, [a.id for a in open_accounts]),
        )  # fmt: skip
        parties = _parties([a.hub_id for a in open_accounts], period)
        cursor.execute("DROP TABLE IF EXISTS pg_temp.month_close_drafts")
        cursor.execute(DRAFTS, {
            "mci": InvoiceKind.MONTH_CLOSING, "period_key": f"{period:%Y-%m}", "period": period, "parties": parties,
            "end": clock.next_month(period), "fee_rate": CARD_FEE_RATE, "now": clock.now(),
        })  # fmt: skip
        drafts = cursor.rowcount  # CREATE TABLE AS reports its rows as SELECT does
        if not drafts:
            return []
        cursor.execute(LINES, {"fee_rate": CARD_FEE_RATE})
        ids = invoices_insert_issued(drafts_table="month_close_drafts", issued_at=issued_at)
    post_locked_query(
        accounts=accounts,
        postings_sql=MCI_INVOICED_POSTINGS,
        params={"kind": EntryKind.MCI_INVOICED, "at": opening, "ids": ids},
    )
    return IssuedInvoices(ids)


def _figures(cursor, account_ids: list[int], period: dt.date) -> None:
    cursor.execute("DROP TABLE IF EXISTS pg_temp.month_close_figures")
    buckets = {"s": [EntryKind.MCI_INVOICED], "a": [EntryKind.FUNDS_ADDED, EntryKind.FUNDS_RETURNED],
               "u": [EntryKind.USAGE, EntryKind.ROUNDING], "r": [EntryKind.REFUND],
               "c": [EntryKind.RECONCILIATION, EntryKind.MANUAL_ADJUSTMENT]}  # fmt: skip
    cursor.execute(
        FIGURES.replace("%(in)s", IN_WINDOW),
        {"mci": InvoiceKind.MONTH_CLOSING, "period": period, "accounts": account_ids, **buckets},
    )


def _parties(hub_ids: list[int], period: dt.date) -> str:
    """The billed hubs (billable usage in the month) with what Python decides about their client and their lines'
    texts, as a JSON array (read with jsonb_to_recordset: one parameter, no temporary table)."""
    billable = MessageUsage.objects.filter(hub=OuterRef("pk"), period=period, billable=True)
    hubs = list(
        Hub.objects.filter(one_of("id", hub_ids))
        .filter(Exists(billable))  # an index probe per hub that stops at the first message
        .values_list("id", "hub_id", "client_id", "currency")
    )
    parties = hub_party_rows(hubs=hubs)
    for party in parties:
        party.update(zip(LABELS, _labels(party["language"]), strict=True))
    return json.dumps(parties)


@cache
def _labels(language: str) -> tuple[str, str, str, str]:
    with translation.override(language):
        return (
            gettext("WhatsApp Usage Costs"), gettext("Usage Reconciliation"), gettext("Settled with Credit Balance"),
            gettext("Transaction Fee"),
        )  # fmt: skip
