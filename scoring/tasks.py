"""Celery entry points of the scoring app: thin, ids in, ``scoring.pipeline`` works.

- ``rescore_pending`` (queue ``scoring``): every marked lead of one organization,
  requested on commit by the ``events_ingested`` receiver (scoring/apps.py) through
  ``request_rescore`` — at most one waiting per organization (a Redis ``SET NX`` key
  the task deletes when it starts). Safe to run twice: it only scores leads still
  marked, so it acknowledges late.
- ``sweep_marked_leads`` (beat, every 30 s): leads marked for more than 30 s lost their
  task (worker or Redis down): re-scored per organization; re-score runs whose task was
  lost or whose worker died are dispatched again.
- ``rescore_organization``: a full re-score after an activation. Not a ``tenant_task``:
  each chunk commits on its own (progress bar, resumable), so it opens its own tenant
  context per chunk.
- ``refresh_scores`` (beat: hot leads every 5 minutes, every decaying lead hourly):
  hot windows end and behaviour points fade with time, without any new event.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from leads.models import Lead
from smarketing.celery import app
from smarketing.tenancy.db import system_context, tenant_context
from smarketing.tenancy.models import Organization
from smarketing.tenancy.tasking import tenant_task

from . import pipeline, predictive_tasks  # noqa: F401 (predictive_tasks registers its tasks)
from .models import RescoreRun, ScoringModel

log = logging.getLogger(__name__)


# --- The live pipeline: one task in flight per organization -----------------------------

PENDING_KEY_TTL = 120  # seconds; a lost task's key expires (the sweeper covers meanwhile)
_redis_client = None


def _redis():
    """The Redis client of the coalescing keys; None without Redis (embedded mode)."""
    global _redis_client
    url = settings.REDIS_URL
    if not url:
        return None
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def _pending_key(organization_id: int) -> str:
    database = connection.settings_dict.get("NAME") or ""
    return f"smarketing:scoring:pending:{database}:{int(organization_id)}"


def request_rescore(organization_id: int) -> bool:
    """Ask for the organization's marked leads to be scored (after an ingestion
    commits). At most one task waits per organization: ``SET NX`` on a key that the
    task deletes when it starts, then it scores *every* marked lead of the
    organization. A mark committed before that deletion is seen by the task; one
    committed after it sets the key again and dispatches the next task. So 1,000
    events/s become a few tasks/s, not 20. Returns whether a task was dispatched."""
    client = _redis()
    if client is not None and not client.set(
        _pending_key(organization_id), "1", nx=True, ex=PENDING_KEY_TTL
    ):
        return False
    try:
        rescore_pending.delay(organization_id)
    except Exception:
        if client is not None:  # nothing was queued: let the next ingestion ask again
            client.delete(_pending_key(organization_id))
        raise
    return True


@tenant_task(queue="scoring", acks_late=True)
def rescore_pending(organization) -> int:
    """Score every marked lead of the organization; return how many were scored."""
    client = _redis()
    if client is not None:
        # First, before reading any mark: see ``request_rescore``.
        client.delete(_pending_key(organization.pk))
    outcome, more = pipeline.rescore_pending_leads(organization=organization)
    if more:
        transaction.on_commit(lambda: request_rescore(organization.pk), robust=True)
    return outcome.scored


@tenant_task(queue="scoring", acks_late=True)
def rescore_leads(organization, lead_ids: list[int]) -> int:
    """Score the still-marked leads among ``lead_ids``; return how many were scored.
    (The per-batch task of earlier releases; messages already queued still work.)"""
    return pipeline.rescore_leads(organization=organization, lead_ids=lead_ids).scored


@tenant_task(queue="scoring", acks_late=True)
def rescore_marked(organization) -> int:
    """The sweeper's per-organization task."""
    return pipeline.rescore_marked_leads(organization=organization).scored


@shared_task(name="scoring.tasks.rescore_organization", queue="scoring", acks_late=True)
def rescore_organization(organization_id: int, run_id: int) -> str | None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    run = pipeline.run_full_rescore(organization=organization, run_id=run_id)
    return run.status if run else None


@shared_task(name="scoring.tasks.refresh_scores", queue="scoring")
def refresh_scores(organization_id: int, scope: str = "decaying") -> int:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    return pipeline.refresh_scores(organization=organization, scope=scope).scored


@shared_task(name="scoring.tasks.sweep_marked_leads", queue="scoring")
def sweep_marked_leads() -> int:
    """Find the organizations with overdue marks or stale runs (system context, on the
    partial indexes), then work under each organization's own tenant."""
    now = timezone.now()
    with system_context("scoring sweeper: organizations with unscored leads", routine=True):
        marked = set(
            Lead.unscoped.filter(rescore_requested_at__lt=now - pipeline.SWEEP_GRACE)
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
        with_runs = set(
            RescoreRun.unscoped.filter(status__in=["queued", "running"])
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
    for organization_id in sorted(marked):
        rescore_marked.delay(organization_id)
    for organization in Organization.objects.filter(pk__in=with_runs).order_by("pk"):
        with tenant_context(organization.pk):
            run_ids = pipeline.requeue_stale_runs(organization=organization, now=now)
        for run_id in run_ids:
            rescore_organization.delay(organization.pk, run_id)
    if marked:
        log.info("scoring sweeper: %s organizations with leads left unscored", len(marked))
    return len(marked)


@shared_task(name="scoring.tasks.sweep_time_dependent_scores", queue="scoring")
def sweep_time_dependent_scores(scope: str = "decaying") -> int:
    """Dispatch ``refresh_scores`` for each organization that has hot leads (``hot``) or
    leads with behaviour points (``decaying``)."""
    with system_context(f"scoring refresh ({scope}): organizations to visit", routine=True):
        organization_ids = set(
            Lead.unscoped.filter(hot=True)
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
        if scope != "hot":
            # Every organization with an active model (a small table); its refresh finds
            # the leads that carry behaviour points on the contributions' lead index.
            organization_ids |= set(
                ScoringModel.unscoped.filter(status=ScoringModel.Status.ACTIVE)
                .order_by()
                .values_list("organization_id", flat=True)
                .distinct()
            )
    for organization_id in sorted(organization_ids):
        refresh_scores.delay(organization_id, scope)
    return len(organization_ids)


app.conf.beat_schedule["scoring-sweep-marked-leads"] = {
    "task": "scoring.tasks.sweep_marked_leads",
    "schedule": 30.0,
    "options": {"queue": "scoring", "expires": 25},
}
app.conf.beat_schedule["scoring-refresh-hot"] = {
    "task": "scoring.tasks.sweep_time_dependent_scores",
    "schedule": 300.0,
    "args": ("hot",),
    "options": {"queue": "scoring", "expires": 280},
}
app.conf.beat_schedule["scoring-refresh-decaying"] = {
    "task": "scoring.tasks.sweep_time_dependent_scores",
    "schedule": 3600.0,
    "args": ("decaying",),
    "options": {"queue": "scoring", "expires": 3000},
}
