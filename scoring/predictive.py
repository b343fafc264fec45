"""The predictive score (SPEC.md §2, docs/scoring.md "Predictive score"): the
probability that a lead reaches SQL, learnt from the organization's own decided leads.
It sits beside the rule score and never replaces it: nothing here writes a lead.

- **Outcomes.** A lead is *decided* when it reached SQL (a transition to ``sql``,
  ``opportunity`` or ``customer``; positive) or was rejected by sales or disqualified
  (negative). Reaching SQL wins over an earlier rejection. The outcome's time is the
  first such transition or decision.
- **Features** (``lead_features``): fit attributes (seniority, country, source, the
  company's industry, size bucket and revenue band, free mail, words of the job title)
  and aggregates of the lead's events **as of the outcome** for a decided lead (only
  events strictly before it: no leakage) and as of now for a live lead. Never the rule
  score, grade or stage: they are computed from later events or are the outcome.
- **Training** (``train_model``; ``predictive_train`` for a member): at least
  ``MIN_DECIDED`` decided leads, a stratified held-out quarter, scikit-learn's
  logistic regression with balanced class weights on one-hot categoricals and
  standardized numbers. The stored model is the one evaluated: its held-out AUC is
  what the UI shows.
- **Parameters** are JSON (vocabulary, means, scales, coefficients, intercept), never
  a pickle; a prediction is a dot product in numpy (``predict_proba``), so the web
  process does not import scikit-learn.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import (
    Company,
    Content,
    Decision,
    Event,
    EventType,
    Lead,
    LifecycleTransition,
    Stage,
)
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm

from .models import PredictiveModel
from .rules import FREE_EMAIL_DOMAINS, ScoringError

MANAGE = "scoring.manage"
MIN_DECIDED = 200
# Both outcomes must be there in numbers a held-out quarter can still measure.
MIN_PER_CLASS = 20
TEST_SIZE = 0.25
RANDOM_STATE = 2026
# Inverse L2 strengths tried for the logistic regression, by cross-validation.
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
CV_FOLDS = 5
# A one-hot feature seen in fewer training leads than this is left out: it would
# only learn its few leads by heart (and make a factor nobody can trust).
MIN_SUPPORT = 5
TOP_FACTORS = 3
# Contributions (log-odds) smaller than this are not worth naming as a factor.
MIN_FACTOR = 0.05
PARAMS_FORMAT = 1

POSITIVE_STAGES = (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
WINDOWS = (7, 30, 90)
EVENT_TYPES = tuple(EventType.values)
CONTENT_LEVELS = tuple(Content.Level.values)
# The starting template's pricing-page rule (scoring.services).
PRICING_URL = re.compile(r"/(pricing|tarifs?|prix)", re.IGNORECASE)
DAYS_CAP = 365.0
EMPLOYEE_BUCKETS = (
    (10, "1-9"),
    (50, "10-49"),
    (250, "50-249"),
    (1000, "250-999"),
    (5000, "1000-4999"),
)
TITLE_STOPWORDS = frozenset(
    "de du des la le les en et au aux of the and for in at to chez pour".split()  # noqa: SIM905 (a readable list of words)
)


# --- Outcomes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    positive: bool
    # When the outcome happened (first SQL transition, rejection or disqualification).
    at: datetime
    # The moment the lead is seen as of: sales' last decision up to the outcome (the
    # accept before an SQL, the reject itself), else the outcome. Not the outcome for
    # both: an SQL comes days after the accept while a reject comes at once, and
    # "days since the last activity" would learn that delay instead of the lead.
    as_of: datetime


_NEVER = datetime.min.replace(tzinfo=UTC)


def _first_at(rows: Iterable[tuple[int, datetime]], into: dict[int, datetime]) -> None:
    for lead_id, at in rows:
        if at is not None and (lead_id not in into or at < into[lead_id]):
            into[lead_id] = at


def decided_outcomes(organization: Organization | int) -> dict[int, Outcome]:
    """Every decided lead of the organization, with its outcome, when, and as of when
    it is seen (five queries)."""
    transitions = LifecycleTransition.objects.for_org(organization).order_by()
    positive: dict[int, datetime] = {}
    _first_at(
        transitions.filter(to_stage__in=POSITIVE_STAGES)
        .values("lead_id")
        .annotate(first=Min("at"))
        .values_list("lead_id", "first"),
        positive,
    )
    negative: dict[int, datetime] = {}
    _first_at(
        Decision.objects.for_org(organization)
        .order_by()
        .filter(kind=Decision.Kind.REJECT)
        .values("lead_id")
        .annotate(first=Min("at"))
        .values_list("lead_id", "first"),
        negative,
    )
    _first_at(
        transitions.filter(to_stage=Stage.DISQUALIFIED)
        .values("lead_id")
        .annotate(first=Min("at"))
        .values_list("lead_id", "first"),
        negative,
    )
    # A lead put at a stage without a transition (an import, an integration): its
    # stage and the time it changed stand for the outcome.
    for lead_id, stage, at in (
        Lead.objects.for_org(organization)
        .order_by()
        .filter(stage__in=[*POSITIVE_STAGES, Stage.DISQUALIFIED])
        .values_list("pk", "stage", "stage_changed_at")
    ):
        target = negative if stage == Stage.DISQUALIFIED else positive
        target.setdefault(lead_id, at)
    first = {lead_id: (True, at) for lead_id, at in positive.items()}
    for lead_id, at in negative.items():
        first.setdefault(lead_id, (False, at))
    decided_at: dict[int, datetime] = {}
    for lead_id, at in (
        Decision.objects.for_org(organization).order_by().values_list("lead_id", "at")
    ):
        outcome = first.get(lead_id)
        if outcome and at <= outcome[1] and at > decided_at.get(lead_id, _NEVER):
            decided_at[lead_id] = at
    return {
        lead_id: Outcome(is_positive, at, decided_at.get(lead_id, at))
        for lead_id, (is_positive, at) in first.items()
    }


def decided_counts(organization: Organization | int) -> tuple[int, int]:
    """(decided leads, of which reached SQL) counted in the database, two queries:
    the same definition as ``decided_outcomes``, for pages that only need the count."""
    transitions = LifecycleTransition.objects.for_org(organization).order_by()
    leads = Lead.objects.for_org(organization).order_by()
    positive = (
        transitions.filter(to_stage__in=POSITIVE_STAGES)
        .values("lead_id")
        .union(leads.filter(stage__in=POSITIVE_STAGES).values("pk"))
    )
    negative = (
        Decision.objects.for_org(organization)
        .order_by()
        .filter(kind=Decision.Kind.REJECT)
        .values("lead_id")
        .union(
            transitions.filter(to_stage=Stage.DISQUALIFIED).values("lead_id"),
            leads.filter(stage=Stage.DISQUALIFIED).values("pk"),
        )
    )
    return positive.union(negative).count(), positive.count()


# --- Features -------------------------------------------------------------------------

NUMERIC_FEATURES: tuple[str, ...] = (
    *(f"events:{t}:{w}d" for t in EVENT_TYPES for w in WINDOWS),
    *(f"pricing:{w}d" for w in WINDOWS),
    *(f"content:{level}" for level in CONTENT_LEVELS),
    "days_since_first",
    "days_since_last",
)
_NUMERIC = frozenset(NUMERIC_FEATURES)


def employees_bucket(employees: int | None) -> str:
    if employees is None:
        return "unknown"
    for bound, label in EMPLOYEE_BUCKETS:
        if employees < bound:
            return label
    return "5000+"


def title_words(title: str) -> set[str]:
    """Accent-free lowercase words of a job title ("Directrice Marketing" →
    {"directrice", "marketing"})."""
    folded = unicodedata.normalize("NFKD", title or "")
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return {w for w in re.split(r"[^a-z0-9]+", folded) if len(w) >= 2} - TITLE_STOPWORDS


def _is_free_mail(email: str) -> bool:
    return (email or "").rpartition("@")[2].lower() in FREE_EMAIL_DOMAINS


def fit_features(lead: Mapping[str, Any], company: Mapping[str, Any] | None) -> dict[str, Any]:
    """The lead's fit as DictVectorizer input: strings become one-hot columns."""
    features: dict[str, Any] = {
        "seniority": lead.get("seniority") or "unknown",
        "country": (lead.get("country") or "unknown").upper(),
        "source": lead.get("source") or "unknown",
    }
    if company is None:
        features["company"] = "none"
    else:
        features["industry"] = (company.get("industry") or "").strip() or "unknown"
        features["employees"] = employees_bucket(company.get("employees"))
        features["revenue"] = company.get("revenue_band") or "unknown"
    if _is_free_mail(lead.get("email") or ""):
        features["free_mail"] = 1
    for word in title_words(lead.get("title") or ""):
        features[f"title:{word}"] = 1
    return features


