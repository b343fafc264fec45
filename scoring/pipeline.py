"""Re-scoring leads and what follows: the writes of the scoring pipeline.

- ``rescore_leads``: the leads an ingestion marked (``Lead.rescore_requested_at``),
  scored in bulk with the pure engine (rules loaded once, every lead's events in one
  query); called by the coalesced on-commit task and by the sweeper.
- ``run_full_rescore``: every lead of the organization after an activation, in
  chunks (one transaction each, progress in ``RescoreRun``), with the set-based SQL
  path on PostgreSQL, the Python path elsewhere.
- ``refresh_scores``: the decay refresh — leads that are hot or carry behaviour
  points, re-scored as time passes (hot windows end, points fade).
- ``apply_effects``: a lead that now meets the MQL definition and did not before moves
  to MQL (SPEC.md §1), is routed to an owner, and the owner is notified; a lead that
  became hot notifies its owner at once. Falling back under the threshold demotes
  nothing.

Concurrency: a scorer locks the leads it scores ``FOR NO KEY UPDATE SKIP LOCKED``
before reading their events. An ingestion that commits events for a locked lead waits
for the scorer to commit before it marks the lead again, so the lead is scored again
by that ingestion's task; a lead locked by someone else is skipped and stays marked.
Clearing the mark is a compare-and-swap on the value read, so a lead marked again
meanwhile (on a database without row locks) stays marked.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from leads.models import Lead, Stage
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Organization

from . import effects
from .effects import Outcome
from .engine import ModelRules, Result, score_lead
from .inputs import LEAD_VALUES, company_attrs, lead_attrs, load_events
from .models import RescoreRun, ScoreContribution, ScoringModel
from .rules import compile_model
from .services import ensure_active_model
from .sql import Change, create_snapshot, drop_snapshot, rescore_range, snapshot_exists

log = logging.getLogger(__name__)

BATCH = 500  # leads per Python-path batch: one events query each
LIVE_BATCH = 2000  # marked leads per set-based statement (the live pipeline)
PENDING_LIMIT = 10000  # marked leads per coalesced task; more: the task goes again
RULES_CACHE_SIZE = 64
SQL_CHUNK = 25000  # leads per set-based statement (and per progress step): 4 passes for 100k
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_LIMIT = 5000
# Hot notifications are for leads sales can still work.
NO_HOT_NOTIFICATION = frozenset({Stage.DISQUALIFIED})


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _use_sql() -> bool:
    return connection.vendor == "postgresql"


_rules_cache: OrderedDict[tuple, ModelRules] = OrderedDict()
_rules_lock = threading.Lock()


def rules_for(model: ScoringModel) -> ModelRules:
    """``compile_model``, cached per process for models that have been active: their
    rules never change (editing makes a new draft), so the live pipeline reads them
    once per worker rather than twice per task. The key carries the model's own
    settings too, and the database (tests create and drop theirs)."""
    if model.status == ScoringModel.Status.DRAFT:
        return compile_model(model)
    key = (
        connection.settings_dict.get("NAME"),
        model.pk,
        model.version,
        model.mql_threshold,
        model.min_fit_grade,
        model.decay_half_life_days,
        tuple(sorted((model.grade_bands or {}).items())),
    )
    with _rules_lock:
        rules = _rules_cache.get(key)
        if rules is not None:
            _rules_cache.move_to_end(key)
            return rules
    rules = compile_model(model)
    with _rules_lock:
        _rules_cache[key] = rules
        while len(_rules_cache) > RULES_CACHE_SIZE:
            _rules_cache.popitem(last=False)
    return rules


# --- The Python path --------------------------------------------------------------------


def _typed(pg_type: str) -> str:
    return f"%s::{pg_type}" if connection.vendor == "postgresql" else "%s"


def _decaying(queryset, organization_id: int):
    """Leads whose score time can still change: hot, or carrying behaviour points."""
    behaviour = ScoreContribution.objects.for_org(organization_id).filter(
        lead_id=OuterRef("pk"), kind=ScoreContribution.Kind.BEHAVIOUR
    )
    return queryset.filter(Q(hot=True) | Exists(behaviour))


def _lock_rows(organization_id: int, lead_ids: Sequence[int], lead_filter: str) -> list[dict]:
    leads = Lead.objects.for_org(organization_id).filter(pk__in=list(lead_ids))
    if lead_filter == "marked":
        leads = leads.filter(rescore_requested_at__isnull=False)
    elif lead_filter == "decaying":
        leads = _decaying(leads, organization_id)
    return list(
        leads.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .order_by("pk")
        .values(*LEAD_VALUES)
    )


def score_rows(
    organization_id: int, rules: ModelRules, rows: Sequence[dict], now: datetime
) -> dict[int, Result]:
    """The engine over loaded lead rows (their events in one query)."""
    events = load_events(organization_id, rules, [row["id"] for row in rows])
    return {
        row["id"]: score_lead(rules, lead_attrs(row), company_attrs(row), events[row["id"]], now)
        for row in rows
    }


def _write(organization_id: int, model_id: int, rows: Sequence[dict], results: dict) -> None:
    """Write scores back (one UPDATE … FROM VALUES, changed or marked rows only) and
    replace the contributions (one DELETE, one INSERT)."""
    adapt = connection.ops.adapt_datetimefield_value
    values = []
    for row in rows:
        r = results[row["id"]]
        hot_since = r.hot_since if r.hot else None
        same = (row["score"], row["fit"], row["grade"], row["hot"], row["hot_since"]) == (
            r.score,
            r.fit,
            r.grade,
            r.hot,
            hot_since,
        )
        if same and row["rescore_requested_at"] is None:
            continue
        values.append(
            (
                row["id"],
                r.score,
                r.fit,
                r.grade,
                r.hot,
                adapt(hot_since),
                adapt(row["rescore_requested_at"]),
            )
        )
    if values:
        placeholder = (
            f"({_typed('bigint')}, {_typed('int')}, {_typed('int')}, {_typed('text')}, "
            f"{_typed('boolean')}, {_typed('timestamptz')}, {_typed('timestamptz')})"
        )
        table = Lead._meta.db_table
        sql = (
            f"WITH v(id, score, fit, grade, hot, hot_since, seen) AS "  # noqa: S608 (our table; values are parameters)
            f"(VALUES {', '.join([placeholder] * len(values))}) "
            f'UPDATE "{table}" AS t SET score = v.score, fit = v.fit, grade = v.grade, '
            "hot = v.hot, hot_since = v.hot_since, rescore_requested_at = CASE "
            "WHEN t.rescore_requested_at = v.seen THEN NULL ELSE t.rescore_requested_at END "
            "FROM v WHERE t.id = v.id AND t.organization_id = %s"
        )
        params = [v for row in values for v in row] + [organization_id]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    lead_ids = [row["id"] for row in rows]
    ScoreContribution.objects.for_org(organization_id).filter(lead_id__in=lead_ids).delete()
    ScoreContribution.objects.bulk_create(
        [
            ScoreContribution(
                organization_id=organization_id,
                lead_id=lead_id,
                model_id=model_id,
                kind=c.kind,
                fit_rule_id=c.rule_id if c.kind == "fit" else None,
                behaviour_rule_id=c.rule_id if c.kind == "behaviour" else None,
                label=c.label,
                points=Decimal(c.units).scaleb(-3),
                events=c.events,
                last_occurrence=c.last_occurrence,
                hot=c.hot,
            )
            for lead_id in lead_ids
            for c in results[lead_id].contributions
        ]
    )


def _changes(rows: Sequence[dict], results: dict[int, Result]) -> list[Change]:
    return [
        Change(
            lead_id=row["id"],
            old_score=row["score"],
            old_grade=row["grade"],
            old_hot=row["hot"],
            score=results[row["id"]].score,
            fit=results[row["id"]].fit,
            grade=results[row["id"]].grade,
            hot=results[row["id"]].hot,
            hot_since=results[row["id"]].hot_since,
            stage=row["stage"],
        )
        for row in rows
    ]


def score_batch_python(
    *,
    organization_id: int,
    model: ScoringModel,
    rules: ModelRules,
    lead_ids: Sequence[int],
    now: datetime,
    lead_filter: str = "",
) -> tuple[list[Change], list[int]]:
    """Lock, score and write one batch; return the changes and the ids skipped (locked
    by someone else, or filtered out)."""
    rows = _lock_rows(organization_id, lead_ids, lead_filter)
    if not rows:
        return [], list(lead_ids)
    results = score_rows(organization_id, rules, rows, now)
    _write(organization_id, model.pk, rows, results)
    seen = {row["id"] for row in rows}
    return _changes(rows, results), [i for i in lead_ids if i not in seen]


# --- Effects ----------------------------------------------------------------------------


def apply_effects(
    *,
    organization: Organization,
    model: ScoringModel,
    changes: Sequence[Change],
    now: datetime,
    previous: ScoringModel | None = None,
    notify_people: bool = True,
    backdate: bool = False,
) -> Outcome:
    """MQL moves, routing, notifications and hot signals, set-based: see
    ``scoring.effects.apply_effects``."""
    return effects.apply_effects(
        organization=organization,
        model=model,
        changes=changes,
        now=now,
        previous=previous,
        notify_people=notify_people,
        backdate=backdate,
    )


# --- Entry points -----------------------------------------------------------------------


def _clear_marks(organization_id: int, lead_ids: Sequence[int]) -> None:
    Lead.objects.for_org(organization_id).filter(
        pk__in=list(lead_ids), rescore_requested_at__isnull=False
    ).update(rescore_requested_at=None)


@transaction.atomic
def rescore_leads(
    *, organization: Organization, lead_ids: Iterable[int], now: datetime | None = None
) -> Outcome:
    """Score those of ``lead_ids`` that are still marked (the coalesced task, the
    sweeper). Runs in the organization's tenant. On PostgreSQL one set-based statement
    per ``LIVE_BATCH`` leads (``scoring.sql`` with the ids), elsewhere the engine."""
    now = now or timezone.now()
    ids = sorted({int(i) for i in lead_ids})
    outcome = Outcome()
    if not ids:
        return outcome
    model = ensure_active_model(organization)
    if model is None:
        _clear_marks(organization.pk, ids)  # nothing to score with: do not sweep forever
        return outcome
    rules = rules_for(model)
    for batch in _chunks(ids, LIVE_BATCH if _use_sql() else BATCH):
        if _use_sql():
            changes = rescore_range(
                organization_id=organization.pk,
                rules=rules,
                now=now,
                lead_ids=batch,
                lead_filter="marked",
            )
        else:
            changes, _skipped = score_batch_python(
                organization_id=organization.pk,
                model=model,
                rules=rules,
                lead_ids=batch,
                now=now,
                lead_filter="marked",
            )
        outcome.scored += len(changes)
        outcome.add(apply_effects(organization=organization, model=model, changes=changes, now=now))
    return outcome


def rescore_pending_leads(
    *, organization: Organization, now: datetime | None = None, limit: int = PENDING_LIMIT
) -> tuple[Outcome, bool]:
    """Every marked lead of the organization, oldest mark first, up to ``limit`` (the
    coalesced task). Returns the outcome and whether leads were left for another
    round."""
    ids = list(
        Lead.objects.for_org(organization)
        .filter(rescore_requested_at__isnull=False)
        .order_by("rescore_requested_at")
        .values_list("pk", flat=True)[:limit]
    )
    return rescore_leads(organization=organization, lead_ids=ids, now=now), len(ids) >= limit


def marked_lead_ids(
    organization: Organization, *, now: datetime, older_than: timedelta = SWEEP_GRACE
) -> list[int]:
    return list(
        Lead.objects.for_org(organization)
        .filter(rescore_requested_at__lt=now - older_than)
        .order_by("rescore_requested_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )


def rescore_marked_leads(
    *, organization: Organization, now: datetime | None = None, older_than=SWEEP_GRACE
) -> Outcome:
    """The sweeper's work for one organization: marked leads whose task was lost."""
    now = now or timezone.now()
    return rescore_leads(
        organization=organization,
        lead_ids=marked_lead_ids(organization, now=now, older_than=older_than),
        now=now,
    )


