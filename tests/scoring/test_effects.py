"""The set-based effects do what the per-lead services do: routing many MQLs at once
gives each the owner that routing them one by one (``leads.routing.route_lead``, in id
order) gives, with the same turns taken; a batch of crossings makes one transition,
one ``stage_changed`` and one notification per lead, exactly once."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import transaction

from leads import signals as leads_signals
from leads.models import Company, Lead, LifecycleTransition, RepRouting, RoutingSettings, Stage
from leads.routing import route_lead
from scoring import effects
from scoring.sql import Change
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def _state(org):
    leads = dict(Lead.objects.for_org(org).order_by("pk").values_list("pk", "owner_id"))
    reps = sorted(
        RepRouting.objects.for_org(org).values_list("user_id", "last_assigned_at", "assigned_count")
    )
    return leads, reps


@pytest.mark.parametrize("seed", range(4))
def test_routing_many_leads_at_once_equals_routing_them_one_by_one(trio, seed):
    rnd = random.Random(seed)
    org = trio.alpha
    with tenant_context(org.pk):
        reps = [trio.bob] + [
            MembershipFactory(organization=org, user=UserFactory(), role=Role.SALES_REP).user
            for _ in range(3)
        ]
        manager = MembershipFactory(
            organization=org, user=UserFactory(), role=Role.MARKETING_MANAGER
        ).user
        RoutingSettings.objects.for_org(org).update_or_create(
            organization_id=org.pk,
            defaults={
                "strategy": "round_robin",
                "by_territory": rnd.random() < 0.7,
                "by_segment": rnd.random() < 0.7,
            },
        )
        for n, rep in enumerate(reps):
            RepRouting.objects.for_org(org).update_or_create(
                organization_id=org.pk,
                user_id=rep.pk,
                defaults={
                    "active": n != 3 or rnd.random() < 0.5,
                    "away_until": NOW + timedelta(days=1) if rnd.random() < 0.2 else None,
                    "countries": rnd.sample(["FR", "BE", "DE"], rnd.randint(0, 2)),
                    "grades": rnd.sample(["A", "B", "C", "D"], rnd.randint(0, 2)),
                    "last_assigned_at": (
                        NOW - timedelta(hours=rnd.randint(1, 50)) if rnd.random() < 0.6 else None
                    ),
                },
            )
        company = Company.objects.create(organization=org, name="Acme", country="BE")
        leads = [
            Lead.objects.create(
                organization=org,
                email=f"l{n}@x.fr",
                stage=Stage.MQL,
                country=rnd.choice(["FR", "BE", "DE", "US", ""]),
                grade=rnd.choice("ABCD"),
                company=company if rnd.random() < 0.3 else None,
                owner=rnd.choice([None, None, None, reps[1], manager]),
            )
            for n in range(25)
        ]

        try:
            with transaction.atomic():
                for lead in leads:
                    fresh = Lead.objects.for_org(org).select_related("company").get(pk=lead.pk)
                    fresh.organization = org
                    route_lead(lead=fresh, now=NOW)
                one_by_one = _state(org)
                raise Rollback
        except Rollback:
            pass

        loaded = list(Lead.objects.for_org(org).select_related("company").order_by("-pk"))
        effects.route_leads(organization=org, leads=loaded, now=NOW)
        assert _state(org) == one_by_one
        assert {lead.pk: lead.owner_id for lead in loaded} == one_by_one[0]
    assert any(owner for owner in one_by_one[0].values())  # the case is not empty


def test_a_batch_of_crossings_moves_notifies_and_announces_each_lead_once(trio, template):
    org = trio.alpha
    seen = []

    def receiver(sender, *, lead, from_stage, to_stage, **kwargs):
        seen.append((lead.pk, from_stage, to_stage, lead.stage))

    leads_signals.stage_changed.connect(receiver, dispatch_uid="test_effects")
    try:
        with tenant_context(org.pk):
            leads = [
                Lead.objects.create(organization=org, email=f"c{n}@x.fr", stage=stage)
                for n, stage in enumerate(
                    [Stage.LEAD, Stage.SUBSCRIBER, Stage.RECYCLED, Stage.SAL, Stage.LEAD]
                )
            ]
            changes = [
                Change(
                    lead_id=lead.pk,
                    old_score=10,
                    old_grade="D",
                    old_hot=False,
                    score=80,
                    fit=0,
                    grade="D",
                    hot=n == 0,
                    hot_since=NOW if n == 0 else None,
                    stage=lead.stage,
                )
                for n, lead in enumerate(leads)
            ]
            # The last lead was moved by someone else since it was scored.
            Lead.objects.for_org(org).filter(pk=leads[4].pk).update(stage=Stage.SQL)
            outcome = effects.apply_effects(
                organization=org, model=template, changes=changes, now=NOW
            )
            again = effects.apply_effects(
                organization=org, model=template, changes=changes[:1], now=NOW
            )
            transitions = list(
                LifecycleTransition.objects.for_org(org)
                .filter(to_stage=Stage.MQL)
                .order_by("lead_id")
                .values_list("lead_id", "from_stage", "by", "reason")
            )
            mql = list(
                Notification.objects.for_org(org)
                .filter(kind="lead.mql")
                .values_list("recipient_id", flat=True)
            )
            hot = Notification.objects.for_org(org).filter(kind="lead.hot").count()
            stages = dict(Lead.objects.for_org(org).values_list("pk", "stage"))
    finally:
        leads_signals.stage_changed.disconnect(dispatch_uid="test_effects")
    moved = [lead.pk for lead in leads[:3]]
    assert outcome.mqls == moved and outcome.hot == [leads[0].pk]
    assert [stages[pk] for pk in moved] == [Stage.MQL] * 3
    assert (stages[leads[3].pk], stages[leads[4].pk]) == (Stage.SAL, Stage.SQL)
    assert transitions == [
        (leads[0].pk, "lead", None, "score 80 ≥ 60 (model v1)"),
        (leads[1].pk, "subscriber", None, "score 80 ≥ 60 (model v1)"),
        (leads[2].pk, "recycled", None, "score 80 ≥ 60 (model v1)"),
    ]
    assert seen == [
        (leads[0].pk, "lead", "mql", "mql"),
        (leads[1].pk, "subscriber", "mql", "mql"),
        (leads[2].pk, "recycled", "mql", "mql"),
    ]
    assert mql == [trio.bob.pk] * 3  # round-robin: bob is alpha's only sales rep
    assert hot == 1
    # Applied again: already MQL, same hot streak — nothing new.
    assert again.mqls == [] and again.hot == [leads[0].pk]
