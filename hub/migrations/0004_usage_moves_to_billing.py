"""Usage and the rate card now live in billing (billing 0011 took over their tables): drop them from hub's state."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('hub', '0003_number_licensed_through'),
        ('billing', '0011_usage_moves_from_hub'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='RateCardRate'),
                migrations.DeleteModel(name='MessageUsage'),
            ],
        ),
    ]
