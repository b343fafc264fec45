"""The lifecycle matrix of SPEC.md §1: every allowed move, every refused one."""

from __future__ import annotations

import pytest

from leads import services
from leads.models import Decision, Lead, LifecycleTransition, Stage
from smarketing.tenancy.permissions import PermissionDenied, Role

pytestmark = pytest.mark.django_db

ALL = list(Stage)


@pytest.fixture
def make_lead(trio, as_org):
    def make(stage=Stage.LEAD, email="lead@client.fr"):
        with as_org(trio.alpha):
            return Lead.objects.for_org(trio.alpha).create(email=email, stage=stage)

    return make


@pytest.fixture
def rep(trio):
    return trio.bob_membership  # sales rep


def stage_of(trio, as_org, lead):
    with as_org(trio.alpha):
        return Lead.objects.for_org(trio.alpha).get(pk=lead.pk).stage


@pytest.mark.parametrize("stage", ALL)
def test_automatic_mql(trio, as_org, make_lead, stage):
    lead = make_lead(stage)
    with as_org(trio.alpha):
        moved = services.lead_mark_mql(lead=lead, reason="score 72 ≥ 60")
    allowed = stage in (Stage.SUBSCRIBER, Stage.LEAD, Stage.RECYCLED)
    assert moved is allowed
    assert stage_of(trio, as_org, lead) == (Stage.MQL if allowed else stage)


@pytest.mark.parametrize("stage", ALL)
def test_accept(trio, as_org, make_lead, rep, stage):
    lead = make_lead(stage)
    with as_org(trio.alpha):
        if stage == Stage.MQL:
            services.lead_accept(actor=rep, lead=lead)
            fresh = Lead.objects.for_org(trio.alpha).get(pk=lead.pk)
            assert (fresh.stage, fresh.owner, fresh.first_touch_at is not None) == (
                Stage.SAL,
                trio.bob,
                True,
            )
            assert Decision.objects.for_org(trio.alpha).get().kind == "accept"
        else:
            with pytest.raises(services.LeadError) as error:
                services.lead_accept(actor=rep, lead=lead)
            assert error.value.status == 409
            assert stage_of(trio, as_org, lead) == stage


@pytest.mark.parametrize("stage", ALL)
def test_reject(trio, as_org, make_lead, rep, stage):
    lead = make_lead(stage)
    with as_org(trio.alpha):
        if stage == Stage.MQL:
            decision = services.lead_reject(
                actor=rep, lead=lead, reason="bad_timing", comment="Q3 budget"
            )
            assert decision.reason == "bad_timing"
            assert Lead.objects.for_org(trio.alpha).get(pk=lead.pk).stage == Stage.RECYCLED
        else:
            with pytest.raises(services.LeadError):
                services.lead_reject(actor=rep, lead=lead, reason="bad_timing")


def test_reject_reasons_decide_recycled_or_disqualified(trio, as_org, make_lead, rep):
    student = make_lead(Stage.MQL, "s@univ.fr")
    later = make_lead(Stage.MQL, "l@client.fr")
    with as_org(trio.alpha):
        services.lead_reject(actor=rep, lead=student, reason="student")
        services.lead_reject(actor=rep, lead=later, reason="no_budget", to_stage=Stage.DISQUALIFIED)
    assert stage_of(trio, as_org, student) == Stage.DISQUALIFIED
    assert stage_of(trio, as_org, later) == Stage.DISQUALIFIED


@pytest.mark.parametrize("reason", ["", "spam", None])
def test_reject_needs_a_known_reason(trio, as_org, make_lead, rep, reason):
    lead = make_lead(Stage.MQL)
    with as_org(trio.alpha), pytest.raises(services.LeadError) as error:
        services.lead_reject(actor=rep, lead=lead, reason=reason)
    assert "reason" in error.value.fields
    assert stage_of(trio, as_org, lead) == Stage.MQL


def test_a_recycled_lead_can_become_mql_again(trio, as_org, make_lead, rep):
    lead = make_lead(Stage.MQL)
    with as_org(trio.alpha):
        services.lead_reject(actor=rep, lead=lead, reason="bad_timing")
        assert services.lead_mark_mql(lead=lead, reason="back")
    assert stage_of(trio, as_org, lead) == Stage.MQL


@pytest.mark.parametrize("stage", ALL)
def test_qualify(trio, as_org, make_lead, rep, stage):
    lead = make_lead(stage)
    with as_org(trio.alpha):
        if stage == Stage.SAL:
            services.lead_qualify(
                actor=rep, lead=lead, budget="40 k€", need="CRM unique", authority="DG", timing="Q1"
            )
            assert Lead.objects.for_org(trio.alpha).get(pk=lead.pk).stage == Stage.SQL
        else:
            with pytest.raises(services.LeadError):
                services.lead_qualify(actor=rep, lead=lead, budget="x", need="y")