def _score_chunk(
    organization: Organization,
    model: ScoringModel,
    rules: ModelRules,
    lead_ids: Sequence[int],
    now: datetime,
    lead_filter: str,
    snapshot: str | None = None,
) -> tuple[list[Change], list[int]]:
    """One chunk by the set-based path (PostgreSQL) or the Python path. ``snapshot``:
    a full re-score's aggregates (``scoring.sql.create_snapshot``)."""
    if _use_sql():
        lo, hi = lead_ids[0], lead_ids[-1] + 1
        changes = rescore_range(
            organization_id=organization.pk,
            rules=rules,
            now=now,
            lo=lo,
            hi=hi,
            lead_filter=lead_filter,
            snapshot=f"pg_temp.{snapshot}" if snapshot else None,
        )
        done = {c.lead_id for c in changes}
        return changes, [i for i in lead_ids if i not in done]
    changes, skipped = [], []
    for batch in _chunks(lead_ids, BATCH):
        part, left = score_batch_python(
            organization_id=organization.pk,
            model=model,
            rules=rules,
            lead_ids=batch,
            now=now,
            lead_filter=lead_filter,
        )
        changes += part
        skipped += left
    return changes, skipped


def run_full_rescore(*, organization: Organization, run_id: int) -> RescoreRun | None:
    """Execute a RescoreRun chunk by chunk, each in its own transaction (so progress is
    visible and a dead worker loses one chunk at most). Safe to run twice: the run is
    claimed with a compare-and-swap, and each chunk re-reads where the run stands."""
    org_id = organization.pk
    with tenant_context(org_id):
        claimed = (
            RescoreRun.objects.for_org(org_id)
            .filter(pk=run_id, status=RescoreRun.Status.QUEUED)
            .update(
                status=RescoreRun.Status.RUNNING,
                started_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
        )
    if not claimed:
        return None
    table = f"scoring_rescore_{int(run_id)}" if _use_sql() else None
    try:
        return _run_chunks(organization, run_id, table)
    finally:
        if table:
            try:
                with transaction.atomic():
                    drop_snapshot(table)
            except DatabaseError:  # the session is gone, and its temporary table with it
                log.warning("scoring: could not drop %s", table, exc_info=True)


def _run_chunks(organization: Organization, run_id: int, table: str | None) -> RescoreRun:
    org_id = organization.pk
    while True:
        scored_at = None
        if table:
            scored_at = _ensure_snapshot(organization, run_id, table)
        with tenant_context(org_id):
            run = (
                RescoreRun.objects.for_org(org_id)
                .select_for_update(of=("self",))
                .select_related("model", "previous_model")
                .get(pk=run_id)
            )
            if run.status != RescoreRun.Status.RUNNING:
                return run
            model = run.model
            if model.status != ScoringModel.Status.ACTIVE:
                run.status = RescoreRun.Status.SUPERSEDED
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "finished_at"])
                return run
            ids = list(
                Lead.objects.for_org(org_id)
                .filter(pk__gt=run.last_lead_id)
                .order_by("pk")
                .values_list("pk", flat=True)[:SQL_CHUNK]
            )
            now = timezone.now()
            if not ids:
                run.status = RescoreRun.Status.DONE
                run.finished_at = now
                run.done = max(run.done, run.total)
                run.save(update_fields=["status", "finished_at", "done"])
                return run
            changes, skipped = _score_chunk(
                organization,
                model,
                rules_for(model),
                ids,
                scored_at or now,
                "",
                table if scored_at else None,
            )
            outcome = apply_effects(
                organization=organization,
                model=model,
                changes=changes,
                now=now,
                previous=run.previous_model,
            )
            if (
                table
                and Lead.objects.for_org(org_id)
                .filter(pk__in=ids, rescore_requested_at__isnull=False)
                .exists()
            ):
                # Scored from the snapshot but still marked: the live pipeline goes again.
                from .tasks import request_rescore

                transaction.on_commit(lambda: request_rescore(org_id), robust=True)
            run.done += len(ids)
            run.new_mqls += len(outcome.mqls)
            run.last_lead_id = ids[-1]
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["done", "new_mqls", "last_lead_id", "heartbeat_at"])
        if skipped:
            # Busy leads (being written right now), or changed since the snapshot: marked,
            # and the live pipeline asked to score them (with the new model). Own
            # transaction: the scorer holds no lock while waiting.
            from .tasks import request_rescore

            with tenant_context(org_id):
                Lead.objects.for_org(org_id).filter(
                    pk__in=skipped, rescore_requested_at__isnull=True
                ).update(rescore_requested_at=timezone.now())
                transaction.on_commit(lambda: request_rescore(org_id), robust=True)


