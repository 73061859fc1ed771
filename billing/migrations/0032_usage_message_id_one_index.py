"""A usage row's message id stays unique through a constraint instead of the field's `unique=True`, which on
PostgreSQL also kept a second index for LIKE prefix searches (varchar_pattern_ops) that nothing runs. Meta's wamids
are random, so each insert wrote an entry at a random leaf of both indexes; now of one. The constraint is added
before the field's uniqueness is dropped, so message ids are never without a unique index."""

from django.db import migrations, models


def drop_prefix_search_indexes(apps, schema_editor):
    """The LIKE index by its real name: the table began as hub_messageusage, so its index is named after that and
    AlterField's DROP INDEX IF EXISTS (named after the table's current name) misses it."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'billing_messageusage'"
            " AND indexdef LIKE '%%(message_id varchar_pattern_ops)%%'"
        )
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0031_hot_updates_fillfactor"),
        ("hub", "0007_phonenumber_fillfactor"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="messageusage",
            constraint=models.UniqueConstraint(fields=("message_id",), name="usage_message_id_unique"),
        ),
        migrations.AlterField(
            model_name="messageusage",
            name="message_id",
            field=models.CharField(max_length=128),
        ),
        migrations.RunPython(drop_prefix_search_indexes, migrations.RunPython.noop),
    ]
