"""The two insert guards of PostgreSQL that ran once per row become statement-level triggers over the inserted rows
(a transition table): a month close inserts ~10,000 invoice lines and thousands of ledger entries per run with a
few statements, and a plpgsql call with its own query per row cost about as much as the row (measured on
bench/month_close.py). The guarantees are the same, checked for every inserted row before the statement ends:
no line is added to an issued invoice; an entry's currency is its account's. Updates and deletes of lines keep
their row trigger, and entries stay immutable (billing_ledgerentry_no_update, unchanged). SQLite keeps its own
guards (billing/db_guards.py)."""

import importlib

from django.db import migrations

immutability = importlib.import_module("billing.migrations.0006_invoice_immutability")
MESSAGE = immutability.MESSAGE

POSTGRES_UP = f"""
DROP TRIGGER billing_invoiceline_frozen ON billing_invoiceline;
CREATE TRIGGER billing_invoiceline_frozen BEFORE UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_frozen();

CREATE OR REPLACE FUNCTION billing_invoiceline_insert_frozen() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted l JOIN billing_invoice i ON i.id = l.invoice_id WHERE i.number IS NOT NULL)
    THEN
        RAISE EXCEPTION '{MESSAGE}';
    END IF;
    RETURN NULL;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoiceline_insert_frozen AFTER INSERT ON billing_invoiceline
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION billing_invoiceline_insert_frozen();

DROP TRIGGER billing_ledgerentry_currency_check ON billing_ledgerentry;
CREATE OR REPLACE FUNCTION billing_ledgerentry_currency_batch() RETURNS trigger AS $$
DECLARE
    foreign_currency text;
BEGIN
    SELECT e.currency INTO foreign_currency FROM inserted e JOIN billing_creditaccount a ON a.id = e.account_id
    WHERE e.currency <> a.currency LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entry currency % differs from its account''s', foreign_currency;
    END IF;
    RETURN NULL;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_ledgerentry_currency_check AFTER INSERT ON billing_ledgerentry
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION billing_ledgerentry_currency_batch();
"""

POSTGRES_DOWN = """
DROP TRIGGER billing_ledgerentry_currency_check ON billing_ledgerentry;
DROP FUNCTION billing_ledgerentry_currency_batch();
CREATE TRIGGER billing_ledgerentry_currency_check BEFORE INSERT ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_currency();

DROP TRIGGER billing_invoiceline_insert_frozen ON billing_invoiceline;
DROP FUNCTION billing_invoiceline_insert_frozen();
DROP TRIGGER billing_invoiceline_frozen ON billing_invoiceline;
CREATE TRIGGER billing_invoiceline_frozen BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_frozen();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0024_rate_card_any_category_name")]
    operations = [migrations.RunPython(forwards, backwards)]
