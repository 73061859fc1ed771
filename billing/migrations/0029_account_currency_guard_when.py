"""The credit account's currency guard of PostgreSQL (billing_creditaccount_currency_fixed, a plpgsql call per
updated row) gets a WHEN condition, as SQLite's has (billing/db_guards.py): PostgreSQL calls it only for a row whose
currency changes, the row it refuses. Every balance move updates accounts (a month close chunk ~500 twice, a usage
batch hundreds) and no longer pays for a function call per row. The guarantee is the same: the function,
unchanged, still raises for exactly these rows."""

from django.db import migrations

POSTGRES_UP = """
DROP TRIGGER billing_creditaccount_currency_fixed ON billing_creditaccount;
CREATE TRIGGER billing_creditaccount_currency_fixed BEFORE UPDATE ON billing_creditaccount
    FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency)
    EXECUTE FUNCTION billing_creditaccount_currency_fixed();
"""

POSTGRES_DOWN = """
DROP TRIGGER billing_creditaccount_currency_fixed ON billing_creditaccount;
CREATE TRIGGER billing_creditaccount_currency_fixed BEFORE UPDATE ON billing_creditaccount
    FOR EACH ROW EXECUTE FUNCTION billing_creditaccount_currency_fixed();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0028_redundant_foreign_key_indexes")]
    operations = [migrations.RunPython(forwards, backwards)]
