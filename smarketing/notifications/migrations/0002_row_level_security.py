from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [
        EnableRowLevelSecurity("notification"),
        EnableRowLevelSecurity("notificationpreference"),
    ]
