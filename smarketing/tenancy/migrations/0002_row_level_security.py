from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]

    operations = [
        EnableRowLevelSecurity("membership"),
        EnableRowLevelSecurity("invitation"),
        EnableRowLevelSecurity("apikey"),
        EnableRowLevelSecurity("kiosktoken"),
    ]
