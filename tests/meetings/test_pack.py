"""The pack: last week's KPIs from the one KPI layer, frozen as data."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from leads import services as lead_services
from leads.models import Lead
from meetings import services
from meetings.models import Meeting
from tests.meetings.conftest import IN_REVIEWED_WEEK, MONDAY_9, PARIS, WEEK

pytestmark = pytest.mark.django_db


def _leads(org, n, at, prefix="lead"):
    for i in range(n):
        Lead.objects.for_org(org).create(email=f"{prefix}{i}@client.test", created_at=at)


def test_the_pack_reviews_last_week_against_the_week_before(trio, as_org, make_meeting):
    with as_org(trio.alpha):
        _leads(trio.alpha, 3, IN_REVIEWED_WEEK)
        _leads(trio.alpha, 1, datetime(2026, 11, 18, 10, tzinfo=PARIS), prefix="before")
    meeting = make_meeting()
    pack = meeting.snapshot
    assert pack["reviewed"] == {"first_day": "2026-11-23", "last_day": "2026-11-29"}
    assert pack["current"]["new_leads"] == 3
    assert pack["previous"]["new_leads"] == 1
    assert pack["deltas"]["new_leads"]["change"] == 2
    assert pack["week_start"] == WEEK.isoformat()


def test_the_snapshot_never_changes_after_the_data_does(trio, as_org, make_meeting, client_for):
    with as_org(trio.alpha):
        _leads(trio.alpha, 2, IN_REVIEWED_WEEK)
    meeting = make_meeting()
    frozen = meeting.snapshot
    with as_org(trio.alpha):
        _leads(trio.alpha, 5, IN_REVIEWED_WEEK, prefix="late")  # entered after the pack
        services.meeting_open(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
        with pytest.raises(services.MeetingError) as refused:
            services.meeting_refresh_pack(actor=trio.alice_membership, meeting=meeting)
        services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
        stored = Meeting.objects.for_org(trio.alpha).get(pk=meeting.pk)
    assert refused.value.status == 409
    assert stored.snapshot == frozen
    assert stored.snapshot["current"]["new_leads"] == 2
    page = client_for(trio.alice).get(f"/o/alpha/meetings/{meeting.pk}/")
    row = page.content.decode().split('data-kpi="new_leads"')[1].split("</tr>")[0]
    assert "<strong>2</strong>" in row


def test_a_scheduled_pack_can_be_generated_again(trio, as_org, make_meeting):
    meeting = make_meeting()
    with as_org(trio.alpha):
        _leads(trio.alpha, 4, IN_REVIEWED_WEEK)
        services.meeting_refresh_pack(
            actor=trio.alice_membership, meeting=meeting, now=MONDAY_9.replace(hour=10)
        )
    assert meeting.snapshot["current"]["new_leads"] == 4


def test_rejected_leads_and_their_reasons(trio, as_org, make_meeting):
    with time_machine.travel(IN_REVIEWED_WEEK, tick=False), as_org(trio.alpha):
        lead = Lead.objects.for_org(trio.alpha).create(
            email="nope@student.test", first_name="Léo", last_name="Étudiant"
        )
        lead_services.lead_mark_mql(lead=lead, reason="score")
        lead.refresh_from_db()
        lead_services.lead_reject(
            actor=trio.bob_membership, lead=lead, reason="student", comment="A thesis"
        )
    pack = make_meeting().snapshot
    (rejected,) = pack["rejected_leads"]
    assert rejected["lead"] == "Léo Étudiant"
    assert rejected["reason"] == "student" and rejected["comment"] == "A thesis"
    assert [r[0] for r in pack["current"]["rejection_reasons"]] == ["student"]


def test_previous_action_items_are_in_the_pack(trio, as_org, make_meeting):
    first = make_meeting(WEEK)
    with as_org(trio.alpha):
        done = services.action_item_add(actor=trio.alice_membership, meeting=first, title="Done")
        services.action_item_add(actor=trio.alice_membership, meeting=first, title="Open")
        services.action_item_update(actor=trio.alice_membership, item=done, data={"done": True})
    second = make_meeting(WEEK.replace(day=7, month=12))
    items = {item["title"]: item["done"] for item in second.snapshot["action_items"]}
    assert items == {"Done": True, "Open": False}
    assert second.snapshot["previous_meeting"]["id"] == first.pk


def test_a_week_starts_on_a_monday(trio, as_org):
    with as_org(trio.alpha), pytest.raises(services.MeetingError):
        services.meeting_for_week(organization=trio.alpha, week_start=WEEK.replace(day=1))


def test_sla_breaches_and_pacing_are_in_the_pack(trio, as_org, make_meeting):
    from datetime import timedelta

    from sla.models import Clock, Contract, ContractVersion, MarketingCommitment, SalesCommitment

    due = IN_REVIEWED_WEEK
    with as_org(trio.alpha):
        contract = Contract.objects.for_org(trio.alpha).create(name="SLA")
        version = ContractVersion.objects.for_org(trio.alpha).create(
            contract=contract,
            number=1,
            status="active",
            marketing_signed_at=due - timedelta(days=30),
            sales_signed_at=due - timedelta(days=30),
            activated_at=due - timedelta(days=30),
        )
        sales = SalesCommitment.objects.for_org(trio.alpha).create(
            version=version,
            label="Demo requests in 2 hours",
            trigger="became_mql",
            response_minutes=120,
        )
        MarketingCommitment.objects.for_org(trio.alpha).create(
            version=version, metric="mql", target=40, period="month"
        )
        lead = Lead.objects.for_org(trio.alpha).create(
            email="late@client.test", first_name="Ana", owner=trio.bob
        )
        Clock.objects.for_org(trio.alpha).create(
            lead=lead,
            commitment=sales,
            owner=trio.bob,
            status="breached",
            started_at=due - timedelta(hours=3),
            warn_at=due - timedelta(hours=1),
            due_at=due,
            breached_at=due,
        )
    pack = make_meeting().snapshot
    (breach,) = pack["breaches"]
    assert breach["lead"] == "Ana" and breach["owner"] == "Bob Durand"
    assert pack["current"]["sla"]["breached"] == 1
    (pacing,) = pack["pacing"]
    assert pacing["target"] == 40 and pacing["metric"] == "mql"
