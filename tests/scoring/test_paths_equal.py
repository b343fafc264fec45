"""The pure engine and the set-based SQL path give identical results on random data:
random rules (every operator, match field and mode), random leads and companies,
random events spread over four months, random decay."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import transaction

from leads.models import Company, Content, Event, Lead
from scoring import pipeline, sql
from scoring.engine import UNITS
from scoring.inputs import LEAD_VALUES
from scoring.models import BehaviourRule, FitRule, ScoreContribution, ScoringModel
from scoring.rules import ScoringError, clean_behaviour_rule, clean_fit_rule, compile_model
from smarketing.tenancy.db import tenant_context

from .conftest import NOW

pytestmark = pytest.mark.django_db

DOMAINS = ["gmail.com", "acme.fr", "rival.io", "Orange.FR", "x.co.uk", "wanadoo.fr"]
TITLES = [
    "Head of Growth",
    "Étudiant",
    "CEO",
    "student intern",
    "",
    "Directeur Marketing",
    "DIRECTOR of sales",
    "Stagiaire",
]
WORDS = ["growth", "étudiant", "student", "dir", "ceo", "marketing", "head"]
URLS = [
    "",
    "https://x.fr/tarifs",
    "https://x.fr/pricing?plan=pro",
    "/blog/post",
    "/TARIFS",
    "https://x.fr/Pricing",
]
TYPES = ["page_view", "email_click", "content_download", "demo_request", "custom:trial"]
PLANS = ["pro", "Free", 1, True, "enterprise", None]


def random_fit_rule(rnd: random.Random) -> dict:
    attribute = rnd.choice(FitRule.Attribute.values)
    if attribute == "company.employees":
        operator = rnd.choice(["equals", "in", "between", "is_set"])
        value = {
            "equals": rnd.choice([50, 250, 1000]),
            "in": rnd.sample([10, 50, 250, 1000, 5000], 2),
            "between": rnd.choice([[50, 5000], [None, 200], [1000, None]]),
            "is_set": None,
        }[operator]
    elif attribute == "email" and rnd.random() < 0.5:
        operator = rnd.choice(["email_domain_in", "free_email"])
        value = (
            rnd.sample(["acme.fr", "rival.io", "orange.fr"], 2)
            if operator != "free_email"
            else None
        )
    else:
        operator = rnd.choice(["equals", "in", "contains", "starts_with", "is_set"])
        vocab = {
            "seniority": ["vp", "c_level", "director", "student"],
            "country": ["fr", "BE", "us"],
            "company.country": ["FR", "be"],
            "source": ["website", "webinar", "api"],
            "company.industry": ["Software", "retail"],
            "company.revenue_band": ["1m_10m", "gt_250m"],
        }.get(attribute, [*WORDS, "acme", "x.co", "gmail"])
        value = {
            "equals": rnd.choice(vocab),
            "in": rnd.sample(vocab, 2),
            "contains": rnd.sample(vocab, rnd.randint(1, 2)),
            "starts_with": rnd.sample(vocab, rnd.randint(1, 2)),
            "is_set": None,
        }[operator]
    points = rnd.choice([-50, -30, -10, 5, 10, 15, 25])
    return {
        "label": f"fit {attribute} {operator}",
        "attribute": attribute,
        "operator": operator,
        "value": value,
        "points": points,
    }


def random_behaviour_rule(rnd: random.Random) -> dict:
    match_field = rnd.choice(["", "url", "content.level", "content.type", "property:plan"])
    operator = rnd.choice(["equals", "contains", "regex"]) if match_field else ""
    value = ""
    if match_field:
        value = {
            ("url", "equals"): "/TARIFS",
            ("url", "contains"): "tarifs",
            ("url", "regex"): r"/(tarifs|pricing)",
            ("content.level", "equals"): "Expert",
            ("content.level", "contains"): "inter",
            ("content.level", "regex"): "^(expert|beginner)$",
            ("content.type", "equals"): "guide",
            ("content.type", "contains"): "paper",
            ("content.type", "regex"): "^(guide|webinar)",
            ("property:plan", "equals"): "PRO",
            ("property:plan", "contains"): "r",
            ("property:plan", "regex"): "^(pro|enterprise|1|true)$",
        }[(match_field, operator)]
    frequency = rnd.random() < 0.4
    points = rnd.choice([5, 10, 15, 40, 50]) if frequency else rnd.choice([-20, -5, 3, 10, 15, 50])
    hot = points > 0 and rnd.random() < 0.4
    return {
        "label": f"beh {match_field} {operator}",
        "event_type": rnd.choice(TYPES),
        "match_field": match_field,
        "match_operator": operator,
        "match_value": value,
        "mode": "frequency" if frequency else "per_occurrence",
        "points": points,
        "cap": rnd.choice([None, 15, 30]) if not frequency else None,
        "min_count": rnd.randint(1, 4) if frequency else None,
        "window_days": rnd.choice([3, 7, 30]) if frequency or hot else None,
        "marks_hot": hot,
    }


def build(org, rnd: random.Random) -> ScoringModel:
    model = ScoringModel.objects.create(
        organization=org,
        version=1,
        status="active",
        decay_half_life_days=rnd.choice([None, 1, 7, 30, 45]),
        grade_bands=rnd.choice([{"A": 40, "B": 25, "C": 10}, {"A": 20, "B": 0, "C": -20}]),
    )
    for position in range(rnd.randint(0, 8)):
        try:
            clean = clean_fit_rule(random_fit_rule(rnd))
        except ScoringError:
            continue
        FitRule.objects.create(organization=org, model=model, position=position, **clean)
    for position in range(rnd.randint(1, 8)):
        clean = clean_behaviour_rule(random_behaviour_rule(rnd))
        BehaviourRule.objects.create(organization=org, model=model, position=position, **clean)

    contents = [
        Content.objects.create(organization=org, key=f"c{i}", title=f"C{i}", type=kind, level=level)
        for i, (kind, level) in enumerate(
            [
                ("guide", "expert"),
                ("white_paper", "beginner"),
                ("webinar", "intermediate"),
                ("other", ""),
            ]
        )
    ]
    companies = [
        Company.objects.create(
            organization=org,
            name=rnd.choice(["Acme", "Rival", "X Ltd"]) + str(i),
            domain=f"co{i}.fr",
            industry=rnd.choice(["Software", "Retail", ""]),
            employees=rnd.choice([None, 10, 50, 250, 1000, 5000, 9000]),
            country=rnd.choice(["FR", "BE", ""]),
            revenue_band=rnd.choice(["", "1m_10m", "gt_250m"]),
        )
        for i in range(5)
    ]
    leads = Lead.objects.bulk_create(
        [
            Lead(
                organization=org,
                email=f"u{i}@{rnd.choice(DOMAINS)}",
                title=rnd.choice(TITLES),
                seniority=rnd.choice(["", "vp", "c_level", "director", "student", "manager"]),
                country=rnd.choice(["FR", "BE", "US", ""]),
                source=rnd.choice(["website", "webinar", "api", ""]),
                utm_source=rnd.choice(["", "google", "Newsletter"]),
                company=rnd.choice([None, *companies]),
                # Previous state of any kind: the SQL path must overwrite all of it.
                score=rnd.randint(0, 100),
                hot=rnd.random() < 0.2,
            )
            for i in range(40)
        ]
    )
    events = []
    for n in range(500):
        plan = rnd.choice(PLANS)
        events.append(
            Event(
                organization=org,
                source="api",
                external_id=f"e{n}",
                type=rnd.choice(TYPES),
                occurred_at=NOW
                - timedelta(days=rnd.uniform(-0.04, 120), microseconds=rnd.randint(0, 999_999)),
                lead=rnd.choice(leads),
                url=rnd.choice(URLS),
                content=rnd.choice([None, *contents]),
                properties={} if plan is None else {"plan": plan, "n": rnd.randint(0, 3)},
            )
        )
    Event.objects.bulk_create(events)
    return model


def engine_results(org, model):
    rules = compile_model(model)
    rows = list(Lead.objects.for_org(org).order_by("pk").values(*LEAD_VALUES))
    return rules, pipeline.score_rows(org.pk, rules, rows, NOW)


def assert_stored_as_computed(org, expected: dict, seed) -> None:
    """Every lead's stored score, fit, grade, hot, hot since and contributions are the
    engine's."""
    stored = {
        row["pk"]: row
        for row in Lead.objects.for_org(org).values(
            "pk", "score", "fit", "grade", "hot", "hot_since", "rescore_requested_at"
        )
    }
    lines: dict[int, set] = {}
    for c in ScoreContribution.objects.for_org(org):
        lines.setdefault(c.lead_id, set()).add(
            (
                c.kind,
                c.fit_rule_id or c.behaviour_rule_id,
                int(c.points * UNITS),
                c.events,
                c.last_occurrence,
                c.hot,
                c.label,
            )
        )
    for lead_id, result in expected.items():
        row = stored[lead_id]
        assert (row["score"], row["fit"], row["grade"], row["hot"], row["hot_since"]) == (
            result.score,
            result.fit,
            result.grade,
            result.hot,
            result.hot_since,
        ), f"lead {lead_id}, seed {seed}"
        assert lines.get(lead_id, set()) == {
            (c.kind, c.rule_id, c.units, c.events, c.last_occurrence, c.hot, c.label)
            for c in result.contributions
        }, f"lead {lead_id}, seed {seed}"


