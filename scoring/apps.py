from __future__ import annotations

import threading

from django.apps import AppConfig
from django.db import transaction
from django.utils.translation import gettext_lazy as _

# Organizations whose leads were marked in the current transaction. Several ingestions
# in one transaction (a CSV chunk) give one request; a rolled-back transaction only
# costs a task that finds no marks. (The leads themselves are marked in the database:
# the task scores every marked lead of the organization.)
_pending = threading.local()


def _flush(organization_id: int) -> None:
    from .tasks import request_rescore

    waiting: dict[int, set[int]] = getattr(_pending, "leads", {})
    lead_ids = waiting.pop(organization_id, None)
    if lead_ids:
        request_rescore(organization_id)


def on_events_ingested(sender, *, organization, lead_ids, **kwargs) -> None:
    """A batch was written: once it commits, ask for the organization's marked leads to
    be scored (coalesced: at most one task waiting per organization)."""
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
