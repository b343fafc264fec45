"""The scoring engine: one lead, its rules, its attributes and events, one instant.

``score_lead`` is a pure, deterministic function (no database, no clock): the same
inputs always give the same result. ``scoring.sql`` computes exactly the same thing
for every lead of an organization in set-based SQL; ``tests/scoring`` proves the two
agree on random data. Whatever changes here must change there in the same way.

Arithmetic is integer where it can be, so that the two paths cannot disagree:

- points are summed in thousandths (``UNITS``), as integers;
- a decaying event is worth ``floor(points × 1000.0 × 0.5 ** (age_µs / half_life_µs)
  + 0.5)`` thousandths — the same IEEE operations, in the same order, as the SQL
  (``power`` is the C library's ``pow`` on both sides), and each event is rounded
  on its own so that no float summation order can flip an integer;
- ages are whole microseconds, never negative (an event stamped slightly in the
  future counts as happening now);
- score = clamp(floor(fit + behaviour + 0.5), 0, 100), in thousandths.

Semantics decided where SPEC.md §2 is silent (docs/scoring.md): only positive
per-occurrence points decay; frequency points do not (their window bounds them);
negative behaviour points are per occurrence only and never decay, so that with no
new events a score can only fall as time passes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

UNITS = 1000
MICROSECOND = timedelta(microseconds=1)
DAY_US = 86_400 * 1_000_000
GRADE_ORDER = {"A": 0, "B": 1, "C": 2, "D": 3}
REGEX_FLAGS = re.IGNORECASE | re.DOTALL  # PostgreSQL's ``~*``: case-blind, "." matches \n

# Fit operators that compare numbers when the attribute is numeric.
NUMERIC_ATTRIBUTES = frozenset({"company.employees"})


# --- Inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FitSpec:
    """A compiled fit rule. ``value`` is normalised by ``scoring.rules``:
    equals → str (lowercased) or int; in/contains/starts_with/email_domain_in → tuple of
    lowercased str (or ints for ``in`` on a number); between → (lo | None, hi | None)."""

    id: int
    label: str
    attribute: str
    operator: str
    value: Any
    points: int


@dataclass(frozen=True)
class BehaviourSpec:
    id: int
    label: str
    event_type: str
    match_field: str  # "" | url | content.level | content.type | content.key | property:x
    match_operator: str  # "" | equals | contains | regex
    match_value: str
    mode: str  # per_occurrence | frequency
    points: int
    cap: int | None
    min_count: int | None
    window_days: int | None
    marks_hot: bool

    @cached_property
    def pattern(self) -> re.Pattern | None:
        if self.match_operator != "regex":
            return None
        return re.compile(self.match_value, REGEX_FLAGS)

    @property
    def is_frequency(self) -> bool:
        return self.mode == "frequency"

    def decays(self, half_life_days: int | None) -> bool:
        return bool(half_life_days) and not self.is_frequency and self.points > 0

    def window_start(self, now: datetime) -> datetime | None:
        """Events strictly after this instant are "in the window"."""
        if self.window_days is None:
            return None
        return now - timedelta(days=self.window_days)


@dataclass(frozen=True)
class ModelRules:
    id: int
    version: int
    fit_rules: tuple[FitSpec, ...]
    behaviour_rules: tuple[BehaviourSpec, ...]
    grade_bands: Mapping[str, int]
    decay_half_life_days: int | None = None
    mql_threshold: int = 60
    min_fit_grade: str = ""

    @property
    def event_types(self) -> list[str]:
        return sorted({rule.event_type for rule in self.behaviour_rules})

    @property
    def property_names(self) -> list[str]:
        return sorted(
            {
                rule.match_field.removeprefix("property:")
                for rule in self.behaviour_rules
                if rule.match_field.startswith("property:")
            }
        )


@dataclass(frozen=True)
class EventData:
    """What the engine needs of one event. ``fields`` holds the matchable text values
    (``url``, ``content.level``, ``content.type``, ``content.key``, ``property:<name>``),
    None when absent — as the database renders them (``properties ->> name``)."""

    type: str
    occurred_at: datetime
    fields: Mapping[str, str | None] = field(default_factory=dict)


# --- Output -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contribution:
    kind: str  # fit | behaviour
    rule_id: int
    label: str
    units: int  # thousandths of a point
    events: int = 0
    last_occurrence: datetime | None = None
    hot: bool = False

    @property
    def points(self) -> float:
        return self.units / UNITS


@dataclass(frozen=True)
class Result:
    score: int
    fit: int
    behaviour: float
    grade: str
    hot: bool
    hot_since: datetime | None
    contributions: tuple[Contribution, ...]

    @property
    def behaviour_units(self) -> int:
        return sum(c.units for c in self.contributions if c.kind == "behaviour")


# --- Pieces -----------------------------------------------------------------------------


def grade_for(fit: int, bands: Mapping[str, int]) -> str:
    """Fit at or above a band's floor gives that grade (best first), else D."""
    for grade in ("A", "B", "C"):
        floor = bands.get(grade)
        if floor is not None and fit >= floor:
            return grade
    return "D"


def qualifies(score: int, grade: str, threshold: int, min_fit_grade: str) -> bool:
    """The MQL definition: score ≥ threshold and (if a minimum is set) grade at least it."""
    if score < threshold:
        return False
    if not min_fit_grade:
        return True
    return GRADE_ORDER.get(grade or "D", 3) <= GRADE_ORDER[min_fit_grade]


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].lower()


