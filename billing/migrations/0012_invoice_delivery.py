from django.db import migrations, models


class Migration(migrations.Migration):
    """Invoice delivery: `emailed_at` becomes `delivered_at` (same meaning: the mail server accepted the invoice
    email; the values are kept), the last delivery failure for staff, and a partial index for the delivery sweep."""

    dependencies = [
        ("billing", "0011_usage_moves_from_hub"),
    ]

    operations = [
        migrations.RenameField(model_name="invoice", old_name="emailed_at", new_name="delivered_at"),
        migrations.AddField(
            model_name="invoice",
            name="delivery_error",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                condition=models.Q(("delivered_at__isnull", True), ("number__isnull", False)),
                fields=["issued_at"],
                name="invoice_undelivered",
            ),
        ),
    ]
