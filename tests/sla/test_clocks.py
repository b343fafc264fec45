"""Clocks: started by their triggers, stopped by the first touch, moved by the scan —
each transition notified exactly once, even with two scanners at the same time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections

from leads import services as lead_services
from leads.ingest import ingest_events
from leads.models import Lead
from scoring import signals as scoring_signals
from sla import services
from sla.models import Clock, Trigger
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import system_context, tenant_context

from .conftest import FRIDAY_1730, paris

pytestmark = pytest.mark.django_db


def _clocks(org, **filters):
    with tenant_context(org.pk):
        return list(
            Clock.objects.for_org(org).filter(**filters).select_related("commitment").order_by("pk")
        )


def _notes(org, kind=None):
    with tenant_context(org.pk):
        qs = Notification.objects.for_org(org).filter(
            kind__in=[kind] if kind else ["sla.warned", "sla.breached", "sla.escalated"]
        )
        return list(qs.values_list("kind", "recipient_id", "dedupe_key").order_by("pk"))


def _mql(lead, at):
    with time_machine.travel(at, tick=False), tenant_context(lead.organization_id):
        lead = Lead.objects.for_org(lead.organization_id).get(pk=lead.pk)
        assert lead_services.lead_mark_mql(lead=lead, reason="score 80")
    return lead


def _call(trio, lead, at, actor=None):
    with time_machine.travel(at, tick=False), tenant_context(lead.organization_id):
        lead = Lead.objects.for_org(lead.organization_id).get(pk=lead.pk)
        lead_services.activity_log(actor=actor or trio.bob_membership, lead=lead, kind="call")


# --- starting -----------------------------------------------------------------------


def test_becoming_mql_starts_a_business_hours_clock(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    (clock,) = _clocks(trio.alpha)
    assert clock.commitment.trigger == Trigger.BECAME_MQL and clock.started_by == "mql"
    assert clock.status == Clock.Status.RUNNING and clock.owner_id == trio.bob.pk
    assert clock.started_at == FRIDAY_1730
    # 4 business hours: 30 min on Friday, 3 h 30 on Monday; warning at 75 % (3 h).
    assert clock.due_at == paris(2026, 1, 12, 12, 30)
    assert clock.warn_at == paris(2026, 1, 12, 11, 30)
    assert clock.escalate_at == paris(2026, 1, 12, 13, 30)  # + 60 business minutes


def test_a_demo_request_starts_its_clock_from_the_event_time(trio, signed, make_lead):
    lead = make_lead(stage="lead")
    with tenant_context(trio.alpha.pk):
        result = ingest_events(
            organization=trio.alpha,
            events=[
                {
                    "id": "d1",
                    "type": "demo_request",
                    "occurred_at": FRIDAY_1730.isoformat(),
                    "email": lead.email,
                },
                {
                    "id": "d2",
                    "type": "demo_request",
                    "occurred_at": (FRIDAY_1730 + timedelta(minutes=5)).isoformat(),
                    "email": lead.email,
                },
                {
                    "id": "p1",
                    "type": "page_view",
                    "occurred_at": FRIDAY_1730.isoformat(),
                    "email": "other@prospect.test",
                },
            ],
            source="api",
            now=FRIDAY_1730 + timedelta(minutes=10),
        )
    assert result.accepted == 3
    (clock,) = _clocks(trio.alpha)
    assert clock.commitment.event_type == "demo_request"
    assert clock.started_at == FRIDAY_1730 and clock.started_by == "event:demo_request"
    assert clock.due_at == paris(2026, 1, 12, 10, 30)  # the example


def test_old_events_start_no_clock(trio, signed, make_lead):
    lead = make_lead(stage="lead")
    with tenant_context(trio.alpha.pk):
        started = services.start_event_clocks(
            trio.alpha,
            [(lead.pk, "demo_request", FRIDAY_1730 - timedelta(days=30))],
            now=FRIDAY_1730,
        )
    assert started == []
    with tenant_context(trio.alpha.pk):
        old = services.start_clocks(
            trio.alpha, lead, Trigger.BECAME_HOT, FRIDAY_1730 - timedelta(days=2), now=FRIDAY_1730
        )
    assert old == []  # a re-score finding leads "hot since" last week raises no alarm


def test_becoming_hot_starts_a_clock(trio, signed, make_lead):
    lead = make_lead(stage="mql", owner=trio.bob)
    with time_machine.travel(FRIDAY_1730, tick=False), tenant_context(trio.alpha.pk):
        scoring_signals.lead_became_hot.send(
            sender=Lead, organization=trio.alpha, lead=lead, at=FRIDAY_1730
        )
    (clock,) = _clocks(trio.alpha)
    assert clock.commitment.trigger == Trigger.BECAME_HOT
    assert clock.due_at == paris(2026, 1, 12, 9, 30)


def test_one_running_clock_per_lead_and_commitment(trio, signed, make_lead):
    lead = make_lead(stage="mql")
    with tenant_context(trio.alpha.pk):
        first = services.start_clocks(
            trio.alpha, lead, Trigger.BECAME_HOT, FRIDAY_1730, "hot", now=FRIDAY_1730
        )
        again = services.start_clocks(
            trio.alpha,
            lead,
            Trigger.BECAME_HOT,
            FRIDAY_1730 + timedelta(minutes=1),
            "hot",
            now=FRIDAY_1730 + timedelta(minutes=1),
        )
    assert len(first) == 1 and again == []
    assert len(_clocks(trio.alpha)) == 1


def test_no_contract_no_clock(trio, make_lead):
    lead = make_lead(stage="lead")
    _mql(lead, FRIDAY_1730)
    assert _clocks(trio.alpha) == []


def test_a_draft_starts_no_clock(trio, draft, make_lead):
    lead = make_lead(stage="lead")
    _mql(lead, FRIDAY_1730)
    assert _clocks(trio.alpha) == []


# --- stopping -----------------------------------------------------------------------


def test_a_touch_before_the_due_time_meets_the_clock(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    _call(trio, lead, paris(2026, 1, 12, 9, 45))
    (clock,) = _clocks(trio.alpha)
    assert clock.status == Clock.Status.MET
    assert clock.touched_at == paris(2026, 1, 12, 9, 45) and clock.touch_kind == "call"
    # A second touch changes nothing.
    _call(trio, lead, paris(2026, 1, 12, 10))
    assert _clocks(trio.alpha)[0].touched_at == paris(2026, 1, 12, 9, 45)


def test_a_note_is_not_a_touch(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    with tenant_context(trio.alpha.pk):
        lead = Lead.objects.for_org(trio.alpha).get(pk=lead.pk)
        lead_services.activity_log(actor=trio.bob_membership, lead=lead, kind="note")
    assert _clocks(trio.alpha)[0].status == Clock.Status.RUNNING


def test_a_touch_after_the_breach_keeps_it_breached_with_the_touch_time(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    services.scan(paris(2026, 1, 12, 12, 31))
    assert _clocks(trio.alpha)[0].status == Clock.Status.BREACHED
    _call(trio, lead, paris(2026, 1, 12, 13, 5))
    (clock,) = _clocks(trio.alpha)
    assert clock.status == Clock.Status.BREACHED
    assert clock.breached_at == paris(2026, 1, 12, 12, 31)
    assert clock.touched_at == paris(2026, 1, 12, 13, 5) and clock.touch_kind == "call"
    # Touched before the escalation time: the managers are not bothered any more.
    services.scan(paris(2026, 1, 12, 15))
    assert _notes(trio.alpha, "sla.escalated") == []


def test_a_late_touch_before_the_scan_came_is_a_breach(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    _call(trio, lead, paris(2026, 1, 12, 14))
    (clock,) = _clocks(trio.alpha)
    assert clock.status == Clock.Status.BREACHED and clock.touched_at == paris(2026, 1, 12, 14)
    services.scan(paris(2026, 1, 12, 16))
    assert _notes(trio.alpha) == []  # handled: no breach alert, no escalation


def test_a_decision_is_a_touch(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    with time_machine.travel(paris(2026, 1, 12, 9, 5), tick=False), tenant_context(trio.alpha.pk):
        lead = Lead.objects.for_org(trio.alpha).get(pk=lead.pk)
        lead_services.lead_accept(actor=trio.bob_membership, lead=lead)
    (clock,) = _clocks(trio.alpha)
    assert clock.status == Clock.Status.MET and clock.touch_kind == "accept"


def test_a_touch_before_the_start_does_not_stop_a_later_clock(trio, signed, make_lead):
    lead = make_lead(stage="mql", owner=trio.bob)
    with tenant_context(trio.alpha.pk):
        services.start_clocks(
            trio.alpha, lead, Trigger.BECAME_HOT, FRIDAY_1730, "hot", now=FRIDAY_1730
        )
        services.stop_clocks_on_touch(trio.alpha, lead, FRIDAY_1730 - timedelta(minutes=1), "call")
    assert _clocks(trio.alpha)[0].status == Clock.Status.RUNNING


# --- the scan -----------------------------------------------------------------------


def test_warn_breach_escalate_each_once(trio, heads, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    (clock,) = _clocks(trio.alpha)
    assert services.scan(paris(2026, 1, 12, 11, 29)).total == 0

    result = services.scan(paris(2026, 1, 12, 11, 30))
    assert result.warned == [clock.pk] and not result.breached
    assert services.scan(paris(2026, 1, 12, 11, 40)).total == 0
    assert _notes(trio.alpha) == [("sla.warned", trio.bob.pk, f"sla.warned:{clock.pk}")]

    result = services.scan(paris(2026, 1, 12, 12, 30))
    assert result.breached == [clock.pk] and not result.escalated
    assert services.scan(paris(2026, 1, 12, 12, 45)).total == 0

    result = services.scan(paris(2026, 1, 12, 13, 30))
    assert result.escalated == [clock.pk]
    assert services.scan(paris(2026, 1, 12, 18)).total == 0

    assert _notes(trio.alpha) == [
        ("sla.warned", trio.bob.pk, f"sla.warned:{clock.pk}"),
        ("sla.breached", trio.bob.pk, f"sla.breached:{clock.pk}"),
        ("sla.escalated", heads.sam.pk, f"sla.escalated:{clock.pk}"),
    ]
    (clock,) = _clocks(trio.alpha)
    assert clock.status == Clock.Status.BREACHED
    assert clock.warned_at == paris(2026, 1, 12, 11, 30)
    assert clock.breached_at == paris(2026, 1, 12, 12, 30)
    assert clock.escalated_at == paris(2026, 1, 12, 13, 30)


def test_a_clock_found_late_is_breached_without_a_warning(trio, signed, make_lead):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    result = services.scan(paris(2026, 1, 12, 12, 35))
    assert len(result.breached) == 1 and not result.warned
    assert [k for k, _r, _d in _notes(trio.alpha)] == ["sla.breached"]


def test_the_owner_is_the_leads_owner_at_notification_time(trio, heads, signed, make_lead):
    """Routing runs right after the MQL transition: the clock starts unowned."""
    lead = make_lead(stage="lead")
    _mql(lead, FRIDAY_1730)
    assert _clocks(trio.alpha)[0].owner_id is None
    with tenant_context(trio.alpha.pk):
        Lead.objects.for_org(trio.alpha).filter(pk=lead.pk).update(owner=trio.bob)
    services.scan(paris(2026, 1, 12, 11, 30))
    assert _clocks(trio.alpha)[0].owner_id == trio.bob.pk
    assert [(k, r) for k, r, _d in _notes(trio.alpha)] == [("sla.warned", trio.bob.pk)]


def test_an_unowned_lead_warns_the_sales_managers(trio, heads, signed, make_lead):
    lead = make_lead(stage="lead")
    _mql(lead, FRIDAY_1730)
    services.scan(paris(2026, 1, 12, 11, 30))
    assert [(k, r) for k, r, _d in _notes(trio.alpha)] == [("sla.warned", heads.sam.pk)]


def test_the_scan_sees_every_organization_and_notifies_in_each(trio, heads, signed, make_lead):
    from .conftest import make_draft

    charlie_draft = make_draft(trio.charlie_org, trio.charlie_membership)
    with system_context("test: activate charlie's draft directly"):
        type(charlie_draft).unscoped.filter(pk=charlie_draft.pk).update(status="active")
    mine = make_lead(stage="mql", owner=trio.bob)
    theirs = make_lead(trio.charlie_org, stage="mql", owner=trio.charlie)
    for org, lead in ((trio.alpha, mine), (trio.charlie_org, theirs)):
        with tenant_context(org.pk):
            services.start_clocks(
                org, lead, Trigger.BECAME_HOT, FRIDAY_1730, "hot", now=FRIDAY_1730
            )
    result = services.scan(paris(2026, 1, 12, 9, 30))
    assert len(result.breached) == 2
    assert [r for _k, r, _d in _notes(trio.alpha)] == [trio.bob.pk]
    assert [r for _k, r, _d in _notes(trio.charlie_org)] == [trio.charlie.pk]


def _many_clocks(org, lead_ids, commitment, due):
    with tenant_context(org.pk):
        Clock.objects.bulk_create(
            [
                Clock(
                    organization=org,
                    lead_id=lead_id,
                    commitment=commitment,
                    owner=None,
                    started_at=due - timedelta(hours=2),
                    warn_at=due - timedelta(minutes=30),
                    due_at=due,
                    escalate_at=due + timedelta(minutes=10),
                )
                for lead_id in lead_ids
            ]
        )


@pytest.mark.django_db(transaction=True)
def test_two_scanners_at_once_notify_each_transition_once(trio, heads, signed):
    with tenant_context(trio.alpha.pk):
        leads = Lead.objects.bulk_create(
            [
                Lead(organization=trio.alpha, email=f"p{i}@prospect.test", owner=trio.bob)
                for i in range(60)
            ]
        )
        commitment = signed.sales_commitments.first()
    due = paris(2026, 1, 12, 12)
    _many_clocks(trio.alpha, [lead.pk for lead in leads], commitment, due)

    def race(now):
        barrier = threading.Barrier(2)
        results, errors = [None, None], []

        def run(i):
            try:
                barrier.wait()
                results[i] = services.scan(now, batch=8)
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        return results

    ids = {clock.pk for clock in _clocks(trio.alpha)}
    for now, attr in (
        (due - timedelta(minutes=20), "warned"),
        (due, "breached"),
        (due + timedelta(minutes=10), "escalated"),
    ):
        a, b = race(now)
        mine, theirs = set(getattr(a, attr)), set(getattr(b, attr))
        assert not (mine & theirs), f"{attr}: a clock moved by both scanners"
        assert mine | theirs == ids
    for kind in ("sla.warned", "sla.breached", "sla.escalated"):
        notes = _notes(trio.alpha, kind)
        assert len(notes) == len(ids) == len({d for _k, _r, d in notes})


def test_alerts_that_cannot_be_written_leave_the_clock_for_the_next_tick(
    trio, heads, signed, make_lead, monkeypatch
):
    lead = make_lead(stage="lead", owner=trio.bob)
    _mql(lead, FRIDAY_1730)
    (clock,) = _clocks(trio.alpha)

    def broken(**kwargs):
        raise RuntimeError("notifications table unavailable")

    monkeypatch.setattr(services, "notify_many", broken)
    with pytest.raises(RuntimeError):
        services.scan(paris(2026, 1, 12, 11, 30))
    # Nothing moved: the claim was rolled back with the alert it could not write.
    (still,) = _clocks(trio.alpha)
    assert still.status == Clock.Status.RUNNING and still.warned_at is None
    assert _notes(trio.alpha) == []

    monkeypatch.undo()
    assert services.scan(paris(2026, 1, 12, 11, 31)).warned == [clock.pk]
    assert _notes(trio.alpha) == [("sla.warned", trio.bob.pk, f"sla.warned:{clock.pk}")]
