from __future__ import annotations

import threading

from django.apps import AppConfig
from django.db import transaction
from django.utils.translation import gettext_lazy as _

# Lead ids waiting for the current transaction to commit, per organization. Several
# ingestions in one transaction (a CSV chunk) give one task; ids left by a rolled-back
# transaction only cost a task that finds their marks gone.
_pending = threading.local()


def _flush(organization_id: int) -> None:
    from .tasks import rescore_leads

    waiting: dict[int, set[int]] = getattr(_pending, "leads", {})
    lead_ids = waiting.pop(organization_id, None)
    if lead_ids:
        rescore_leads.delay(organization_id, sorted(lead_ids))


def on_events_ingested(sender, *, organization, lead_ids, **kwargs) -> None:
    """A batch was written: score its leads once it commits (one task per batch)."""
    if not lead_ids:
        return
    waiting = getattr(_pending, "leads", None)
    if waiting is None:
        waiting = _pending.leads = {}
    waiting.setdefault(organization.pk, set()).update(int(i) for i in lead_ids)
    org_id = organization.pk
    # robust: a broker that is down must not turn a committed batch into an error; the
    # leads stay marked and the sweeper scores them.
    transaction.on_commit(lambda: _flush(org_id), robust=True)


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        from leads import signals as leads_signals

        leads_signals.events_ingested.connect(
            on_events_ingested, dispatch_uid="scoring.on_events_ingested"
        )
