"""Each partner's billed-through month (Partner.plan_billed_through) from the Partner Plan invoices already issued, so
the catch-up of missed billing days starts after the latest month billed. Reversing leaves the column to the partners
migration that removes it."""

from django.db import migrations
from django.db.models import Max


def backfill(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    Partner = apps.get_model("partners", "Partner")
    latest = (
        Invoice.objects.filter(kind="PARTNER_PLAN", partner__isnull=False)
        .values("partner_id")
        .annotate(through=Max("period_start"))
    )
    for row in latest:
        Partner.objects.filter(pk=row["partner_id"]).update(plan_billed_through=row["through"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_invoice_delivery"),
        ("partners", "0003_partner_plan_billed_through"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
