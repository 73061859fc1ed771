"""The two rows every usage batch updates in place leave room on their pages (PostgreSQL fillfactor), so the updates
are heap-only: the new row version stays on its page and no index gets a new entry.

- billing_creditaccount (fillfactor 10): each batch moves the balance and entry count of every hub it debits (one
  UPDATE … FROM unnest), and every ledger posting does the same. With full pages none of those updates was heap-only
  (0 of 5,877 in 30 batches of bench/usage_ingest.py's mix), so each wrote an entry into both of the table's indexes
  and left them growing until the next vacuum; with fillfactor 10, 93 % were, and the batch's UPDATE took 4-5 ms
  instead of 9.7. The table has a row per hub: ten times its size is still small.
- billing_usagevolumecounter (fillfactor 30): the month's counters of charged messages per client × market ×
  category, moved on by one upsert per batch (2 of 7,444 updates heap-only before, 99 % after).

Pages written before this keep their fill until their rows next move to another page; SQLite has no such setting."""

from django.db import migrations

FILLFACTORS = {"billing_creditaccount": 10, "billing_usagevolumecounter": 30}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in FILLFACTORS:
            schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("billing", "0030_send_permission_unpublished")]
    operations = [migrations.RunPython(forwards, backwards)]
