from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_webhook_key_per_organization"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="sync_claim_token",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
    ]
