from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in (
            "businesscalendar", "holiday", "contract", "contractversion",
            "marketingcommitment", "salescommitment", "clock",
        )
    ]
