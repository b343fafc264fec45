from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model) for model in ("kpitarget", "dailykpi", "rollupstate")
    ]