@pytest.mark.parametrize(("budget", "need"), [("", "y"), ("x", ""), ("  ", "  ")])
def test_qualify_needs_budget_and_need(trio, as_org, make_lead, rep, budget, need):
    lead = make_lead(Stage.SAL)
    with as_org(trio.alpha), pytest.raises(services.LeadError):
        services.lead_qualify(actor=rep, lead=lead, budget=budget, need=need)
    assert stage_of(trio, as_org, lead) == Stage.SAL


@pytest.mark.parametrize("stage", ALL)
def test_a_deal_moves_only_an_sql_to_opportunity_and_winning_makes_a_customer(
    trio, as_org, make_lead, rep, stage
):
    lead = make_lead(stage)
    with as_org(trio.alpha):
        deal = services.deal_create(
            actor=rep, organization=trio.alpha, name="Acme CRM", amount="12000.00", lead=lead
        )
        after_create = Lead.objects.for_org(trio.alpha).get(pk=lead.pk).stage
        services.deal_update(actor=rep, deal=deal, data={"status": "won"})
        after_win = Lead.objects.for_org(trio.alpha).get(pk=lead.pk).stage
    if stage == Stage.SQL or stage == Stage.OPPORTUNITY:
        assert (after_create, after_win) == (Stage.OPPORTUNITY, Stage.CUSTOMER)
    else:
        assert (after_create, after_win) == (stage, stage)


@pytest.mark.parametrize("to_stage", ALL)
def test_managers_move_any_lead_anywhere_with_a_reason(trio, as_org, make_lead, to_stage):
    lead = make_lead(Stage.SAL)
    manager = trio.alice_membership  # owner
    with as_org(trio.alpha):
        if to_stage == Stage.SAL:
            with pytest.raises(services.LeadError):
                services.lead_move(actor=manager, lead=lead, to_stage=to_stage, reason="x")
            return
        transition = services.lead_move(
            actor=manager, lead=lead, to_stage=to_stage, reason="cleanup after trade show"
        )
        assert (transition.from_stage, transition.to_stage, transition.by) == (
            Stage.SAL,
            to_stage,
            trio.alice,
        )


def test_a_move_needs_a_reason_and_a_manager(trio, as_org, make_lead, rep):
    lead = make_lead(Stage.SAL)
    with as_org(trio.alpha):
        with pytest.raises(services.LeadError):
            services.lead_move(actor=trio.alice_membership, lead=lead, to_stage="sql", reason=" ")
        with pytest.raises(PermissionDenied):
            services.lead_move(actor=rep, lead=lead, to_stage="sql", reason="because")


def test_viewers_and_marketers_cannot_decide(trio, as_org, make_lead):
    from smarketing.tenancy.services import membership_change_role

    lead = make_lead(Stage.MQL)
    with as_org(trio.alpha):
        for role in (Role.VIEWER, Role.MARKETER):
            membership_change_role(
                actor=trio.alice_membership, target=trio.bob_membership, role=role
            )
            with pytest.raises(PermissionDenied):
                services.lead_accept(actor=trio.bob_membership, lead=lead)


def test_every_move_is_recorded_with_who_and_why(trio, as_org, make_lead, rep):
    lead = make_lead(Stage.LEAD)
    with as_org(trio.alpha):
        services.lead_mark_mql(lead=lead, reason="score 65")
        services.lead_accept(actor=rep, lead=lead)
        services.lead_qualify(actor=rep, lead=lead, budget="b", need="n")
        rows = list(
            LifecycleTransition.objects.for_org(trio.alpha)
            .filter(lead=lead)
            .values_list("from_stage", "to_stage", "by")
        )
    assert rows == [("lead", "mql", None), ("mql", "sal", trio.bob.pk), ("sal", "sql", trio.bob.pk)]


def test_a_stale_copy_cannot_double_accept(trio, as_org, make_lead, rep):
    lead = make_lead(Stage.MQL)
    with as_org(trio.alpha):
        stale = Lead.objects.for_org(trio.alpha).get(pk=lead.pk)
        services.lead_accept(actor=rep, lead=lead)
        with pytest.raises(services.LeadError):
            services.lead_accept(actor=trio.alice_membership, lead=stale)
        assert Decision.objects.for_org(trio.alpha).count() == 1
