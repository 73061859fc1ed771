"""hub_phonenumber leaves half of each page free (PostgreSQL fillfactor 50), so the License Invoice's monthly
UPDATE of every billed number's licensed_through (a column in no index) is a heap-only tuple update: the new row
version stays on its page and none of the table's seven indexes gets a new entry. With full pages each of those
updates wrote seven index entries (measured on bench/month_close.py: 17 ms of a 500-hub chunk's License Invoices,
4 ms with fillfactor 50). Pages written before this keep their fill until their rows are next updated, when the new
versions move to pages filled to half. The table is small (a row per number); SQLite has no such setting."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE hub_phonenumber SET (fillfactor = 50)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE hub_phonenumber RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("hub", "0006_phone_meta_id_unique_message")]
    operations = [migrations.RunPython(forwards, backwards)]
