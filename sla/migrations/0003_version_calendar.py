from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sla", "0002_row_level_security")]

    operations = [
        migrations.AddField(
            model_name="contractversion",
            name="calendar_time_zone",
            field=models.CharField(blank=True, max_length=64, verbose_name="time zone"),
        ),
        migrations.AddField(
            model_name="contractversion",
            name="calendar_hours",
            field=models.JSONField(blank=True, null=True, verbose_name="weekly working hours"),
        ),
        migrations.AddField(
            model_name="contractversion",
            name="calendar_holidays",
            field=models.JSONField(blank=True, default=list, verbose_name="holidays"),
        ),
    ]
