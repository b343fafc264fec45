from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in ("scoringmodel", "fitrule", "behaviourrule", "scorecontribution", "rescorerun")
    ]
