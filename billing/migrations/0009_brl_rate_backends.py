"""The exchange backends staff keep the BRL rates in (one per currency a partner pays in; rates are added in admin).
No rate is created: a voucher is refused until staff set one."""

from django.db import migrations

BACKENDS = {"staff-eur": "EUR", "staff-usd": "USD"}


def create_backends(apps, schema_editor):
    ExchangeBackend = apps.get_model("exchange", "ExchangeBackend")
    for name, base_currency in BACKENDS.items():
        ExchangeBackend.objects.get_or_create(name=name, defaults={"base_currency": base_currency})


def delete_backends(apps, schema_editor):
    apps.get_model("exchange", "ExchangeBackend").objects.filter(name__in=BACKENDS, rates__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0008_payments"),
        ("exchange", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_backends, delete_backends)]
