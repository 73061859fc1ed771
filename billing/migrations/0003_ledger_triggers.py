"""Database-level guards the ORM cannot express: ledger entries are append-only, and an entry's currency is its
account's. On PostgreSQL and SQLite alike, so the embedded default is protected too."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION billing_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are immutable: post a correcting entry instead';
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_ledgerentry_no_update BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_immutable();

CREATE OR REPLACE FUNCTION billing_ledgerentry_currency() RETURNS trigger AS $$
BEGIN
    IF NEW.currency <> (SELECT currency FROM billing_creditaccount WHERE id = NEW.account_id) THEN
        RAISE EXCEPTION 'ledger entry currency % differs from its account''s', NEW.currency;
    END IF;
    RETURN NEW;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_ledgerentry_currency_check BEFORE INSERT ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_currency();

CREATE OR REPLACE FUNCTION billing_creditaccount_currency_fixed() RETURNS trigger AS $$
BEGIN
    IF NEW.currency <> OLD.currency THEN
        RAISE EXCEPTION 'a credit account''s currency is fixed';
    END IF;
    RETURN NEW;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_creditaccount_currency_fixed BEFORE UPDATE ON billing_creditaccount
    FOR EACH ROW EXECUTE FUNCTION billing_creditaccount_currency_fixed();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS billing_creditaccount_currency_fixed ON billing_creditaccount;
DROP FUNCTION IF EXISTS billing_creditaccount_currency_fixed();
DROP TRIGGER IF EXISTS billing_ledgerentry_currency_check ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledgerentry_currency();
DROP TRIGGER IF EXISTS billing_ledgerentry_no_update ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledgerentry_immutable();
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
    dependencies = [("billing", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
