from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("notifications", "0004_chat_webhook")]

    operations = [
        EnableRowLevelSecurity("chatwebhook"),
        EnableRowLevelSecurity("chatdelivery"),
    ]
