"""An index for speed to lead: the leads whose first sales touch falls in a period
(``kpis.speed_samples``) without scanning every lead of the organization.

It lives on the leads app's table; it belongs in ``leads.models.Lead.Meta.indexes``
(``models.Index(fields=["organization", "first_touch_at"], name="lead_first_touch")``)
and is created here, idempotently, until it moves there.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS lead_first_touch "
    "ON leads_lead (organization_id, first_touch_at)"
)
DROP = "DROP INDEX IF EXISTS lead_first_touch"


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0003_rollup_version"), ("leads", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP, elidable=False)]
