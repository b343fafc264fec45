from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in (
            "company", "campaign", "content", "lead", "visitor", "event", "deal",
            "lifecycletransition", "activity", "decision", "qualification",
        )
    ]
