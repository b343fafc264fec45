"""The dashboards app. Its receivers keep the KPI rollups honest: any row written,
edited or deleted with a timestamp on a day already built marks that day dirty
(``rollups.mark_dirty``), so reads go live from it until the rollups are rebuilt.

Not seen by signals: ``QuerySet.update()`` and ``bulk_create`` on these models. The
bulk paths of the other apps write "now" (ingested and imported leads, their first
transitions, scoring's MQL transitions): today is always read live. Ingested events
with past timestamps arrive through ``leads.signals.events_ingested``. Any other bulk
write to a past day must call ``rollups.mark_dirty`` itself (or wait for the nightly
rebuild of the last ``rollups.NIGHTLY_DAYS`` days).
"""

from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_init, post_save
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The timestamps each model's rollup facts are dated by.
DATED_FIELDS = {
    "Lead": ("created_at", "first_touch_at"),
    "Deal": ("created_at", "closed_at"),
    "Decision": ("at",),
    "LifecycleTransition": ("at",),
}
_LOADED = "_dashboards_loaded"
# A row dated this close to now is "now" (like the bulk paths): it costs no query. Only
# a row dated seconds before local midnight whose transaction commits after the next
# build would miss its day, until the nightly rebuild.
RECENT = timedelta(seconds=10)


def _remember(sender, instance, **kwargs) -> None:
    """The values as loaded (post_init), to mark the old day too when one moves."""
    fields = DATED_FIELDS[sender.__name__]
    setattr(instance, _LOADED, tuple(instance.__dict__.get(name) for name in fields))


def _organization(instance):
    from smarketing.tenancy.models import Organization

    cached = instance._state.fields_cache.get("organization")
    if cached is not None:
        return cached
    return Organization.objects.filter(pk=instance.organization_id).first()


def _changed(sender, instance, created=False, deleted=False, **kwargs) -> None:
    from . import rollups

    fields = DATED_FIELDS[sender.__name__]
    now = tuple(getattr(instance, name, None) for name in fields)
    loaded = getattr(instance, _LOADED, (None,) * len(fields))
    moments = [m for m in now if m is not None]
    if not created and not deleted:
        moments += [m for m in loaded if m is not None]
        if sender.__name__ == "Lead":
            # A lead's other fields (score, owner, grade...) are not in the total rows;
            # only its dated fields move facts between days.
            moments = [m for m, was in zip(now, loaded, strict=True) if m != was]
            moments += [was for m, was in zip(now, loaded, strict=True) if m != was and was]
            moments = [m for m in moments if m is not None]
    _remember(sender, instance)  # a second save compares with this one
    if not moments or not instance.organization_id:
        return
    earliest = min(moments)
    if earliest >= timezone.now() - RECENT:
        return  # written "now" (most rows): today, read live; no look-up at all
    rollups.mark_dirty(_organization(instance), earliest)


def _deleted(sender, instance, **kwargs) -> None:
    _changed(sender, instance, deleted=True)


def on_events_ingested(sender, *, organization, events=(), **kwargs) -> None:
    """Late events change past days (a marketing touch before a deal): mark from the
    batch's earliest event (conservative, one comparison per event)."""
    from . import rollups

    moments = [occurred_at for _lead, _type, occurred_at in events if occurred_at]
    if moments:
        rollups.mark_dirty(organization, min(moments))


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = _("Dashboards")

    def ready(self) -> None:
        from leads import signals as leads_signals
        from leads.models import Deal, Decision, Lead, LifecycleTransition

        for model in (Lead, Deal, Decision, LifecycleTransition):
            uid = f"dashboards.{model.__name__}"
            post_init.connect(_remember, sender=model, dispatch_uid=f"{uid}.init")
            post_save.connect(_changed, sender=model, dispatch_uid=f"{uid}.save")
            post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}.delete")
        leads_signals.events_ingested.connect(
            on_events_ingested, dispatch_uid="dashboards.on_events_ingested"
        )
