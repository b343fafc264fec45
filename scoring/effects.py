"""What follows a scoring, set-based: MQL moves, routing, notifications, hot signals.

``apply_effects`` receives the changes of one scored batch (hundreds of leads from
the live pipeline, tens of thousands after an activation) and does, for all of them
at once, what the per-lead services do for one:

- **MQL moves** (``leads.services.lead_mark_mql`` for one lead): one ``UPDATE … FROM
  (VALUES …)`` moves the leads still at an automatic stage (``AUTO_MQL_FROM``, checked
  in the statement; the scorer holds their row locks), returning the stage each came
  from; one bulk insert of the ``LifecycleTransition`` rows (by the system, with the
  score as reason); then ``leads.signals.stage_changed`` is sent **per lead**, as
  ``_transition`` sends it (the SLA clocks start from it).
- **Routing** (``leads.routing.route_lead`` for one lead): the same rule — an owner
  who is still an active sales member keeps the lead, the manual strategy routes
  nobody, round-robin gives each lead to the eligible rep (territory, segment, away,
  active) longest since served, one lead after the other in id order — computed in
  memory over the pool's routing rows, which are locked ``FOR UPDATE`` (in primary
  key order) for the transaction, so a concurrent ``route_lead`` waits and then sees
  the turns taken. One ``UPDATE`` per rep served, one ``UPDATE … FROM (VALUES …)`` for
  the owners.
- **Notifications** (``smarketing.notifications.services.notify`` for one event): the
  same recipients (the owner, else the routing managers), membership and preference
  rules, per-recipient language and dedupe keys, inserted 1,000 rows per statement
  with ``ON CONFLICT DO NOTHING``; e-mails dispatched once on commit.
- **Hot**: ``scoring.signals.lead_became_hot`` per lead, notifications batched.

Queries: a constant number per batch (plus one per rep served), whatever its size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _lazy

from leads import signals as leads_signals
from leads.models import Lead, LifecycleTransition, RepRouting, RoutingSettings, Stage
from leads.services import AUTO_MQL_FROM
from smarketing.tenancy.db import current_organization_id
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role

from . import signals
from .models import ScoringModel
from .sql import Change

# Hot notifications are for leads sales can still work.
NO_HOT_NOTIFICATION = frozenset({Stage.DISQUALIFIED})
LOAD_BATCH = 5000  # ids per IN (…) list
INSERT_BATCH = 1000  # notification rows per INSERT


@dataclass
class Outcome:
    scored: int = 0
    skipped: list[int] = field(default_factory=list)
    mqls: list[int] = field(default_factory=list)
    hot: list[int] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.scored += other.scored
        self.skipped += other.skipped
        self.mqls += other.mqls
        self.hot += other.hot


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _typed(pg_type: str) -> str:
    return f"%s::{pg_type}" if connection.vendor == "postgresql" else "%s"


def _update_from_values(
    table: str,
    columns: list[tuple[str, str]],
    rows,
    sets: str,
    where: str,
    params: list,
    returning: str = "",
) -> list[tuple]:
    """``UPDATE table AS t SET … FROM (VALUES …) AS v(…) WHERE t.id = v.id AND …``."""
    out: list[tuple] = []
    names = ", ".join(name for name, _type in columns)
    placeholder = "(" + ", ".join(_typed(pg_type) for _name, pg_type in columns) + ")"
    for batch in _batches(rows, LOAD_BATCH):
        sql = (
            f"WITH v({names}) AS (VALUES {', '.join([placeholder] * len(batch))}) "  # noqa: S608 (our tables; values are parameters)
            f'UPDATE "{table}" AS t SET {sets} FROM v{where}'
            + (f" RETURNING {returning}" if returning else "")
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in batch for value in row] + params)
            if returning:
                out += cursor.fetchall()
    return out


def _load_leads(organization: Organization, ids: Iterable[int]) -> dict[int, Lead]:
    ids = sorted(set(ids))
    leads: dict[int, Lead] = {}
    for batch in _batches(ids, LOAD_BATCH):
        for lead in (
            Lead.objects.for_org(organization)
            .filter(pk__in=list(batch))
            .select_related("company", "owner")
        ):
            lead.organization = organization
            leads[lead.pk] = lead
    return leads


# --- MQL moves --------------------------------------------------------------------------


def _mql_moves(
    organization: Organization, moves: list[tuple[Lead, datetime, str]]
) -> list[tuple[Lead, str, LifecycleTransition]]:
    if not moves:
        return []
    adapt = connection.ops.adapt_datetimefield_value
    table = Lead._meta.db_table
    stages_list = sorted(AUTO_MQL_FROM)
    placeholder = f"({_typed('bigint')}, {_typed('timestamptz')})"
    from_stage: dict[int, str] = {}
    for batch in _batches(moves, LOAD_BATCH):
        # The stage each lead comes from: read, then moved by a statement with the same
        # condition (the scorer holds the rows' locks, so nothing moves in between).
        stages = dict(
            Lead.objects.for_org(organization)
            .filter(pk__in=[lead.pk for lead, _at, _reason in batch], stage__in=stages_list)
            .values_list("pk", "stage")
        )
        sql = (
            f"WITH v(lead_id, at) AS (VALUES {', '.join([placeholder] * len(batch))}) "  # noqa: S608 (our table; values are parameters)
            f'UPDATE "{table}" AS t SET stage = %s, stage_changed_at = v.at FROM v '
            "WHERE t.id = v.lead_id AND t.organization_id = %s "
            f"AND t.stage IN ({', '.join(['%s'] * len(stages_list))}) "
            # Unqualified: SQLite's RETURNING names the target's columns only.
            "RETURNING id"
        )
        params = [v for lead, at, _reason in batch for v in (lead.pk, adapt(at))]
        params += [Stage.MQL, organization.pk, *stages_list]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for (lead_id,) in cursor.fetchall():
                from_stage[lead_id] = stages[lead_id]
    moved = [(lead, at, reason) for lead, at, reason in moves if lead.pk in from_stage]
    transitions = LifecycleTransition.objects.bulk_create(
        [
            LifecycleTransition(
                organization_id=organization.pk,
                lead_id=lead.pk,
                from_stage=from_stage[lead.pk],
                to_stage=Stage.MQL,
                at=at,
                by=None,
                reason=reason[:500],
            )
            for lead, at, reason in moved
        ],
        batch_size=INSERT_BATCH,
    )
    out = []
    for (lead, at, _reason), transition in zip(moved, transitions, strict=True):
        lead.stage, lead.stage_changed_at = Stage.MQL, at
        out.append((lead, from_stage[lead.pk], transition))
    for lead, previous, _transition in out:
        leads_signals.stage_changed.send(
            sender=Lead,
            organization=organization,
            lead=lead,
            from_stage=previous,
            to_stage=Stage.MQL,
            at=lead.stage_changed_at,
            by=None,
        )
    return out


# --- Routing ----------------------------------------------------------------------------


def route_leads(*, organization: Organization, leads: Sequence[Lead], now: datetime) -> None:
    """``leads.routing.route_lead`` for many leads at once (each lead's ``owner`` is set
    on the instance). Same rule and order as routing them one by one in id order."""
    from leads.routing import (  # the rule's own helpers: one definition of eligibility
        SALES_ROLES,
        TICK,
        _eligible,
        _ensure_rep_rows,
        _turn_key,
        routing_settings_for,
    )

    if not leads:
        return
    org_id = organization.pk
    leads = sorted(leads, key=lambda lead: lead.pk)
    current: dict[int, int | None] = {}
    for batch in _batches([lead.pk for lead in leads], LOAD_BATCH):
        current.update(
            Lead.objects.for_org(org_id)
            .select_for_update()
            .filter(pk__in=list(batch))
            .order_by("pk")
            .values_list("pk", "owner_id")
        )
    owner_ids = {owner for owner in current.values() if owner}
    keepers = (
        set(
            Membership.objects.for_org(org_id)
            .filter(user_id__in=owner_ids, user__is_active=True, role__in=SALES_ROLES)
            .values_list("user_id", flat=True)
        )
        if owner_ids
        else set()
    )
    rule = routing_settings_for(organization)
    new_owner: dict[int, int | None] = {}  # lead id → owner id, for the leads routed
    kept: dict[int, int] = {}
    to_route = []
    for lead in leads:
        owner = current.get(lead.pk)
        if owner in keepers:
            kept[lead.pk] = owner
        else:
            to_route.append(lead)
    served: Counter[int] = Counter()
    pool: list[RepRouting] = []
    if to_route and rule.strategy == RoutingSettings.Strategy.ROUND_ROBIN:
        _ensure_rep_rows(organization)
        pool_ids = list(
            RepRouting.objects.for_org(organization)
            .filter(
                user__is_active=True,
                user__memberships__organization=organization,
                user__memberships__role=Role.SALES_REP,
            )
            .values_list("pk", flat=True)
        )
        # Locked in primary-key order (no deadlock between two bulk routings); a
        # concurrent route_lead's compare-and-swap waits, then sees our turns.
        pool = sorted(
            RepRouting.objects.for_org(organization)
            .select_for_update()
            .filter(pk__in=pool_ids)
            .order_by("pk"),
            key=_turn_key,
        )
    latest = max((rep.last_assigned_at for rep in pool if rep.last_assigned_at), default=None)
    for lead in to_route:
        reps = _eligible(pool, lead=lead, rule=rule, now=now) if pool else []
        if not reps:
            new_owner[lead.pk] = None
            continue
        rep = reps[0]
        stamp = max(now, latest + TICK) if latest else now
        rep.last_assigned_at = latest = stamp
        served[rep.pk] += 1
        pool.sort(key=_turn_key)
        new_owner[lead.pk] = rep.user_id
    for rep in pool:
        if served[rep.pk]:
            RepRouting.objects.for_org(org_id).filter(pk=rep.pk).update(
                last_assigned_at=rep.last_assigned_at,
                assigned_count=F("assigned_count") + served[rep.pk],
            )
    # Written when someone takes over, or to clear a stale owner nobody replaced.
    writes = [
        (lead_id, owner)
        for lead_id, owner in new_owner.items()
        if owner is not None or current.get(lead_id) is not None
    ]
    if writes:
        adapt = connection.ops.adapt_datetimefield_value
        _update_from_values(
            Lead._meta.db_table,
            [("id", "bigint"), ("owner_id", "bigint")],
            writes,
            "owner_id = v.owner_id, updated_at = %s",
            " WHERE t.id = v.id AND t.organization_id = %s",
            [adapt(now), org_id],
        )
    users = get_user_model().objects.in_bulk(
        {owner for owner in (*new_owner.values(), *kept.values()) if owner}
    )
    for lead in leads:
        owner_id = kept.get(lead.pk, new_owner.get(lead.pk))
        lead.owner = users.get(owner_id) if owner_id else None


# --- Notifications ----------------------------------------------------------------------


@dataclass
class Note:
    recipients: list[int]
    title: Any
    body: Any
    url: str
    dedupe_key: str


def notify_many(*, organization: Organization, kind: str, notes: Sequence[Note]) -> int:
    """``notify`` for many events of one kind: the same membership, preference and
    language rules and dedupe keys; a constant number of queries. Returns how many
    notifications were created."""
    from smarketing.notifications import kinds
    from smarketing.notifications.models import Notification, NotificationPreference
    from smarketing.notifications.services import _dispatch_emails, _insert_new, _text

    if not notes:
        return 0
    current = current_organization_id()
    if current is not None and current != organization.pk:
        raise RuntimeError("notify_many() for another organization than the current tenant")
    spec = kinds.get(kind)
    if spec is None:
        raise RuntimeError(f"unknown notification kind {kind!r}")
    wanted = {int(r) for note in notes for r in note.recipients}
    if not wanted:
        return 0
    members = dict(
        Membership.objects.for_org(organization)
        .filter(user_id__in=wanted, user__is_active=True)
        .values_list("user_id", "user__language")
    )
    stored = {
        pref.user_id: pref
        for pref in NotificationPreference.objects.for_org(organization).filter(
            user_id__in=members, kind=kind
        )
    }
    from django.utils import timezone

    now = timezone.now()
    rows = []
    for note in notes:
        for user_id in sorted({int(r) for r in note.recipients} & members.keys()):
            pref = stored.get(user_id)
            if pref is not None:
                in_app, by_email = pref.in_app, pref.email
            else:
                in_app, by_email = spec.in_app, spec.email
            if not (in_app or by_email):
                continue
            with translation.override(members[user_id] or organization.language):
                rows.append(
                    Notification(
                        organization=organization,
                        recipient_id=user_id,
                        kind=kind,
                        title=_text(note.title, 200),
                        body=_text(note.body),
                        url=note.url[:500],
                        dedupe_key=note.dedupe_key[:200],
                        in_app=in_app,
                        created_at=now,
                        email_status=(
                            Notification.EmailStatus.PENDING
                            if by_email
                            else Notification.EmailStatus.NONE
                        ),
                    )
                )
    ids: list[int] = []
    for batch in _batches(rows, INSERT_BATCH):
        ids += _insert_new(list(batch))
    if ids:
        pending = []
        for batch in _batches(ids, LOAD_BATCH):
            pending += list(
                Notification.objects.for_org(organization)
                .filter(pk__in=list(batch), email_status=Notification.EmailStatus.PENDING)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        _dispatch_emails(organization.pk, pending)
    return len(ids)


_URL_SENTINEL = 987654321987654321


class _LeadUrls:
    """The lead page's URL for many leads: ``reverse`` once per batch, not per lead."""

    def __init__(self, organization: Organization) -> None:
        try:
            self.pattern = reverse(
                "leads-detail",
                kwargs={"org_slug": organization.slug, "lead_id": _URL_SENTINEL},
            )
        except NoReverseMatch:
            self.pattern = ""

    def __call__(self, lead: Lead) -> str:
        return self.pattern.replace(str(_URL_SENTINEL), str(lead.pk)) if self.pattern else ""