@pytest.mark.parametrize("seed", range(12))
def test_engine_and_sql_agree(trio, seed):
    rnd = random.Random(seed)
    org = trio.alpha
    with tenant_context(org.pk):
        model = build(org, rnd)
        rules, expected = engine_results(org, model)
        ids = list(Lead.objects.for_org(org).order_by("pk").values_list("pk", flat=True))
        changes = sql.rescore_range(
            organization_id=org.pk, rules=rules, now=NOW, lo=ids[0], hi=ids[-1] + 1
        )
        assert [c.lead_id for c in changes] == ids
        assert_stored_as_computed(org, expected, seed)


@pytest.mark.parametrize("seed", range(100, 106))
def test_engine_and_sql_agree_from_a_full_rescores_snapshot(trio, seed):
    # The full re-score reads every lead's aggregates from one snapshot of the
    # organization's events, then scores chunk by chunk: same results.
    rnd = random.Random(seed)
    org = trio.alpha
    with tenant_context(org.pk):
        model = build(org, rnd)
        rules, expected = engine_results(org, model)
        ids = list(Lead.objects.for_org(org).order_by("pk").values_list("pk", flat=True))
        sql.create_snapshot(organization_id=org.pk, rules=rules, now=NOW, table="t_snapshot")
        middle = ids[len(ids) // 2]
        changes = [
            *sql.rescore_range(
                organization_id=org.pk,
                rules=rules,
                now=NOW,
                lo=ids[0],
                hi=middle,
                snapshot="pg_temp.t_snapshot",
            ),
            *sql.rescore_range(
                organization_id=org.pk,
                rules=rules,
                now=NOW,
                lo=middle,
                hi=ids[-1] + 1,
                snapshot="pg_temp.t_snapshot",
            ),
        ]
        sql.drop_snapshot("t_snapshot")
        assert [c.lead_id for c in changes] == ids
        assert_stored_as_computed(org, expected, seed)


def test_leads_written_since_the_snapshot_are_left_to_the_live_pipeline(trio):
    rnd = random.Random(5)
    org = trio.alpha
    with tenant_context(org.pk):
        model = build(org, rnd)
        rules = compile_model(model)
        ids = list(Lead.objects.for_org(org).order_by("pk").values_list("pk", flat=True))
        with transaction.atomic():  # marked before the snapshot (its task not run yet)
            Lead.objects.for_org(org).filter(pk=ids[1]).update(rescore_requested_at=NOW)
        sql.create_snapshot(organization_id=org.pk, rules=rules, now=NOW, table="t_snapshot")
        # After the snapshot, an event's ingestion writes its lead's row.
        with transaction.atomic():  # another transaction id, as another request's
            lead = Lead.objects.for_org(org).get(pk=ids[0])
            Event.objects.create(
                organization=org,
                source="t",
                external_id="late",
                type="demo_request",
                occurred_at=NOW,
                received_at=NOW,
                lead=lead,
            )
            Lead.objects.for_org(org).filter(pk=ids[0]).update(last_event_at=NOW)
        changes = sql.rescore_range(
            organization_id=org.pk,
            rules=rules,
            now=NOW,
            lo=ids[0],
            hi=ids[-1] + 1,
            snapshot="pg_temp.t_snapshot",
        )
        sql.drop_snapshot("t_snapshot")
        marked = set(
            Lead.objects.for_org(org)
            .filter(rescore_requested_at__isnull=False)
            .values_list("pk", flat=True)
        )
    # The lead written since is left out; the marked one is scored and stays marked.
    assert [c.lead_id for c in changes] == ids[1:]
    assert marked == {ids[1]}


def test_both_paths_of_a_full_rescore_write_the_same_state(trio, monkeypatch):
    rnd = random.Random(99)
    org = trio.alpha
    with tenant_context(org.pk):
        model = build(org, rnd)
        rules = compile_model(model)
        ids = list(Lead.objects.for_org(org).order_by("pk").values_list("pk", flat=True))

        def state():
            leads = list(
                Lead.objects.for_org(org)
                .order_by("pk")
                .values_list("pk", "score", "fit", "grade", "hot", "hot_since")
            )
            lines = sorted(
                ScoreContribution.objects.for_org(org).values_list(
                    "lead_id", "kind", "label", "points", "events", "last_occurrence", "hot"
                )
            )
            return leads, lines

        sql.rescore_range(organization_id=org.pk, rules=rules, now=NOW, lo=ids[0], hi=ids[-1] + 1)
        by_sql = state()
        Lead.objects.for_org(org).update(score=0, fit=0, grade="", hot=False, hot_since=None)
        pipeline.score_batch_python(
            organization_id=org.pk, model=model, rules=rules, lead_ids=ids, now=NOW
        )
        assert state() == by_sql