@dataclass
class Activity:
    """A lead's event aggregates as of ``as_of``; events at or after ``cutoff`` (the
    outcome) are ignored, so a decided lead is seen as sales saw it before deciding."""

    as_of: datetime
    cutoff: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    pricing: list[int] = field(default_factory=lambda: [0] * len(WINDOWS))
    contents: dict[str, set[int]] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    webinar_attended: bool = False
    demo_request: bool = False

    def add(
        self,
        type: str,
        occurred_at: datetime,
        url: str = "",
        content_id: int | None = None,
        content_level: str | None = None,
    ) -> None:
        if self.cutoff is not None and occurred_at >= self.cutoff:
            return
        # An event stamped slightly in the future (clock skew) counts as now.
        age = max((self.as_of - occurred_at).total_seconds() / 86400, 0.0)
        standard = type in _EVENT_TYPES
        pricing = type == EventType.PAGE_VIEW and bool(url) and PRICING_URL.search(url)
        for i, window in enumerate(WINDOWS):
            if age < window:
                if standard:
                    key = f"events:{type}:{window}d"
                    self.counts[key] = self.counts.get(key, 0) + 1
                if pricing:
                    self.pricing[i] += 1
        if content_id is not None and content_level in _CONTENT_LEVELS:
            self.contents.setdefault(content_level, set()).add(content_id)
        if self.first is None or occurred_at < self.first:
            self.first = occurred_at
        if self.last is None or occurred_at > self.last:
            self.last = occurred_at
        if type == EventType.WEBINAR_ATTENDED:
            self.webinar_attended = True
        elif type == EventType.DEMO_REQUEST:
            self.demo_request = True

    def raw(self) -> dict[str, float]:
        """The numbers as a person reads them (counts, days)."""
        values: dict[str, float] = {}
        for t in EVENT_TYPES:
            for w in WINDOWS:
                values[f"events:{t}:{w}d"] = self.counts.get(f"events:{t}:{w}d", 0)
        for i, w in enumerate(WINDOWS):
            values[f"pricing:{w}d"] = self.pricing[i]
        for level in CONTENT_LEVELS:
            values[f"content:{level}"] = len(self.contents.get(level, ()))
        values["days_since_first"] = self._days(self.first)
        values["days_since_last"] = self._days(self.last)
        return values

    def _days(self, at: datetime | None) -> float:
        if at is None:
            return DAYS_CAP
        return min(max((self.as_of - at).total_seconds() / 86400, 0.0), DAYS_CAP)

    def features(self) -> dict[str, Any]:
        """Model input: counts and days as log(1 + n) (a tenth pricing visit says less
        than the second; 200 days of silence little more than 100), flags only when
        true."""
        values: dict[str, Any] = {name: math.log1p(value) for name, value in self.raw().items()}
        if self.first is None:
            values["no_activity"] = 1
        if self.webinar_attended:
            values["webinar_attended"] = 1
        if self.demo_request:
            values["demo_request"] = 1
        return values