_snapshot_times: dict[str, datetime] = {}


def _ensure_snapshot(organization: Organization, run_id: int, table: str) -> datetime | None:
    """The run's snapshot in this database session (built by its first chunk, or again
    after a reconnection or a resume in another worker); returns its instant."""
    if table in _snapshot_times and snapshot_exists(table):
        return _snapshot_times[table]
    with tenant_context(organization.pk):
        run = (
            RescoreRun.objects.for_org(organization)
            .select_related("model")
            .filter(pk=run_id, status=RescoreRun.Status.RUNNING)
            .first()
        )
        if run is None:
            return None  # finished or superseded: the chunk loop sees it
        now = timezone.now()
        create_snapshot(
            organization_id=organization.pk, rules=rules_for(run.model), now=now, table=table
        )
    _snapshot_times[table] = now
    return now


def rescore_everything_now(
    *, organization: Organization, history: bool = False, now: datetime | None = None
) -> Outcome:
    """Every lead of the organization, synchronously, in the current transaction (the
    demo loader; shells). Workers use ``run_full_rescore``, which commits per chunk.

    ``history``: the leads are being loaded with their past (the demo) — MQL moves are
    dated at each lead's last event, and nobody is notified."""
    outcome = Outcome()
    model = ensure_active_model(organization)
    if model is None:
        return outcome
    rules = rules_for(model)
    now = now or timezone.now()
    ids = list(Lead.objects.for_org(organization).order_by("pk").values_list("pk", flat=True))
    for chunk in _chunks(ids, SQL_CHUNK):
        changes, _skipped = _score_chunk(organization, model, rules, chunk, now, "")
        outcome.scored += len(changes)
        outcome.add(
            apply_effects(
                organization=organization,
                model=model,
                changes=changes,
                now=now,
                notify_people=not history,
                backdate=history,
            )
        )
    return outcome


