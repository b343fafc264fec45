"""The set-based path: re-score a range of an organization's leads in ONE statement
(PostgreSQL).

Used after an activation (every lead) and by the decay refresh (leads that carry
behaviour points or are hot). It computes exactly what ``engine.score_lead``
computes — same matching, same per-event rounding in thousandths, same integer
clamp — but for thousands of leads at once:

1. ``locked``: the leads of the range, locked ``FOR NO KEY UPDATE SKIP LOCKED`` (a lead
   being written by an ingestion or another scorer is skipped: it is marked, so its own
   task or the sweeper scores it — the scorer never waits, so it can never deadlock);
2. ``fitrows``: one row per matching fit rule (CASE-free: one filtered SELECT per rule);
3. ``ev`` → ``hits`` → ``agg``: the leads' events of the rules' types, one row per
   (rule, matching event) with its decayed thousandths, then GROUP BY lead and rule;
4. ``brows``: per-rule points with caps and frequency windows, and whether a hot rule
   holds; ``final``: fit, behaviour, score, grade, hot, hot since, per lead;
5. data-modifying CTEs replace the contributions (DELETE + INSERT … SELECT) and write
   the leads back (one UPDATE … FROM, only rows that changed); the statement returns
   each lead's previous and new state for the MQL / hot effects.

Identifiers in the SQL are our own tables and columns; every value is a parameter.
"""

# ruff: noqa: S608 — identifiers are our own tables and columns; every value is a parameter.
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from leads.models import Company, Content, Event, Lead

from .engine import DAY_US, UNITS, ModelRules
from .models import ScoreContribution

# The columns of ``locked`` the fit rules read, by attribute.
ATTRIBUTE_COLUMNS = {
    "email": "l.email",
    "title": "l.title",
    "seniority": "l.seniority",
    "country": "l.country",
    "source": "l.source",
    "utm_source": "l.utm_source",
    "utm_medium": "l.utm_medium",
    "utm_campaign": "l.utm_campaign",
    "company.name": "c.name",
    "company.domain": "c.domain",
    "company.industry": "c.industry",
    "company.employees": "c.employees",
    "company.country": "c.country",
    "company.revenue_band": "c.revenue_band",
}
# The e-mail's domain: after the last "@", lowercased, as the engine reads it.
EMAIL_DOMAIN = "lower(substring(coalesce(l.email, '') from '@([^@]*)$'))"
FIELD_COLUMNS = {
    "url": "ev.url",
    "content.level": "ev.c_level",
    "content.type": "ev.c_type",
    "content.key": "ev.c_key",
}


@dataclass(frozen=True)
class Change:
    """One scored lead: its state before and after (what the effects need)."""

    lead_id: int
    old_score: int
    old_grade: str
    old_hot: bool
    score: int
    fit: int
    grade: str
    hot: bool
    hot_since: datetime | None
    stage: str


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, cast: str = "") -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s" + (f"::{cast}" if cast else "")


def _alias(attribute: str) -> str:
    return "a_" + attribute.replace(".", "_")


def _fit_condition(rule, p: _Params) -> str:
    column = f"k.{_alias(rule.attribute)}"
    op, value = rule.operator, rule.value
    if op in ("email_domain_in", "free_email"):
        if not value:
            return "false"  # an empty list (the template's competitors, until filled in)
        # The domain is computed once per lead in ``locked`` (EMAIL_DOMAIN).
        return f"k.email_domain = ANY({p.add(sorted(value), 'text[]')})"
    if rule.attribute == "company.employees":
        if op == "equals":
            return f"{column} = {p.add(value, 'int')}"
        if op == "in":
            return f"{column} = ANY({p.add(list(value), 'int[]')})"
        if op == "between":
            lo, hi = value
            parts = [f"{column} IS NOT NULL"]
            if lo is not None:
                parts.append(f"{column} >= {p.add(lo, 'int')}")
            if hi is not None:
                parts.append(f"{column} <= {p.add(hi, 'int')}")
            return " AND ".join(parts)
        if op == "is_set":
            return f"{column} IS NOT NULL"
        return "false"
    text = f"lower(coalesce({column}, ''))"
    if op == "equals":
        return f"{text} = {p.add(value, 'text')}"
    if op == "in":
        return f"{text} = ANY({p.add(list(value), 'text[]')})"
    if op == "contains":
        return "(" + " OR ".join(f"position({p.add(v, 'text')} in {text}) > 0" for v in value) + ")"
    if op == "starts_with":
        return "(" + " OR ".join(f"starts_with({text}, {p.add(v, 'text')})" for v in value) + ")"
    if op == "is_set":
        return f"coalesce({column}, '') <> ''"
    return "false"