_EVENT_TYPES = frozenset(EVENT_TYPES)
_CONTENT_LEVELS = frozenset(CONTENT_LEVELS)

LEAD_COLUMNS = ("pk", "email", "title", "seniority", "country", "source", "company_id")
COMPANY_COLUMNS = ("industry", "employees", "revenue_band")
EVENT_COLUMNS = ("lead_id", "type", "occurred_at", "url", "content_id", "content__level")


@dataclass
class LeadFeatures:
    """What the model reads about one lead, and the same numbers for people."""

    lead_id: int
    values: dict[str, Any]
    raw: dict[str, float]


def _company_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row.get("company_id") is None:
        return None
    return {name: row.get(f"company__{name}") for name in COMPANY_COLUMNS}


def load_features(
    organization: Organization | int,
    as_of: Mapping[int, datetime],
    *,
    cutoffs: Mapping[int, datetime] | None = None,
) -> dict[int, LeadFeatures]:
    """Features of the leads in ``as_of`` (lead id → instant), in two queries.

    ``cutoffs`` (lead id → outcome time) leaves out each decided lead's events from
    its outcome on. Events are aggregated as they stream in: memory grows with the
    number of leads, not of events."""
    cutoffs = cutoffs or {}
    lead_ids = list(as_of)
    if not lead_ids:
        return {}
    activity = {
        lead_id: Activity(as_of=at, cutoff=cutoffs.get(lead_id)) for lead_id, at in as_of.items()
    }
    events = Event.objects.for_org(organization).filter(lead_id__in=lead_ids).order_by()
    if len(cutoffs) == len(lead_ids):  # all decided: nothing after the last outcome
        events = events.filter(occurred_at__lt=max(cutoffs.values()))
    for lead_id, type, occurred_at, url, content_id, level in events.values_list(
        *EVENT_COLUMNS
    ).iterator(chunk_size=5000):
        activity[lead_id].add(type, occurred_at, url, content_id, level)
    found: dict[int, LeadFeatures] = {}
    rows = (
        Lead.objects.for_org(organization)
        .filter(pk__in=lead_ids)
        .order_by()
        .values(*LEAD_COLUMNS, *(f"company__{name}" for name in COMPANY_COLUMNS))
    )
    for row in rows.iterator(chunk_size=2000):
        lead_activity = activity[row["pk"]]
        found[row["pk"]] = LeadFeatures(
            lead_id=row["pk"],
            values={**fit_features(row, _company_of(row)), **lead_activity.features()},
            raw=lead_activity.raw(),
        )
    return found


