"""Names shared by the PostgreSQL guard migrations and the SQLite guards (billing/db_guards.py)."""

INVOICE_FROZEN_COLUMNS = [
    "number", "kind", "party_key", "hub_id", "client_id", "partner_id", "period_key", "period_start", "period_end",
    "currency", "net_amount", "fee_amount", "tax_rate", "tax_amount", "total", "tax_note", "pays_by_card",
    "billed_company", "summary", "issued_at", "due_date", "language",
]  # fmt: skip
INVOICE_IMMUTABLE = "issued invoices are immutable: issue a credit note or post a ledger entry instead"