class _Recipients:
    """The owner; for an unowned lead, whoever assigns leads (read once)."""

    def __init__(self, organization: Organization) -> None:
        self.organization = organization
        self._managers: list[int] | None = None

    def __call__(self, lead: Lead) -> list[int]:
        if lead.owner_id:
            return [lead.owner_id]
        if self._managers is None:
            from leads.routing import routing_managers

            self._managers = [user.pk for user in routing_managers(self.organization)]
        return self._managers


# --- The effects of one batch -----------------------------------------------------------


def mql_reason(model: ScoringModel, change: Change) -> str:
    return f"score {change.score} ≥ {model.mql_threshold} (model v{model.version})" + (
        f", grade {change.grade}" if model.min_fit_grade else ""
    )


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
    """MQL moves, routing and notifications for the leads whose state crossed a line.

    A lead becomes MQL when it meets the definition now and did not with its previous
    score (judged by ``previous``'s definition after an activation, else ``model``'s):
    a recycled lead that is still above the threshold must fall under it and cross
    again, and a manager's move back is not undone by the next event.

    ``notify_people=False`` moves and routes without notifying, and ``backdate`` dates
    each move at the lead's last event (loading history: the demo).
    """
    outcome = Outcome()
    before = previous or model
    crossed = [
        c
        for c in changes
        if c.stage in AUTO_MQL_FROM
        and model.qualifies(c.score, c.grade)
        and not before.qualifies(c.old_score, c.old_grade)
    ]
    became_hot = [c for c in changes if c.hot and not c.old_hot]
    if not crossed and not became_hot:
        return outcome
    leads = _load_leads(organization, [c.lead_id for c in crossed + became_hot])
    recipients = _Recipients(organization)
    lead_url = _LeadUrls(organization)

    moves = []
    for change in sorted(crossed, key=lambda c: c.lead_id):
        lead = leads.get(change.lead_id)
        if lead is None or lead.stage not in AUTO_MQL_FROM:
            continue
        at = min(now, lead.last_event_at or now) if backdate else now
        moves.append((lead, at, mql_reason(model, change)))
    moved = _mql_moves(organization, moves)
    outcome.mqls = [lead.pk for lead, _from, _t in moved]
    route_leads(organization=organization, leads=[lead for lead, _f, _t in moved], now=now)
    if notify_people and moved:
        score = {c.lead_id: c.score for c in crossed}
        notes = []
        for lead, _from, transition in moved:
            name = lead.full_name or lead.email
            template = (
                _lazy("New MQL for you: {name} (score {score})")
                if lead.owner_id
                else _lazy("New MQL to assign: {name} (score {score})")
            )
            notes.append(
                Note(
                    recipients=recipients(lead),
                    title=format_lazy(template, name=name, score=score[lead.pk]),
                    body=transition.reason,
                    url=lead_url(lead),
                    dedupe_key=f"lead.mql:{lead.pk}:{transition.pk}",
                )
            )
        notify_many(organization=organization, kind="lead.mql", notes=notes)

    hot_notes = []
    for change in became_hot:
        lead = leads.get(change.lead_id)
        if lead is None:
            continue
        outcome.hot.append(lead.pk)
        signals.lead_became_hot.send(
            sender=Lead, organization=organization, lead=lead, at=change.hot_since
        )
        if lead.stage in NO_HOT_NOTIFICATION or not notify_people:
            continue
        name = lead.full_name or lead.email
        hot_notes.append(
            Note(
                recipients=recipients(lead),
                title=format_lazy(
                    _lazy("Hot lead: {name} (score {score})"), name=name, score=change.score
                ),
                body="",
                url=lead_url(lead),
                # One per hot streak: the streak is named by the moment it started.
                dedupe_key=f"lead.hot:{lead.pk}:{change.hot_since.isoformat()}",
            )
        )
    notify_many(organization=organization, kind="lead.hot", notes=hot_notes)
    return outcome