def lead_features(lead: Lead, *, now: datetime | None = None) -> LeadFeatures:
    """A live lead's features as of now (one query for its events)."""
    now = now or timezone.now()
    activity = Activity(as_of=now)
    for _lead, type, occurred_at, url, content_id, level in (
        Event.objects.for_org(lead.organization_id)
        .filter(lead_id=lead.pk)
        .order_by()
        .values_list(*EVENT_COLUMNS)
    ):
        activity.add(type, occurred_at, url, content_id, level)
    company: Company | None = lead.company if lead.company_id else None
    values = fit_features(
        {name: getattr(lead, name) for name in LEAD_COLUMNS[1:]},
        {name: getattr(company, name) for name in COMPANY_COLUMNS} if company else None,
    )
    return LeadFeatures(
        lead_id=lead.pk, values={**values, **activity.features()}, raw=activity.raw()
    )


@dataclass
class Dataset:
    lead_ids: list[int]
    features: list[LeadFeatures]
    labels: list[int]

    @property
    def n_positive(self) -> int:
        return sum(self.labels)


def training_set(organization: Organization | int) -> Dataset:
    """Every decided lead with its features as of its outcome."""
    outcomes = decided_outcomes(organization)
    at = {lead_id: outcome.as_of for lead_id, outcome in outcomes.items()}
    features = load_features(organization, at, cutoffs=at)
    lead_ids = sorted(features)
    return Dataset(
        lead_ids=lead_ids,
        features=[features[i] for i in lead_ids],
        labels=[int(outcomes[i].positive) for i in lead_ids],
    )


# --- Fitting --------------------------------------------------------------------------