def _match_condition(rule, p: _Params, property_columns: dict[str, str]) -> str:
    if not rule.match_field or not rule.match_operator:
        return "true"
    column = FIELD_COLUMNS.get(rule.match_field) or property_columns[rule.match_field]
    if rule.match_operator == "equals":
        return f"lower({column}) = {p.add(rule.match_value.lower(), 'text')}"
    if rule.match_operator == "contains":
        return f"position({p.add(rule.match_value.lower(), 'text')} in lower({column})) > 0"
    if rule.match_operator == "regex":
        return f"{column} ~* {p.add(rule.match_value, 'text')}"
    return "false"


def _units(rule, p: _Params, half_life: int | None) -> str:
    if not rule.decays(half_life):
        return p.add(rule.points * UNITS, "bigint")
    # Exactly engine.event_units: floor(points × 1000.0 × 0.5 ^ (age_µs / half-life_µs) + 0.5)
    return (
        f"floor({p.add(rule.points, 'float8')} * 1000.0::float8 * power(0.5::float8, "
        f"ev.age_us::float8 / {p.add(half_life * DAY_US, 'float8')}) + 0.5::float8)::bigint"
    )


def _behaviour_sql(
    rules: ModelRules, p: _Params, *, org: str, now: datetime, now_sql: str, event_scope: str
) -> tuple[list[str], list[str]]:
    """The ``ev``, ``hits`` and ``agg`` CTEs (per lead: ``n{i}`` matching events, ``w{i}``
    in the window, ``l{i}`` the last one, ``u{i}`` decayed thousandths, for every rule)
    over the events that satisfy ``event_scope``; and the unpivot rows that turn an
    ``agg`` row ``a`` into one line per rule."""
    half_life = rules.decay_half_life_days
    ctes: list[str] = []
    property_columns = {
        f"property:{name}": f"ev.p_{i}" for i, name in enumerate(rules.property_names)
    }
    property_select = "".join(
        f", e.properties ->> {p.add(name, 'text')} AS p_{i}"
        for i, name in enumerate(rules.property_names)
    )
    uses_content = any(rule.match_field.startswith("content.") for rule in rules.behaviour_rules)
    content_select = (
        ", ct.level AS c_level, ct.type AS c_type, ct.key AS c_key" if uses_content else ""
    )
    content_join = (
        f"LEFT JOIN {Content._meta.db_table} ct ON ct.id = e.content_id" if uses_content else ""
    )
    decays = any(rule.decays(half_life) for rule in rules.behaviour_rules)
    # The decay factor of each event, once: 0.5 ^ (age_µs / half-life_µs), exactly as
    # engine.event_units computes it (the per-rule multiplication comes after).
    factor_select = (
        f", power(0.5::float8, GREATEST(0, (EXTRACT(EPOCH FROM ({now_sql} - e.occurred_at))"
        f" * 1000000)::bigint)::float8 / {p.add(half_life * DAY_US, 'float8')}) AS factor"
        if decays
        else ""
    )
    # ONE pass over the range's events: a range scan of the (organization, lead,
    # occurred_at) index, not one look-up per lead; leads that could not be locked are
    # dropped by the join with ``locked`` after the aggregation.
    ctes.append(
        f"""ev AS (
            SELECT e.lead_id, e.type, e.occurred_at, e.url
                   {content_select}{factor_select}{property_select}
            FROM {Event._meta.db_table} e
            {content_join}
            WHERE e.organization_id = {org}
              {event_scope}
              AND e.type = ANY({p.add(rules.event_types, "text[]")})
        )"""
    )
    # One row per (lead, event): each rule's match as a boolean column, then one
    # GROUP BY lead with conditional aggregates (FILTER) for every rule at once.
    match_columns = []
    aggregates = []
    unpivot = []
    for i, rule in enumerate(rules.behaviour_rules):
        match_columns.append(
            f"(ev.type = {p.add(rule.event_type, 'text')} AND "
            f"coalesce({_match_condition(rule, p, property_columns)}, false)) AS m{i}"
        )
        start = rule.window_start(now)
        in_window = (
            f"count(*) FILTER (WHERE m{i} AND occurred_at > {p.add(start, 'timestamptz')})"
            if start
            else f"count(*) FILTER (WHERE m{i})"  # no window: every event is in it
        )
        if rule.decays(half_life):
            # Each event rounded on its own (an integral float8); their float8 sum is
            # exact below 2^53 and avoids numeric arithmetic.
            units = (
                f"sum(floor({p.add(rule.points, 'float8')} * 1000.0::float8 * factor "
                f"+ 0.5::float8)) FILTER (WHERE m{i})"
            )
        else:
            units = f"{p.add(rule.points * UNITS, 'bigint')} * count(*) FILTER (WHERE m{i})"
        aggregates.append(
            f"count(*) FILTER (WHERE m{i}) AS n{i}, {in_window} AS w{i}, "
            f"max(occurred_at) FILTER (WHERE m{i}) AS l{i}, ({units})::bigint AS u{i}"
        )
        # The rule's points, events and hot flag from its aggregates, the rule's
        # settings written into the expression (no join with a rules table).
        if rule.is_frequency:
            holds = f"a.w{i} >= {p.add(rule.min_count or 1, 'int')}"
            points = f"CASE WHEN {holds} THEN {p.add(rule.points * UNITS, 'bigint')} ELSE 0 END"
            events = f"a.w{i}"
            hot = holds if rule.marks_hot else "false"
        else:
            points = f"a.u{i}"
            if rule.cap is not None:
                cap = p.add(rule.cap * UNITS, "bigint")
                points = (
                    f"LEAST({points}, {cap})" if rule.points >= 0 else f"GREATEST({points}, -{cap})"
                )
            events = f"a.n{i}"
            hot = f"a.w{i} > 0" if rule.marks_hot else "false"
        unpivot.append(
            f"({p.add(rule.id, 'bigint')}, {p.add(rule.label, 'text')}, a.n{i}, a.l{i}, "
            f"({points})::bigint, ({events})::bigint, ({hot}))"
        )
    factor_column = ", factor" if decays else ""
    # Only the events some rule matches reach the aggregation (most page views do not).
    ctes.append(
        f"""hits AS (
            SELECT ev.lead_id, ev.occurred_at{factor_column}, {", ".join(match_columns)}
            FROM ev
        )"""
    )
    any_match = " OR ".join(f"m{i}" for i in range(len(rules.behaviour_rules)))
    ctes.append(
        f"""agg AS MATERIALIZED (
            SELECT lead_id, {", ".join(aggregates)}
            FROM hits WHERE {any_match} GROUP BY lead_id
        )"""
    )
    return ctes, unpivot


