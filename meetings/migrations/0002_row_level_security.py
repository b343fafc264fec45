from django.db import migrations

from smarketing.tenancy.operations import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("meetings", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in (
            "meeting", "attendee", "meetingdecision", "actionitem", "rolloutevent",
            "scoringapproval",
        )
    ]
