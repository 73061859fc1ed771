"""The invoice guard of PostgreSQL (billing_invoice_frozen, a plpgsql call per updated or deleted row) gets WHEN
conditions, so PostgreSQL calls it only for a row it will refuse: an issued invoice whose frozen columns change
(UPDATE), or an issued invoice deleted (DELETE). The WHEN condition is evaluated by the executor, without entering
plpgsql, for every row; drafts being numbered (a month close numbers ~2,000 in one UPDATE) and status, payment,
void and delivery updates no longer pay for a function call per row. The guarantee is the same: the function
itself, unchanged, still raises for exactly these rows. SQLite has had the WHEN form all along (billing/db_guards.py)."""

from django.db import migrations

from billing.migrations_sql import INVOICE_FROZEN_COLUMNS

CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in INVOICE_FROZEN_COLUMNS)

POSTGRES_UP = f"""
DROP TRIGGER billing_invoice_frozen ON billing_invoice;
CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE ON billing_invoice
    FOR EACH ROW WHEN (OLD.number IS NOT NULL AND ({CHANGED})) EXECUTE FUNCTION billing_invoice_frozen();
CREATE TRIGGER billing_invoice_no_delete BEFORE DELETE ON billing_invoice
    FOR EACH ROW WHEN (OLD.number IS NOT NULL) EXECUTE FUNCTION billing_invoice_frozen();
"""

POSTGRES_DOWN = """
DROP TRIGGER billing_invoice_no_delete ON billing_invoice;
DROP TRIGGER billing_invoice_frozen ON billing_invoice;
CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0026_usage_number_and_entry_without_db_foreign_key")]
    operations = [migrations.RunPython(forwards, backwards)]
