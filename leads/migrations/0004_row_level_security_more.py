from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_tracking_hooks_imports_routing")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in (
            "trackingsettings", "webhookendpoint", "webhookreceipt", "importjob",
            "routingsettings", "reprouting",
        )
    ]