def rescore_statement(
    *,
    organization_id: int,
    rules: ModelRules,
    now: datetime,
    lo: int = 0,
    hi: int = 0,
    lead_filter: str = "",
    lead_ids: Sequence[int] | None = None,
    snapshot: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The statement that scores the leads with ``lo <= id < hi`` — or, given
    ``lead_ids``, those leads (the live pipeline: a few hundred leads anywhere in the id
    range) — and ``lead_filter``, one of "", "marked", "decaying".

    ``snapshot``: the temporary table of a full re-score (``snapshot_statement``): the
    behaviour aggregates are read from it instead of the events, for the leads whose
    row has not changed since it was taken (same ``xmin``; a marked lead keeps its
    mark); the others are left out (the caller marks them for the live pipeline)."""
    p = _Params()
    org = p.add(organization_id, "bigint")
    now_sql = p.add(now, "timestamptz")
    lead_table = Lead._meta.db_table
    contribution_table = ScoreContribution._meta.db_table
    if lead_ids is not None:
        ids_sql = p.add(sorted({int(i) for i in lead_ids}), "bigint[]")

        def scope(column: str) -> str:
            return f"{column} = ANY({ids_sql})"
    else:
        lo_sql, hi_sql = p.add(lo, "bigint"), p.add(hi, "bigint")

        def scope(column: str) -> str:
            return f"{column} >= {lo_sql} AND {column} < {hi_sql}"

    extra = ""
    if lead_filter == "marked":
        extra = "AND l.rescore_requested_at IS NOT NULL"
    elif lead_filter == "decaying":
        extra = (
            f"AND (l.hot OR EXISTS (SELECT 1 FROM {contribution_table} sc0 "
            f"WHERE sc0.organization_id = l.organization_id AND sc0.lead_id = l.id "
            f"AND sc0.kind = 'behaviour'))"
        )
    attribute_columns = ", ".join(
        f"{column} AS {_alias(attribute)}" for attribute, column in ATTRIBUTE_COLUMNS.items()
    )
    if any(rule.operator in ("email_domain_in", "free_email") for rule in rules.fit_rules):
        attribute_columns += f", {EMAIL_DOMAIN} AS email_domain"
    # A full re-score's snapshot: is the lead unchanged since it was taken? (Computed as a
    # column, not filtered here: the planner has no idea how many rows an xmin test
    # keeps, and would plan the rest of the statement for one row.)
    fresh, snapshot_join = "", ""
    if snapshot:
        fresh = ", (s.lead_id IS NOT NULL AND s.lead_xmin = l.xmin) AS fresh"
        snapshot_join = f"LEFT JOIN {snapshot} s ON s.lead_id = l.id"
    ctes = [
        f"""locked AS MATERIALIZED (
            SELECT l.id, l.score AS old_score, l.grade AS old_grade, l.hot AS old_hot,
                   l.stage, {attribute_columns}{fresh}
            FROM {lead_table} l LEFT JOIN {Company._meta.db_table} c ON c.id = l.company_id
            {snapshot_join}
            WHERE l.organization_id = {org} AND {scope("l.id")} {extra}
            ORDER BY l.id
            FOR NO KEY UPDATE OF l SKIP LOCKED
        )"""
    ]
    base = "locked"
    if snapshot:
        # Unchanged since the snapshot: no event, attribute or mark was written to the
        # lead row after it (ingestion writes the row, or finds it marked — and marked
        # leads keep their mark, below). The others are locked but left out: the
        # caller marks them for the live pipeline.
        base = "base"
        ctes.append("base AS MATERIALIZED (SELECT * FROM locked WHERE fresh)")

    fit_selects = [
        f"SELECT k.id AS lead_id, {p.add(rule.id, 'bigint')} AS rule_id, "
        f"{p.add(rule.points, 'int')} AS points, {p.add(rule.label, 'text')} AS label "
        f"FROM {base} k WHERE {_fit_condition(rule, p)}"
        for rule in rules.fit_rules
    ] or [
        "SELECT NULL::bigint AS lead_id, NULL::bigint AS rule_id, NULL::int AS points, "
        "NULL::text AS label WHERE false"
    ]
    ctes.append("fitrows AS (" + " UNION ALL ".join(fit_selects) + ")")

    if rules.behaviour_rules:
        behaviour_ctes, unpivot = _behaviour_sql(
            rules, p, org=org, now=now, now_sql=now_sql, event_scope=f"AND {scope('e.lead_id')}"
        )
        agg_source = "agg"
        if snapshot:
            agg_source = snapshot  # the aggregates were computed once for the whole run
        else:
            ctes += behaviour_ctes
        ctes.append(
            f"""brows AS MATERIALIZED (
                SELECT a.lead_id, x.rule_id, x.label, x.last_at, x.units, x.events, x.hot
                FROM {agg_source} a JOIN {base} k ON k.id = a.lead_id
                CROSS JOIN LATERAL (VALUES {", ".join(unpivot)})
                     AS x(rule_id, label, n_all, last_at, units, events, hot)
                WHERE x.n_all > 0
            )"""
        )
    else:
        ctes.append(
            "brows AS (SELECT NULL::bigint AS lead_id, NULL::bigint AS rule_id, "
            "NULL::text AS label, NULL::timestamptz AS last_at, NULL::bigint AS units, "
            "NULL::bigint AS events, NULL::boolean AS hot WHERE false)"
        )

    grade_cases = "".join(
        f"WHEN coalesce(f.fit, 0) >= {p.add(rules.grade_bands[grade], 'int')} THEN '{grade}' "
        for grade in ("A", "B", "C")
        if rules.grade_bands.get(grade) is not None
    )
    ctes.append(
        f"""final AS MATERIALIZED (
            SELECT k.id, k.old_score, k.old_grade, k.old_hot, k.stage,
                   coalesce(f.fit, 0) AS fit,
                   GREATEST(0, LEAST(100, floor(
                       (coalesce(f.fit, 0)::bigint * 1000 + coalesce(b.units, 0) + 500)::numeric
                       / 1000)))::int AS score,
                   CASE {grade_cases} ELSE 'D' END AS grade,
                   coalesce(b.hot, false) AS hot,
                   CASE WHEN coalesce(b.hot, false) THEN b.hot_since END AS hot_since
            FROM {base} k
            LEFT JOIN (SELECT lead_id, sum(points) AS fit FROM fitrows GROUP BY lead_id) f
                   ON f.lead_id = k.id
            LEFT JOIN (SELECT lead_id, sum(units) AS units, bool_or(hot) AS hot,
                              max(last_at) FILTER (WHERE hot) AS hot_since
                       FROM brows GROUP BY lead_id) b
                   ON b.lead_id = k.id
        )"""
    )
    model_id = p.add(rules.id, "bigint")
    ctes.append(
        f"""del AS (
            DELETE FROM {contribution_table} sc USING {base} k
            WHERE sc.organization_id = {org} AND {scope("sc.lead_id")}
              AND sc.lead_id = k.id
        )"""
    )
    ctes.append(
        f"""ins AS (
            INSERT INTO {contribution_table} (organization_id, lead_id, model_id, kind,
                fit_rule_id, behaviour_rule_id, label, points, events, last_occurrence, hot)
            SELECT {org}, lead_id, {model_id}, 'fit', rule_id, NULL, label, points::numeric,
                   0, NULL, false
            FROM fitrows
            UNION ALL
            SELECT {org}, lead_id, {model_id}, 'behaviour', NULL, rule_id, label,
                   units::numeric / 1000, events, last_at, hot
            FROM brows WHERE units <> 0 OR hot
        )"""
    )
    # From a snapshot, a marked lead keeps its mark: what marked it may be an event the
    # snapshot does not hold (the live pipeline scores it again). Otherwise the events
    # were read under the row lock: the mark is cleared.
    mark = "t.rescore_requested_at" if snapshot else "NULL::timestamptz"
    ctes.append(
        f"""upd AS (
            UPDATE {lead_table} t
            SET score = f.score, fit = f.fit, grade = f.grade, hot = f.hot,
                hot_since = f.hot_since, rescore_requested_at = {mark}
            FROM final f
            WHERE t.id = f.id AND t.organization_id = {org}
              AND {scope("t.id")}
              AND (t.score, t.fit, t.grade, t.hot, t.hot_since, t.rescore_requested_at)
                  IS DISTINCT FROM (f.score, f.fit, f.grade, f.hot, f.hot_since, {mark})
        )"""
    )
    sql = (
        "WITH "
        + ",\n".join(ctes)
        + "\nSELECT id, old_score, old_grade, old_hot, score, fit, grade, hot, hot_since, stage "
        "FROM final ORDER BY id"
    )
    return sql, p.values


def rescore_range(
    *,
    organization_id: int,
    rules: ModelRules,
    now: datetime,
    lo: int = 0,
    hi: int = 0,
    lead_filter: str = "",
    lead_ids: Sequence[int] | None = None,
    snapshot: str | None = None,
) -> list[Change]:
    """Score the leads ``lo <= id < hi`` (or ``lead_ids``) of the organization in one
    statement; return the changes of the leads it could lock (see the module
    docstring)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("scoring.sql needs PostgreSQL; use the Python path elsewhere")
    sql, params = rescore_statement(
        organization_id=organization_id,
        rules=rules,
        now=now,
        lo=lo,
        hi=hi,
        lead_filter=lead_filter,
        lead_ids=lead_ids,
        snapshot=snapshot,
    )
    with connection.cursor() as cursor:
        # This transaction only: hash a chunk's events in memory, not on disk; and no JIT —
        # the statement is big and its row estimates poor, so the planner would spend
        # seconds compiling it (more than the whole chunk takes to run).
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return [Change(*row) for row in cursor.fetchall()]


def snapshot_statement(
    *, organization_id: int, rules: ModelRules, now: datetime, table: str
) -> tuple[str, dict[str, Any]]:
    """``CREATE TEMPORARY TABLE table AS``: every lead of the organization with its row's
    ``xmin`` and its behaviour aggregates as of ``now`` — ONE pass over the
    organization's events for a whole full re-score (a read-only statement, so
    PostgreSQL may run it with parallel workers), instead of one pass per chunk (a
    chunk's leads have their events all over the table: events are stored in arrival
    order). Leads and aggregates come from the same statement, so from the same
    snapshot: a lead whose row ``xmin`` is unchanged when its chunk runs (and that is
    not marked) has had no event since."""
    p = _Params()
    org = p.add(organization_id, "bigint")
    now_sql = p.add(now, "timestamptz")
    lead_table = Lead._meta.db_table
    if rules.behaviour_rules:
        ctes, _unpivot = _behaviour_sql(rules, p, org=org, now=now, now_sql=now_sql, event_scope="")
        columns = ", ".join(
            f"a.n{i}, a.w{i}, a.l{i}, a.u{i}" for i in range(len(rules.behaviour_rules))
        )
        sql = (
            f"CREATE TEMPORARY TABLE {table} AS WITH {', '.join(ctes)} "
            f"SELECT l.id AS lead_id, l.xmin AS lead_xmin, {columns} "
            f"FROM {lead_table} l LEFT JOIN agg a ON a.lead_id = l.id "
            f"WHERE l.organization_id = {org}"
        )
    else:
        sql = (
            f"CREATE TEMPORARY TABLE {table} AS SELECT l.id AS lead_id, l.xmin AS lead_xmin "
            f"FROM {lead_table} l WHERE l.organization_id = {org}"
        )
    return sql, p.values


def snapshot_exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"pg_temp.{table}"])
        return bool(cursor.fetchone()[0])


def create_snapshot(*, organization_id: int, rules: ModelRules, now: datetime, table: str) -> None:
    """Build the snapshot of a full re-score (see ``snapshot_statement``) in the current
    session, indexed by lead. Call it in a transaction of its own: the table lives as
    long as the database session."""
    sql, params = snapshot_statement(
        organization_id=organization_id, rules=rules, now=now, table=table
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        cursor.execute(f"CREATE UNIQUE INDEX ON pg_temp.{table} (lead_id)")
        cursor.execute(f"ANALYZE pg_temp.{table}")


def drop_snapshot(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")


def chunk_bounds(ids: Sequence[int], size: int) -> list[tuple[int, int, int]]:
    """(lo, hi, count) ranges over sorted ids, ``size`` ids each."""
    bounds = []
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        bounds.append((part[0], part[-1] + 1, len(part)))
    return bounds