@dataclass
class Fitted:
    """A trained model: the scikit-learn objects (tests compare with them) and the
    JSON parameters that are stored."""

    vectorizer: Any
    scaler: Any
    classifier: Any
    numeric_index: list[int]
    params: dict[str, Any]
    auc: float
    n_train: int
    n_test: int

    def transform(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """The scikit-learn path: vectorize, standardize the numbers."""
        matrix = self.vectorizer.transform(rows)
        if self.numeric_index:
            matrix[:, self.numeric_index] = self.scaler.transform(matrix[:, self.numeric_index])
        return matrix


def _supported(rows: list[dict[str, Any]]) -> set[str]:
    """One-hot columns seen in at least ``MIN_SUPPORT`` rows (numbers always are)."""
    seen: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            column = f"{name}={value}" if isinstance(value, str) else name
            seen[column] = seen.get(column, 0) + 1
    return {c for c, n in seen.items() if n >= MIN_SUPPORT or c in _NUMERIC}


def fit(rows: list[dict[str, Any]], labels: list[int]) -> Fitted:
    """Split (stratified, fixed seed), fit on three quarters, measure the AUC on the
    held-out quarter. scikit-learn is imported here only: predictions need numpy."""
    import sklearn
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(labels, dtype=int)
    train_idx, test_idx = train_test_split(
        np.arange(len(rows)), test_size=TEST_SIZE, stratify=y, random_state=RANDOM_STATE
    )
    train_rows = [rows[i] for i in train_idx]
    keep = _supported(train_rows)
    vectorizer = DictVectorizer(sparse=False, sort=True)
    vectorizer.fit(
        [
            {k: v for k, v in row.items() if (f"{k}={v}" if isinstance(v, str) else k) in keep}
            for row in train_rows
        ]
    )
    names = list(vectorizer.get_feature_names_out())
    numeric_index = [i for i, name in enumerate(names) if name in _NUMERIC]
    x_train = vectorizer.transform(train_rows)
    scaler = StandardScaler()
    if numeric_index:
        scaler.fit(x_train[:, numeric_index])
    fitted = Fitted(vectorizer, scaler, None, numeric_index, {}, 0.0, len(train_idx), len(test_idx))
    # The regularization strength is chosen by cross-validation on the training part
    # only (the held-out quarter stays unseen): with a few hundred leads and a hundred
    # features, a fixed C learns noise when the outcomes do not follow the features.
    search = GridSearchCV(
        LogisticRegression(class_weight="balanced", max_iter=5000),
        {"C": list(C_GRID)},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=RANDOM_STATE),
    )
    search.fit(fitted.transform(train_rows), y[train_idx])
    classifier = fitted.classifier = search.best_estimator_
    held_out = classifier.predict_proba(fitted.transform([rows[i] for i in test_idx]))[:, 1]
    fitted.auc = float(roc_auc_score(y[test_idx], held_out))

    means = np.zeros(len(names))
    scales = np.ones(len(names))
    if numeric_index:
        means[numeric_index] = scaler.mean_
        scales[numeric_index] = scaler.scale_
    fitted.params = {
        "format": PARAMS_FORMAT,
        "algorithm": "logistic_regression",
        "feature_names": names,
        "vocabulary": {name: i for i, name in enumerate(names)},
        "numeric": [names[i] for i in numeric_index],
        "means": [float(v) for v in means],
        "scales": [float(v) for v in scales],
        "coefficients": [float(v) for v in classifier.coef_[0]],
        "intercept": float(classifier.intercept_[0]),
        "settings": {
            "C": float(classifier.C),
            "C_grid": list(C_GRID),
            "cv_auc": float(search.best_score_),
            "class_weight": "balanced",
            "test_size": TEST_SIZE,
            "random_state": RANDOM_STATE,
            "min_support": MIN_SUPPORT,
            "windows": list(WINDOWS),
            "transform": "log1p of counts and days",
            "sklearn": sklearn.__version__,
        },
    }
    return fitted


# --- Prediction from the JSON ---------------------------------------------------------


def _vector(params: Mapping[str, Any], values: Mapping[str, Any]) -> np.ndarray:
    """DictVectorizer's transform, from the stored vocabulary (unknown columns are
    ignored, as scikit-learn ignores them)."""
    vocabulary = params["vocabulary"]
    x = np.zeros(len(params["feature_names"]))
    for name, value in values.items():
        if isinstance(value, str):
            index = vocabulary.get(f"{name}={value}")
            if index is not None:
                x[index] = 1.0
        else:
            index = vocabulary.get(name)
            if index is not None:
                x[index] = float(value)
    return x


def contributions(params: Mapping[str, Any], values: Mapping[str, Any]) -> np.ndarray:
    """Each feature's share of the log-odds: coefficient × standardized value."""
    z = (_vector(params, values) - np.asarray(params["means"])) / np.asarray(params["scales"])
    return np.asarray(params["coefficients"]) * z


def predict_proba(params: Mapping[str, Any], values: Mapping[str, Any]) -> float:
    """The probability of reaching SQL, from the JSON parameters alone."""
    logit = float(contributions(params, values).sum()) + float(params["intercept"])
    # The logistic function, stable at both ends.
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    e = math.exp(logit)
    return e / (1.0 + e)


# --- Labels ---------------------------------------------------------------------------


