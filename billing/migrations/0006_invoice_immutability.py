"""Issued invoices and their lines cannot change in the database: only status, payment, void and delivery
columns move after issue. On PostgreSQL and SQLite alike.

Note for later migrations: SQLite alters a table by rebuilding it, which breaks these triggers; a migration that
alters billing_invoice or billing_invoiceline must drop them first (backwards()) and recreate them after (forwards())."""

from django.db import migrations

FROZEN = [
    "number", "kind", "party_key", "hub_id", "client_id", "partner_id", "period_key", "period_start", "period_end",
    "currency", "net_amount", "fee_amount", "tax_rate", "tax_amount", "total", "tax_note", "pays_by_card",
    "billed_company", "summary", "issued_at", "due_date",
]  # fmt: skip
MESSAGE = "issued invoices are immutable: issue a credit note or post a ledger entry instead"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN RAISE EXCEPTION '{MESSAGE}'; END IF;
        RETURN OLD;
    END IF;
    IF OLD.number IS NOT NULL AND ({" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN)}) THEN
        RAISE EXCEPTION '{MESSAGE}';
    END IF;
    RETURN NEW;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();

CREATE OR REPLACE FUNCTION billing_invoiceline_frozen() RETURNS trigger AS $$
DECLARE
    parent bigint;
BEGIN
    parent := CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
    IF (SELECT number FROM billing_invoice WHERE id = parent) IS NOT NULL
       OR (TG_OP = 'UPDATE' AND (SELECT number FROM billing_invoice WHERE id = OLD.invoice_id) IS NOT NULL) THEN
        RAISE EXCEPTION '{MESSAGE}';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoiceline_frozen BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_frozen();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS billing_invoiceline_frozen ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoiceline_frozen();
DROP TRIGGER IF EXISTS billing_invoice_frozen ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_frozen();
"""
def _run(schema_editor, postgres: str) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgres, params=None)
    # SQLite's guards are created after every migrate (billing/db_guards.py): its table rebuilds break triggers.


def forwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_UP)


def backwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_DOWN)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_invoices")]
    operations = [migrations.RunPython(forwards, backwards)]
