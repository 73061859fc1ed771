"""SQLite versions of the database guards (ledger entries append-only and in their account's currency; issued
invoices and their lines frozen). PostgreSQL gets its own in migrations 0003 and 0006.

SQLite alters a table by rebuilding it, which breaks triggers that name it, so on SQLite the guards are dropped
before `migrate` and created again after it (billing/apps.py), whatever the migrations change."""

from django.db import connection

from billing.migrations_sql import INVOICE_FROZEN_COLUMNS, INVOICE_IMMUTABLE

LEDGER_IMMUTABLE = "ledger entries are immutable: post a correcting entry instead"
STAFF_ACTIONS_APPEND_ONLY = "staff actions are an append-only audit log"

SQLITE_GUARDS = {
    "billing_ledgerentry_no_update": f"""CREATE TRIGGER billing_ledgerentry_no_update BEFORE UPDATE ON billing_ledgerentry
        BEGIN SELECT RAISE(ABORT, '{LEDGER_IMMUTABLE}'); END""",
    "billing_ledgerentry_no_delete": f"""CREATE TRIGGER billing_ledgerentry_no_delete BEFORE DELETE ON billing_ledgerentry
        BEGIN SELECT RAISE(ABORT, '{LEDGER_IMMUTABLE}'); END""",
    "billing_ledgerentry_currency_check": """CREATE TRIGGER billing_ledgerentry_currency_check
        BEFORE INSERT ON billing_ledgerentry
        WHEN NEW.currency <> (SELECT currency FROM billing_creditaccount WHERE id = NEW.account_id)
        BEGIN SELECT RAISE(ABORT, 'ledger entry currency differs from its account''s'); END""",
    "billing_creditaccount_currency_fixed": """CREATE TRIGGER billing_creditaccount_currency_fixed
        BEFORE UPDATE OF currency ON billing_creditaccount WHEN NEW.currency <> OLD.currency
        BEGIN SELECT RAISE(ABORT, 'a credit account''s currency is fixed'); END""",
    "billing_invoice_frozen": f"""CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE ON billing_invoice
        WHEN OLD.number IS NOT NULL AND ({" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in INVOICE_FROZEN_COLUMNS)})
        BEGIN SELECT RAISE(ABORT, '{INVOICE_IMMUTABLE}'); END""",
    "billing_invoice_no_delete": f"""CREATE TRIGGER billing_invoice_no_delete BEFORE DELETE ON billing_invoice
        WHEN OLD.number IS NOT NULL BEGIN SELECT RAISE(ABORT, '{INVOICE_IMMUTABLE}'); END""",
    "billing_invoiceline_no_insert": f"""CREATE TRIGGER billing_invoiceline_no_insert BEFORE INSERT ON billing_invoiceline
        WHEN (SELECT number FROM billing_invoice WHERE id = NEW.invoice_id) IS NOT NULL
        BEGIN SELECT RAISE(ABORT, '{INVOICE_IMMUTABLE}'); END""",
    "billing_invoiceline_no_update": f"""CREATE TRIGGER billing_invoiceline_no_update BEFORE UPDATE ON billing_invoiceline
        WHEN (SELECT number FROM billing_invoice WHERE id = OLD.invoice_id) IS NOT NULL
          OR (SELECT number FROM billing_invoice WHERE id = NEW.invoice_id) IS NOT NULL
        BEGIN SELECT RAISE(ABORT, '{INVOICE_IMMUTABLE}'); END""",
    "billing_invoiceline_no_delete": f"""CREATE TRIGGER billing_invoiceline_no_delete BEFORE DELETE ON billing_invoiceline
        WHEN (SELECT number FROM billing_invoice WHERE id = OLD.invoice_id) IS NOT NULL
        BEGIN SELECT RAISE(ABORT, '{INVOICE_IMMUTABLE}'); END""",
}  # fmt: skip
TABLES = {"billing_ledgerentry", "billing_creditaccount", "billing_invoice", "billing_invoiceline"}


def sqlite_guards_drop(using: str = "default") -> None:
    conn = _connection(using)
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        for name in SQLITE_GUARDS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def sqlite_guards_create(using: str = "default") -> None:
    conn = _connection(using)
    if conn.vendor != "sqlite" or not set(conn.introspection.table_names()) >= TABLES:
        return
    with conn.cursor() as cursor:
        for name, statement in SQLITE_GUARDS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(statement)


def _connection(using: str):
    from django.db import connections

    return connections[using] if using else connection