def refresh_scores(*, organization: Organization, scope: str = "decaying") -> Outcome:
    """Keep time-dependent scores current: ``scope="hot"`` re-scores the hot leads
    (their windows end), ``"decaying"`` every lead that is hot or carries behaviour
    points. Chunked, one transaction per chunk; busy leads wait for the next round."""
    org_id = organization.pk
    outcome = Outcome()
    with tenant_context(org_id):
        model = ScoringModel.objects.for_org(org_id).filter(status="active").first()
        if model is None:
            return outcome
        rules = rules_for(model)
        leads = Lead.objects.for_org(org_id)
        leads = leads.filter(hot=True) if scope == "hot" else _decaying(leads, org_id)
        ids = list(leads.order_by("pk").values_list("pk", flat=True))
    for chunk in _chunks(ids, SQL_CHUNK):
        with tenant_context(org_id):
            now = timezone.now()
            changes, _skipped = _score_chunk(organization, model, rules, chunk, now, "decaying")
            outcome.scored += len(changes)
            outcome.add(
                apply_effects(organization=organization, model=model, changes=changes, now=now)
            )
    return outcome


def requeue_stale_runs(*, organization: Organization, now: datetime) -> list[int]:
    """Runs whose worker died (no heartbeat for 5 minutes) go back to the queue; runs
    queued for a minute lost their task. Returns the run ids to dispatch."""
    runs = RescoreRun.objects.for_org(organization)
    runs.filter(
        status=RescoreRun.Status.RUNNING, heartbeat_at__lt=now - timedelta(minutes=5)
    ).update(status=RescoreRun.Status.QUEUED)
    return list(
        runs.filter(
            Q(status=RescoreRun.Status.QUEUED)
            & (
                Q(heartbeat_at__isnull=True, created_at__lt=now - timedelta(minutes=1))
                | Q(heartbeat_at__lt=now - timedelta(minutes=5))
            )
        ).values_list("pk", flat=True)
    )


def preview(
    model: ScoringModel,
    leads: Sequence[Lead],
    now: datetime | None = None,
    rules: ModelRules | None = None,
) -> dict:
    """Score leads with any model (a draft too) without writing: the editor's live
    preview. ``{lead.pk: Result}``. ``rules``: the model already compiled (its rules
    prefetched), else read here."""
    from .inputs import instance_attrs

    now = now or timezone.now()
    rules = rules or compile_model(model)
    events = load_events(model.organization_id, rules, [lead.pk for lead in leads])
    out: dict[int, Any] = {}
    for lead in leads:
        attrs, company = instance_attrs(lead)
        out[lead.pk] = score_lead(rules, attrs, company, events.get(lead.pk, []), now)
    return out
