"""Invoice.language: the language an invoice was issued in. Frozen after issue like its other snapshot columns
(the PostgreSQL guard function is replaced with one that also watches `language`; SQLite's guards are rebuilt
after every migrate from billing/migrations_sql.py)."""

import importlib

from django.db import migrations, models

immutability = importlib.import_module("billing.migrations.0006_invoice_immutability")


def _invoice_function(frozen: list[str]) -> str:
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in frozen)
    return f"""
CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN RAISE EXCEPTION '{immutability.MESSAGE}'; END IF;
        RETURN OLD;
    END IF;
    IF OLD.number IS NOT NULL AND ({changed}) THEN
        RAISE EXCEPTION '{immutability.MESSAGE}';
    END IF;
    RETURN NEW;
END; $$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_invoice_function([*immutability.FROZEN, "language"]), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_invoice_function(immutability.FROZEN), params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0014_stripe_event_rejected")]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="language",
            field=models.CharField(
                choices=[("en", "English"), ("de", "Deutsch"), ("pt-br", "Português (Brasil)"), ("es", "Español")],
                default="en",
                max_length=10,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
