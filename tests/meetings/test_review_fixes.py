"""The review's fixes (issue 7): a past pack stays frozen, pacing on the reviewed week,
the exported reviewed week, bad due dates, who may change what, the locked meeting row,
and the pack's labels in the reader's language."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from leads import services as lead_services
from leads.models import Lead
from meetings import selectors, services
from meetings.export import to_markdown
from meetings.models import ActionItem, Meeting, MeetingDecision
from smarketing.notifications.models import Notification
from smarketing.tenancy import permissions
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory
from tests.meetings.conftest import IN_REVIEWED_WEEK, MONDAY_9, PARIS, WEEK

pytestmark = pytest.mark.django_db

BASE = "/o/alpha/meetings/"
NEXT = date(2026, 12, 7)
NEXT_MONDAY_9 = datetime(2026, 12, 7, 9, tzinfo=PARIS)


# --- 1. a past week's pack is frozen, even if nobody started the meeting -----------------


def test_a_past_scheduled_meeting_cannot_be_regenerated(trio, as_org, make_meeting, client_for):
    meeting = make_meeting()  # beat-created, never started: still "scheduled"
    frozen = meeting.snapshot
    with as_org(trio.alpha):
        Lead.objects.for_org(trio.alpha).create(email="late@x.test", created_at=IN_REVIEWED_WEEK)
        with pytest.raises(services.MeetingError) as refused:
            services.meeting_refresh_pack(
                actor=trio.alice_membership, meeting=meeting, now=NEXT_MONDAY_9
            )
        stored = Meeting.objects.for_org(trio.alpha).get(pk=meeting.pk)
    assert refused.value.status == 409
    assert stored.snapshot == frozen
    client = client_for(trio.alice)
    with time_machine.travel(NEXT_MONDAY_9, tick=False):
        page = client.get(f"{BASE}{meeting.pk}/").content.decode()
        posted = client.post(f"{BASE}{meeting.pk}/refresh/")
    assert "data-refresh" not in page
    assert posted.status_code == 302
    with as_org(trio.alpha):
        assert Meeting.objects.for_org(trio.alpha).get(pk=meeting.pk).snapshot == frozen
    with time_machine.travel(MONDAY_9 + timedelta(hours=1), tick=False):
        assert "data-refresh" in client.get(f"{BASE}{meeting.pk}/").content.decode()


# --- 2. pacing of the reviewed week ------------------------------------------------------


def _active_sla(org, at):
    from sla.models import Contract, ContractVersion, MarketingCommitment, SalesCommitment

    contract = Contract.objects.for_org(org).create(name="SLA")
    version = ContractVersion.objects.for_org(org).create(
        contract=contract,
        number=1,
        status="active",
        marketing_signed_at=at - timedelta(days=30),
        sales_signed_at=at - timedelta(days=30),
        activated_at=at - timedelta(days=30),
    )
    MarketingCommitment.objects.for_org(org).create(
        version=version, metric="mql", target=10, period="week"
    )
    return SalesCommitment.objects.for_org(org).create(
        version=version, trigger="became_mql", response_minutes=120
    )


def test_pacing_is_measured_on_the_reviewed_week(trio, as_org, make_meeting):
    with as_org(trio.alpha):
        _active_sla(trio.alpha, IN_REVIEWED_WEEK)
        for i in range(3):
            lead = Lead.objects.for_org(trio.alpha).create(email=f"m{i}@x.test")
            lead_services.lead_mark_mql(lead=lead, reason="score", at=IN_REVIEWED_WEEK)
    (pacing,) = make_meeting().snapshot["pacing"]
    # the week of 23–29 November, complete: 3 of 10 (not the week that just began: 0)
    assert pacing["period_start"].startswith("2026-11-23")
    assert pacing["actual"] == 3 and pacing["expected"] == 10


# --- 3. the reviewed week in the export and the e-mail ---------------------------------


def test_export_and_summary_print_the_reviewed_week(trio, as_org, meeting):
    with translation.override("en"):
        markdown = to_markdown(meeting)
    line = next(row for row in markdown.splitlines() if row.startswith("Reviewed week"))
    assert "23" in line and "29" in line and ":  →" not in line
    with as_org(trio.alpha):
        services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
        body = Notification.objects.for_org(trio.alpha).first().body
    assert "2026" in body.split("\n")[2] and "→ \n" not in body


def test_an_old_pack_without_reviewed_dates_still_exports_them(trio, as_org, meeting):
    with as_org(trio.alpha):
        snapshot = {**meeting.snapshot}
        snapshot.pop("reviewed")
        Meeting.objects.for_org(trio.alpha).filter(pk=meeting.pk).update(snapshot=snapshot)
        meeting.refresh_from_db()
    with translation.override("en"):
        line = next(r for r in to_markdown(meeting).splitlines() if r.startswith("Reviewed"))
    assert "23" in line and "29" in line


# --- 4. a due date that is not a day of the calendar ----------------------------------


def test_an_impossible_due_date_is_a_form_error(trio, as_org, client_for, meeting):
    client = client_for(trio.alice)
    response = client.post(
        f"{BASE}{meeting.pk}/items/",
        {"title": "x", "due_on": "2026-02-30"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    plain = client.post(f"{BASE}{meeting.pk}/items/", {"title": "x", "due_on": "2026-02-30"})
    assert plain.status_code == 302
    with as_org(trio.alpha):
        assert not ActionItem.objects.for_org(trio.alpha).exists()


# --- 5. who may change what ---------------------------------------------------------------


@pytest.fixture
def rep2(trio):
    user = UserFactory(email="rep2@alpha.test")
    return MembershipFactory(organization=trio.alpha, user=user, role=Role.SALES_REP)


def test_items_are_renamed_only_by_owner_creator_or_manager(trio, as_org, meeting, rep2):
    with as_org(trio.alpha):
        item = services.action_item_add(
            actor=trio.alice_membership, meeting=meeting, title="Deck", owner_id=trio.bob.pk
        )
        for data in ({"title": "Mine"}, {"owner": rep2.user_id}, {"due_on": date(2026, 12, 9)}):
            with pytest.raises(permissions.PermissionDenied):
                services.action_item_update(actor=rep2, item=item, data=data)
        # anyone contributing may tick it
        services.action_item_update(actor=rep2, item=item, data={"done": True})
        services.action_item_update(actor=trio.bob_membership, item=item, data={"title": "Bob"})
        services.action_item_update(actor=trio.alice_membership, item=item, data={"owner": None})
        mine = services.action_item_add(actor=rep2, meeting=meeting, title="Rep's")
        services.action_item_update(actor=rep2, item=mine, data={"title": "Rep's own"})
        item.refresh_from_db()
    assert (item.title, item.owner_id, item.done) == ("Bob", None, True)


def test_api_rename_of_someone_elses_item_is_403(trio, as_org, meeting, rep2):
    from rest_framework.test import APIClient

    with as_org(trio.alpha):
        item = services.action_item_add(actor=trio.alice_membership, meeting=meeting, title="A")
    client = APIClient()
    client.force_login(rep2.user)
    refused = client.patch(f"/api/v1/action-items/{item.pk}", {"title": "B"}, format="json")
    assert refused.status_code == 403, refused.content
    ticked = client.patch(f"/api/v1/action-items/{item.pk}", {"done": True}, format="json")
    assert ticked.status_code == 200, ticked.content


def test_decisions_are_deleted_by_their_author_or_a_manager(trio, as_org, client_for, meeting):
    with as_org(trio.alpha):
        alices = services.decision_add(actor=trio.alice_membership, meeting=meeting, text="A")
        bobs = services.decision_add(actor=trio.bob_membership, meeting=meeting, text="B")
        bobs_too = services.decision_add(actor=trio.bob_membership, meeting=meeting, text="C")
    bob = client_for(trio.bob)
    page = bob.get(f"{BASE}{meeting.pk}/").content.decode()
    assert f"decisions/{alices.pk}/delete/" not in page
    assert f"decisions/{bobs.pk}/delete/" in page
    assert bob.post(f"{BASE}{meeting.pk}/decisions/{alices.pk}/delete/").status_code == 403
    assert bob.post(f"{BASE}{meeting.pk}/decisions/{bobs.pk}/delete/").status_code == 302
    alice = client_for(trio.alice)
    assert alice.post(f"{BASE}{meeting.pk}/decisions/{bobs_too.pk}/delete/").status_code == 302
    with as_org(trio.alpha):
        assert list(MeetingDecision.objects.for_org(trio.alpha).values_list("text", flat=True)) == [
            "A"
        ]


def test_an_item_is_ticked_only_through_a_meeting_it_is_on(trio, as_org, client_for, make_meeting):
    first = make_meeting(WEEK)
    second = make_meeting(NEXT)
    with as_org(trio.alpha):
        later = services.action_item_add(actor=trio.alice_membership, meeting=second, title="L")
    client = client_for(trio.alice)
    # an item of a later meeting is not on the first one
    assert (
        client.post(f"{BASE}{first.pk}/items/{later.pk}/toggle/", {"done": "1"}).status_code == 404
    )
    with as_org(trio.alpha):
        with pytest.raises(services.NotFoundError):
            services.action_item_update(
                actor=trio.alice_membership, item=later, meeting=first, data={"done": True}
            )
        later.refresh_from_db()
    assert not later.done


def test_nothing_changes_on_a_closed_meeting_but_carried_items_are_ticked_in_the_next(
    trio, as_org, client_for, make_meeting
):
    first = make_meeting(WEEK)
    with as_org(trio.alpha):
        item = services.action_item_add(actor=trio.alice_membership, meeting=first, title="Open")
        decision = services.decision_add(actor=trio.alice_membership, meeting=first, text="D")
        services.meeting_close(actor=trio.alice_membership, meeting=first, now=MONDAY_9)
    second = make_meeting(NEXT)
    client = client_for(trio.alice)
    # through the closed meeting: nothing (the page offers no tick, the post is refused)
    closed_page = client.get(f"{BASE}{first.pk}/").content.decode()
    assert f'data-item="{item.pk}"' in closed_page
    assert f"items/{item.pk}/toggle/" not in closed_page
    assert f"items/{item.pk}/toggle/" in client.get(f"{BASE}{second.pk}/").content.decode()
    refused = client.post(
        f"{BASE}{first.pk}/items/{item.pk}/toggle/", {"done": "1"}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422
    assert client.post(f"{BASE}{first.pk}/decisions/{decision.pk}/delete/").status_code == 302
    with as_org(trio.alpha):
        assert MeetingDecision.objects.for_org(trio.alpha).filter(pk=decision.pk).exists()
        with pytest.raises(services.MeetingError):
            services.action_item_update(
                actor=trio.alice_membership, item=item, meeting=second, data={"title": "New"}
            )
        with pytest.raises(services.MeetingError):
            services.action_item_update(
                actor=trio.alice_membership, item=item, data={"title": "New"}
            )
    # through the next meeting: ticked
    with time_machine.travel(NEXT_MONDAY_9 + timedelta(minutes=10), tick=False):
        ticked = client.post(
            f"{BASE}{second.pk}/items/{item.pk}/toggle/", {"done": "1"}, HTTP_HX_REQUEST="true"
        )
    assert ticked.status_code == 200 and 'aria-pressed="true"' in ticked.content.decode()
    with as_org(trio.alpha):
        services.meeting_close(actor=trio.alice_membership, meeting=second, now=NEXT_MONDAY_9)
        with pytest.raises(services.MeetingError):  # both closed now
            services.action_item_update(
                actor=trio.alice_membership, item=item, data={"done": False}
            )


# --- 6. the meeting row is locked by the writes ----------------------------------------


def test_a_write_checks_the_meeting_as_it_is_now_not_a_stale_copy(trio, as_org, meeting):
    with as_org(trio.alpha):
        stale = Meeting.objects.for_org(trio.alpha).get(pk=meeting.pk)
        stale.organization = trio.alpha
        services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
        assert stale.status == Meeting.Status.SCHEDULED  # loaded before the close
        for call in (
            lambda: services.decision_add(actor=trio.alice_membership, meeting=stale, text="x"),
            lambda: services.action_item_add(actor=trio.alice_membership, meeting=stale, title="x"),
            lambda: services.meeting_update(actor=trio.alice_membership, meeting=stale, notes="x"),
            lambda: services.attendees_set(
                actor=trio.alice_membership, meeting=stale, user_ids=[trio.alice.pk]
            ),
            lambda: services.meeting_open(actor=trio.alice_membership, meeting=stale),
        ):
            with pytest.raises(services.MeetingError):
                call()
        assert not MeetingDecision.objects.for_org(trio.alpha).exists()


def test_the_writes_lock_the_meeting_row(trio, as_org, meeting):
    with as_org(trio.alpha), CaptureQueriesContext(connection) as queries:
        services.decision_add(actor=trio.alice_membership, meeting=meeting, text="x")
    locks = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    assert locks and '"meetings_meeting"' in locks[0]


# --- 7. the frozen pack in the reader's language ----------------------------------------


def _reject_and_breach(org, bob_membership, bob):
    from sla.models import Clock

    with time_machine.travel(IN_REVIEWED_WEEK, tick=False):
        sales = _active_sla(org, IN_REVIEWED_WEEK)
        lead = Lead.objects.for_org(org).create(email="s@student.test", first_name="Léo")
        lead_services.lead_mark_mql(lead=lead, reason="score")
        lead.refresh_from_db()
        lead_services.lead_reject(actor=bob_membership, lead=lead, reason="student")
    Clock.objects.for_org(org).create(
        lead=lead,
        commitment=sales,
        owner=bob,
        status="breached",
        started_at=IN_REVIEWED_WEEK - timedelta(hours=3),
        warn_at=IN_REVIEWED_WEEK - timedelta(hours=1),
        due_at=IN_REVIEWED_WEEK,
        breached_at=IN_REVIEWED_WEEK,
    )


def test_the_pack_stores_codes_and_is_shown_in_the_readers_language(
    trio, as_org, make_meeting, client_for
):
    with as_org(trio.alpha):
        _reject_and_breach(trio.alpha, trio.bob_membership, trio.bob)
    with translation.override("fr"):  # the beat ran in French
        meeting = make_meeting()
    pack = meeting.snapshot
    (breach,) = pack["breaches"]
    assert "commitment" not in breach and breach["commitment_trigger"] == "became_mql"
    (rejected,) = pack["rejected_leads"]
    assert rejected["reason"] == "student" and "reason_label" not in rejected
    assert "label" not in pack["pacing"][0]
    with translation.override("en"):
        assert selectors.breach_rows(pack)[0]["commitment_text"] == (
            "the lead becomes MQL → 120 min"
        )
        assert selectors.rejected_rows(pack)[0]["reason_text"] == "Student"
        assert selectors.rejection_reasons(pack)[0]["label"] == "Student"
        assert selectors.pacing_rows(pack)[0]["label"] == "10 MQLs per week"
        markdown = to_markdown(meeting)
    assert "the lead becomes MQL → 120 min" in markdown and "Student" in markdown
    with translation.override("fr"):
        french = selectors.rejected_rows(pack)[0]["reason_text"]
    assert french != "Student"
    page = client_for(trio.alice).get(f"{BASE}{meeting.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200


def test_an_old_pack_with_stored_labels_stays_readable(trio, as_org, meeting, client_for):
    old = {
        **meeting.snapshot,
        "version": 1,
        "breaches": [{"lead": "Ana", "lead_id": 1, "owner": "", "commitment": "Démo → 60 min"}],
        "rejected_leads": [
            {"lead": "Léo", "lead_id": 2, "reason": "gone", "reason_label": "Disparu"}
        ],
        "pacing": [
            {
                "label": "40 MQL par mois",
                "target": 40,
                "actual": 3,
                "expected": 5.0,
                "attainment": 0.075,
                "status": "behind",
            }
        ],
    }
    with as_org(trio.alpha):
        Meeting.objects.for_org(trio.alpha).filter(pk=meeting.pk).update(snapshot=old)
        meeting.refresh_from_db()
    assert selectors.breach_rows(old)[0]["commitment_text"] == "Démo → 60 min"
    assert selectors.rejected_rows(old)[0]["reason_text"] == "Disparu"
    assert selectors.pacing_rows(old)[0]["label"] == "40 MQL par mois"
    page = client_for(trio.alice).get(f"{BASE}{meeting.pk}/").content.decode()
    assert "Démo → 60 min" in page and "Disparu" in page and "40 MQL par mois" in page
    assert "Démo → 60 min" in to_markdown(meeting)
