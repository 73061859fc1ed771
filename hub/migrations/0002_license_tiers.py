from decimal import Decimal

from django.db import migrations

TIERS = [("regular", "Regular", Decimal("25.00")), ("premium", "Premium", Decimal("49.00"))]


def create_tiers(apps, schema_editor):
    LicenseTier = apps.get_model("hub", "LicenseTier")
    for code, name, fee in TIERS:
        LicenseTier.objects.update_or_create(code=code, defaults={"name": name, "monthly_fee": fee})


def remove_tiers(apps, schema_editor):
    apps.get_model("hub", "LicenseTier").objects.filter(code__in=[c for c, _, _ in TIERS], numbers=None).delete()


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]
    operations = [migrations.RunPython(create_tiers, remove_tiers)]
