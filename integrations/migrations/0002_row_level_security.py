from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in (
            "connection", "synccursor", "syncrun", "connectionlog", "externalrecord",
            "inboundreceipt", "webhooksubscription", "webhookdelivery",
        )
    ]