def _choice_label(choices, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def feature_label(name: str, raw: Mapping[str, float] | None = None) -> str:
    """A feature as a person reads it, in the active language, with the lead's value
    for numbers ("Pricing page views: 3 in the last 30 days")."""
    raw = raw or {}
    column, _sep, value = name.partition("=")
    unknown = value in ("unknown", "")
    if column == "seniority":
        return (
            _("Seniority unknown")
            if unknown
            else _("Seniority: %(value)s") % {"value": _choice_label(Lead.Seniority, value)}
        )
    if column == "country":
        return _("Country unknown") if unknown else _("Country: %(value)s") % {"value": value}
    if column == "source":
        return (
            _("Source unknown")
            if unknown
            else _("Source: %(value)s") % {"value": _choice_label(Lead.Source, value)}
        )
    if column == "company":
        return _("No company")
    if column == "industry":
        return _("Industry unknown") if unknown else _("Industry: %(value)s") % {"value": value}
    if column == "employees":
        if unknown:
            return _("Company size unknown")
        return _("Company of %(value)s employees") % {"value": value.replace("-", "–")}
    if column == "revenue":
        return (
            _("Revenue unknown")
            if unknown
            else _("Revenue: %(value)s") % {"value": _choice_label(Company.RevenueBand, value)}
        )
    if name == "free_mail":
        return _("Free-mail address")
    if name == "no_activity":
        return _("No activity yet")
    if name == "webinar_attended":
        return _("Attended a webinar")
    if name == "demo_request":
        return _("Requested a demo")
    if name.startswith("title:"):
        return _("Job title mentions “%(word)s”") % {"word": name[len("title:") :]}
    count = raw.get(name)
    shown = f"{count:g}" if isinstance(count, int | float) else "?"
    if name.startswith("events:"):
        _prefix, type, window = name.split(":")
        return _("%(event)s: %(count)s in the last %(days)s days") % {
            "event": _choice_label(EventType, type),
            "days": window.rstrip("d"),
            "count": shown,
        }
    if name.startswith("pricing:"):
        return _("Pricing page views: %(count)s in the last %(days)s days") % {
            "days": name.split(":")[1].rstrip("d"),
            "count": shown,
        }
    if name.startswith("content:"):
        return _("%(level)s content: %(count)s distinct") % {
            "level": _choice_label(Content.Level, name.split(":")[1]),
            "count": shown,
        }
    if name == "days_since_first":
        return _("Days since the first activity: %(count)s") % {"count": f"{round(count or 0)}"}
    if name == "days_since_last":
        return _("Days since the last activity: %(count)s") % {"count": f"{round(count or 0)}"}
    return name


def _family(name: str) -> str:
    """Windows of one count are one factor ("page views in 7/30/90 days")."""
    if name.startswith(("events:", "pricing:")):
        return name.rsplit(":", 1)[0]
    return name


def top_factors(
    params: Mapping[str, Any], features: LeadFeatures, *, limit: int = TOP_FACTORS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The largest contributions pushing up and pushing down, one per family."""
    shares = contributions(params, features.values)
    names = params["feature_names"]
    order = np.argsort(-np.abs(shares), kind="stable")
    up: list[dict[str, Any]] = []
    down: list[dict[str, Any]] = []
    seen: set[tuple[str, bool]] = set()
    for index in order:
        share = float(shares[index])
        if abs(share) < MIN_FACTOR:
            break
        name = names[index]
        key = (_family(name), share > 0)
        if key in seen:
            continue
        seen.add(key)
        side = up if share > 0 else down
        if len(side) < limit:
            side.append(
                {"feature": name, "label": feature_label(name, features.raw), "impact": share}
            )
        if len(up) >= limit and len(down) >= limit:
            break
    return up, down


# --- Reads ----------------------------------------------------------------------------


def active_predictive_model(organization: Organization | int) -> PredictiveModel | None:
    return (
        PredictiveModel.objects.for_org(organization)
        .filter(status=PredictiveModel.Status.ACTIVE)
        .first()
    )


def model_summary(model: PredictiveModel) -> dict[str, Any]:
    return {
        "id": model.pk,
        "algorithm": model.algorithm,
        "auc": model.auc,
        "n_samples": model.n_samples,
        "n_positive": model.n_positive,
        "n_test": model.n_test,
        "trained_at": model.trained_at,
    }


def lead_prediction(lead: Lead, *, now: datetime | None = None) -> dict[str, Any] | None:
    """What the lead page shows beside the rule score, or None when the organization
    has no trained model (two or three queries)."""
    model = active_predictive_model(lead.organization_id)
    if model is None:
        return None
    features = lead_features(lead, now=now)
    probability = predict_proba(model.params, features.values)
    up, down = top_factors(model.params, features)
    return {
        "probability": probability,
        "percent": round(100 * probability),
        "up": up,
        "down": down,
        "model": model_summary(model),
    }


def predictive_status(organization: Organization | int) -> dict[str, Any]:
    """Trained or not, and how far from trainable: decided leads counted now."""
    decided, positive = decided_counts(organization)
    model = active_predictive_model(organization)
    return {
        "trained": model is not None,
        "model": model_summary(model) if model else None,
        "decided": decided,
        "positive": positive,
        "negative": decided - positive,
        "required": MIN_DECIDED,
        "missing": max(MIN_DECIDED - decided, 0),
        "min_per_class": MIN_PER_CLASS,
        "ready": decided >= MIN_DECIDED and min(positive, decided - positive) >= MIN_PER_CLASS,
    }


def model_history(organization: Organization | int, *, limit: int = 20):
    return PredictiveModel.objects.for_org(organization).select_related("trained_by")[:limit]


# --- Writes ---------------------------------------------------------------------------


@dataclass
class TrainingResult:
    trained: bool
    model: PredictiveModel | None
    decided: int
    positive: int
    missing: int
    message: str


def train_model(
    *, organization: Organization, trained_by=None, now: datetime | None = None
) -> TrainingResult:
    """Train on the organization's decided leads and make it the active model (the
    previous one is archived). Below ``MIN_DECIDED`` decided leads, or with too few of
    either outcome, nothing is trained and the active model, if any, stays."""
    now = now or timezone.now()
    data = training_set(organization)
    decided, positive = len(data.labels), data.n_positive
    missing = max(MIN_DECIDED - decided, 0)
    if missing:
        message = _("%(missing)s more decided leads are needed (%(decided)s of %(required)s).")
        return TrainingResult(
            False,
            None,
            decided,
            positive,
            missing,
            message % {"missing": missing, "decided": decided, "required": MIN_DECIDED},
        )
    if min(positive, decided - positive) < MIN_PER_CLASS:
        message = _(
            "At least %(n)s leads that reached SQL and %(n)s rejected or disqualified "
            "ones are needed (%(positive)s and %(negative)s)."
        )
        return TrainingResult(
            False,
            None,
            decided,
            positive,
            0,
            message % {"n": MIN_PER_CLASS, "positive": positive, "negative": decided - positive},
        )
    fitted = fit([f.values for f in data.features], data.labels)
    with transaction.atomic():
        # One training swaps the active model at a time (the partial unique index
        # would refuse a second active row). NO KEY UPDATE: inserts of tenant rows,
        # which take KEY SHARE locks on their organization, are not blocked.
        Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
        PredictiveModel.objects.for_org(organization).filter(
            status=PredictiveModel.Status.ACTIVE
        ).update(status=PredictiveModel.Status.ARCHIVED, archived_at=now)
        model = PredictiveModel.objects.create(
            organization=organization,
            status=PredictiveModel.Status.ACTIVE,
            algorithm=fitted.params["algorithm"],
            trained_at=now,
            trained_by=trained_by,
            n_samples=decided,
            n_positive=positive,
            n_test=fitted.n_test,
            auc=fitted.auc,
            params=fitted.params,
            feature_names=fitted.params["feature_names"],
        )
    message = _("Trained on %(n)s decided leads: held-out AUC %(auc).2f.")
    return TrainingResult(
        True, model, decided, positive, 0, message % {"n": decided, "auc": fitted.auc}
    )


def predictive_train(*, actor, organization: Organization) -> TrainingResult:
    """Train now, on demand (the scoring page's button). ``scoring.manage``."""
    require_perm(actor, MANAGE)
    if actor.organization_id != organization.pk:
        raise ScoringError(_("Not found."), status=404, code="not_found")
    return train_model(organization=organization, trained_by=getattr(actor, "user", None))