def _attribute(name: str, lead: Mapping[str, Any], company: Mapping[str, Any] | None) -> Any:
    if name.startswith("company."):
        return None if company is None else company.get(name.removeprefix("company."))
    return lead.get(name)


def fit_matches(rule: FitSpec, lead: Mapping[str, Any], company: Mapping[str, Any] | None) -> bool:
    op = rule.operator
    if op in ("email_domain_in", "free_email"):
        # ``value`` holds the domains (the free-mail list is put there by compilation).
        domain = email_domain(lead.get("email"))
        return domain is not None and domain in rule.value
    raw = _attribute(rule.attribute, lead, company)
    if rule.attribute in NUMERIC_ATTRIBUTES:
        if raw is None:
            return False
        number = int(raw)
        if op == "equals":
            return number == rule.value
        if op == "in":
            return number in rule.value
        if op == "between":
            lo, hi = rule.value
            return (lo is None or number >= lo) and (hi is None or number <= hi)
        return op == "is_set"
    text = (raw or "").lower()
    if op == "equals":
        return text == rule.value
    if op == "in":
        return text in rule.value
    if op == "contains":
        return any(v in text for v in rule.value)
    if op == "starts_with":
        return any(text.startswith(v) for v in rule.value)
    if op == "is_set":
        return text != ""
    return False


def behaviour_matches(rule: BehaviourSpec, event: EventData) -> bool:
    if event.type != rule.event_type:
        return False
    if not rule.match_field or not rule.match_operator:
        return True
    value = event.fields.get(rule.match_field)
    if value is None:
        return False
    if rule.match_operator == "equals":
        return value.lower() == rule.match_value.lower()
    if rule.match_operator == "contains":
        return rule.match_value.lower() in value.lower()
    if rule.match_operator == "regex":
        return rule.pattern.search(value) is not None
    return False


def age_us(now: datetime, occurred_at: datetime) -> int:
    return max(0, (now - occurred_at) // MICROSECOND)


def event_units(points: int, age: int, half_life_days: int | None, decays: bool) -> int:
    """One event's behaviour points in thousandths, decayed and rounded on its own."""
    if not decays:
        return points * UNITS
    half_life_us = half_life_days * DAY_US
    factor = 0.5 ** (age / half_life_us)
    return math.floor(points * 1000.0 * factor + 0.5)


def _rule_contribution(
    rule: BehaviourSpec, events: Sequence[EventData], now: datetime, half_life: int | None
) -> Contribution | None:
    if not events:
        return None
    start = rule.window_start(now)
    in_window = [e for e in events if start is None or e.occurred_at > start]
    last = max(e.occurred_at for e in events)
    if rule.is_frequency:
        holds = len(in_window) >= (rule.min_count or 1)
        units = rule.points * UNITS if holds else 0
        count = len(in_window)
        hot = rule.marks_hot and holds
    else:
        decays = rule.decays(half_life)
        units = sum(
            event_units(rule.points, age_us(now, e.occurred_at), half_life, decays) for e in events
        )
        if rule.cap is not None:
            cap = rule.cap * UNITS
            units = min(units, cap) if rule.points >= 0 else max(units, -cap)
        count = len(events)
        hot = rule.marks_hot and bool(in_window)
    if units == 0 and not hot:
        return None
    return Contribution(
        kind="behaviour",
        rule_id=rule.id,
        label=rule.label,
        units=units,
        events=count,
        last_occurrence=last,
        hot=hot,
    )


def sort_contributions(contributions: Iterable[Contribution]) -> tuple[Contribution, ...]:
    """The explanation's order: biggest gain first, biggest loss last."""
    return tuple(sorted(contributions, key=lambda c: (-c.units, c.kind, c.rule_id)))


# --- The function -----------------------------------------------------------------------


def score_lead(
    model_rules: ModelRules,
    lead_attrs: Mapping[str, Any],
    company_attrs: Mapping[str, Any] | None,
    events: Iterable[EventData],
    now: datetime,
) -> Result:
    """Score one lead at ``now`` (an aware datetime). Pure and deterministic."""
    contributions: list[Contribution] = []
    fit = 0
    for rule in model_rules.fit_rules:
        if fit_matches(rule, lead_attrs, company_attrs):
            fit += rule.points
            contributions.append(
                Contribution(
                    kind="fit", rule_id=rule.id, label=rule.label, units=rule.points * UNITS
                )
            )

    by_type: dict[str, list[EventData]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    behaviour_units = 0
    hot_since: datetime | None = None
    half_life = model_rules.decay_half_life_days
    for rule in model_rules.behaviour_rules:
        matching = [e for e in by_type.get(rule.event_type, ()) if behaviour_matches(rule, e)]
        contribution = _rule_contribution(rule, matching, now, half_life)
        if contribution is None:
            continue
        contributions.append(contribution)
        behaviour_units += contribution.units
        if contribution.hot and (hot_since is None or contribution.last_occurrence > hot_since):
            hot_since = contribution.last_occurrence

    total = fit * UNITS + behaviour_units
    score = min(100, max(0, (total + UNITS // 2) // UNITS))
    return Result(
        score=score,
        fit=fit,
        behaviour=behaviour_units / UNITS,
        grade=grade_for(fit, model_rules.grade_bands),
        hot=hot_since is not None,
        hot_since=hot_since,
        contributions=sort_contributions(contributions),
    )
