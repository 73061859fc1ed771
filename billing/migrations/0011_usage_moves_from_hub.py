"""Usage, rating and the rate card move from the hub app to billing (issue 10: hub sits below billing).

The tables are kept, data and all: the models are created in billing's state over the existing tables, which are
then renamed (hub_* -> billing_*) together with their indexes; hub 0004 drops the models from hub's state only.
The content types move too, so permissions and admin history follow the models."""

import django.core.validators
import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models

MOVED = ["ratecardrate", "messageusage"]


def content_types_to(app_label):
    def move(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        source = "hub" if app_label == "billing" else "billing"
        for model in MOVED:
            if not content_type.objects.filter(app_label=app_label, model=model).exists():
                content_type.objects.filter(app_label=source, model=model).update(app_label=app_label)

    return move


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0010_staff_actions'),
        ('hub', '0003_number_licensed_through'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='RateCardRate',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('effective_date', models.DateField()),
                    ('currency', models.CharField(choices=[('EUR', 'Euro'), ('USD', 'US Dollar')], max_length=3)),
                    ('market', models.CharField(max_length=40)),
                    ('category', models.CharField(choices=[('marketing', 'Marketing'), ('utility', 'Utility'), ('authentication', 'Authentication'), ('authentication_international', 'Authentication (international)'), ('service', 'Service')], max_length=40)),
                    ('rate', models.DecimalField(decimal_places=6, max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                    ('loaded_at', models.DateTimeField(auto_now_add=True)),
                    ('source', models.CharField(blank=True, help_text='File the rate was loaded from.', max_length=200)),
                ],
                options={
                    'verbose_name': 'rate card rate',
                    'db_table': 'hub_ratecardrate',
                    'ordering': ['-effective_date', 'currency', 'market', 'category'],
                    'constraints': [models.UniqueConstraint(fields=('effective_date', 'currency', 'market', 'category'), name='rate_card_key_unique'), models.CheckConstraint(condition=models.Q(('rate__gte', 0)), name='rate_not_negative'), models.CheckConstraint(condition=models.Q(('currency__in', ('EUR', 'USD'))), name='rate_currency_known'), models.CheckConstraint(condition=models.Q(('market__in', ['AE', 'AR', 'BR', 'CL', 'CO', 'DE', 'EG', 'ES', 'FR', 'GB', 'ID', 'IL', 'IN', 'IT', 'MX', 'MY', 'NG', 'NL', 'NORTH_AMERICA', 'OTHER', 'PE', 'PK', 'REST_OF_AFRICA', 'REST_OF_ASIA_PACIFIC', 'REST_OF_CENTRAL_EASTERN_EUROPE', 'REST_OF_LATIN_AMERICA', 'REST_OF_MIDDLE_EAST', 'REST_OF_WESTERN_EUROPE', 'RU', 'SA', 'TR', 'ZA'])), name='rate_market_known'), models.CheckConstraint(condition=models.Q(('category__in', ['marketing', 'utility', 'authentication', 'authentication_international', 'service'])), name='rate_category_known')],
                },
            ),
            migrations.CreateModel(
                name='MessageUsage',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('message_id', models.CharField(max_length=128, unique=True)),
                    ('recipient_country', models.CharField(max_length=2)),
                    ('market', models.CharField(max_length=40)),
                    ('category', models.CharField(choices=[('marketing', 'Marketing'), ('utility', 'Utility'), ('authentication', 'Authentication'), ('authentication_international', 'Authentication (international)'), ('service', 'Service')], max_length=40)),
                    ('pricing_model', models.CharField(default='PMP', max_length=10)),
                    ('billable', models.BooleanField()),
                    ('sent_at', models.DateTimeField()),
                    ('rate_date', models.DateField(help_text="The day in the WABA's time zone whose rate applies.")),
                    ('rate', models.DecimalField(decimal_places=6, max_digits=12)),
                    ('cost', models.DecimalField(decimal_places=6, max_digits=12)),
                    ('currency', models.CharField(choices=[('EUR', 'Euro'), ('USD', 'US Dollar')], max_length=3)),
                    ('period', models.DateField(help_text='First day of the billing month the cost counts in.')),
                    ('recorded_at', models.DateTimeField()),
                    ('hub', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='hub.hub')),
                    ('ledger_entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='messages', to='billing.ledgerentry')),
                    ('phone_number', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='hub.phonenumber')),
                    ('waba', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='hub.waba')),
                ],
                options={
                    'verbose_name': 'message usage',
                    'db_table': 'hub_messageusage',
                    'verbose_name_plural': 'message usage',
                    'ordering': ['-sent_at'],
                    'indexes': [models.Index(fields=['hub', 'period'], name='hub_message_hub_id_580bec_idx'), models.Index(fields=['waba', 'sent_at'], name='hub_message_waba_id_512a75_idx')],
                    'constraints': [models.CheckConstraint(condition=models.Q(('cost__gte', 0)), name='usage_cost_not_negative'), models.CheckConstraint(condition=models.Q(('billable', True), ('cost', 0), _connector='OR'), name='usage_non_billable_costs_nothing'), models.CheckConstraint(condition=models.Q(('currency__in', ('EUR', 'USD'))), name='usage_currency_known')],
                },
            ),
            ],
        ),
        migrations.AlterModelTable(name='ratecardrate', table=None),
        migrations.AlterModelTable(name='messageusage', table=None),
        migrations.RenameIndex(
            model_name='messageusage', new_name='usage_hub_period_idx', old_name='hub_message_hub_id_580bec_idx'
        ),
        migrations.RenameIndex(
            model_name='messageusage', new_name='usage_waba_sent_at_idx', old_name='hub_message_waba_id_512a75_idx'
        ),
        migrations.RunPython(content_types_to("billing"), content_types_to("hub")),
    ]
