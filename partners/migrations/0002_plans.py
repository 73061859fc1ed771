from decimal import Decimal

from django.db import migrations

PLANS = [("growth", "Growth", Decimal("500.00")), ("premium", "Premium", Decimal("1000.00"))]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("partners", "Plan")
    for code, name, fee in PLANS:
        Plan.objects.update_or_create(code=code, defaults={"name": name, "monthly_fee": fee})


def remove_plans(apps, schema_editor):
    apps.get_model("partners", "Plan").objects.filter(code__in=[c for c, _, _ in PLANS], partners=None).delete()


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]
    operations = [migrations.RunPython(create_plans, remove_plans)]
