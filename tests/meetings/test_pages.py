"""Pages: every page and post answers charlie 404; roles; HTMX sections; exports."""

from __future__ import annotations

import pytest

from meetings import services
from meetings.models import ActionItem, MeetingDecision
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory
from tests.meetings.conftest import MONDAY_9

pytestmark = pytest.mark.django_db
BASE = "/o/alpha/meetings/"


def _item(trio, as_org, meeting, title="Follow up"):
    with as_org(trio.alpha):
        return services.action_item_add(actor=trio.alice_membership, meeting=meeting, title=title)


def _decision(trio, as_org, meeting):
    with as_org(trio.alpha):
        return services.decision_add(actor=trio.alice_membership, meeting=meeting, text="D")


def test_charlie_gets_404_on_every_page_and_post(trio, as_org, client_for, meeting):
    item, decision = _item(trio, as_org, meeting), _decision(trio, as_org, meeting)
    m = f"{BASE}{meeting.pk}/"
    gets = [
        BASE,
        f"{BASE}rollout/",
        f"{BASE}rollout/go/funnel_audit/",
        m,
        f"{m}export.md",
        f"{m}print/",
    ]
    posts = [
        f"{BASE}generate/",
        f"{BASE}rollout/mark/",
        f"{BASE}rollout/approve/",
        f"{m}open/",
        f"{m}close/",
        f"{m}refresh/",
        f"{m}notes/",
        f"{m}attendees/",
        f"{m}decisions/",
        f"{m}decisions/{decision.pk}/delete/",
        f"{m}items/",
        f"{m}items/{item.pk}/toggle/",
    ]
    client = client_for(trio.charlie)
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, {"text": "x", "title": "x", "done": "1"}).status_code == 404, url


def test_another_organizations_meeting_is_404_from_his_own(trio, client_for, meeting):
    client = client_for(trio.charlie)
    assert client.get(f"/o/charlie/meetings/{meeting.pk}/").status_code == 404
    assert client.get(f"/o/charlie/meetings/{meeting.pk}/export.md").status_code == 404
    assert client.post(f"/o/charlie/meetings/{meeting.pk}/close/").status_code == 404


def test_an_item_of_another_organization_cannot_be_ticked_from_ours(
    trio, as_org, client_for, meeting
):
    with as_org(trio.charlie_org):
        theirs, _ = services.meeting_for_week(
            organization=trio.charlie_org, week_start=meeting.week_start, now=MONDAY_9
        )
        item = services.action_item_add(actor=trio.charlie_membership, meeting=theirs, title="x")
    response = client_for(trio.alice).post(
        f"{BASE}{meeting.pk}/items/{item.pk}/toggle/", {"done": "1"}
    )
    assert response.status_code == 404


def test_pages_render(trio, as_org, client_for, meeting):
    _item(trio, as_org, meeting)
    client = client_for(trio.bob)
    for url in (BASE, f"{BASE}rollout/", f"{BASE}{meeting.pk}/", f"{BASE}{meeting.pk}/print/"):
        assert client.get(url).status_code == 200, url
    home = client_for(trio.alice).get("/o/alpha/")
    assert "data-rollout-progress" in home.content.decode()


def test_roles_on_pages(trio, as_org, client_for, meeting):
    viewer = UserFactory()
    MembershipFactory(organization=trio.alpha, user=viewer, role=Role.VIEWER)
    m = f"{BASE}{meeting.pk}/"
    bob = client_for(trio.bob)
    for url in (
        f"{BASE}generate/",
        f"{m}open/",
        f"{m}close/",
        f"{m}refresh/",
        f"{m}attendees/",
        f"{BASE}rollout/mark/",
    ):
        assert bob.post(url).status_code == 403, url
    assert bob.post(f"{m}decisions/", {"text": "Bob decides"}).status_code == 302
    watcher = client_for(viewer)
    assert watcher.get(m).status_code == 200
    assert watcher.post(f"{m}decisions/", {"text": "no"}).status_code == 403
    assert watcher.post(f"{m}items/", {"title": "no"}).status_code == 403


def test_htmx_sections(trio, as_org, client_for, meeting):
    client = client_for(trio.alice)
    m = f"{BASE}{meeting.pk}/"
    response = client.post(
        f"{m}decisions/", {"text": "Call within the hour"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="decisions"')
    assert "Call within the hour" in html
    refused = client.post(f"{m}items/", {"title": ""}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    added = client.post(
        f"{m}items/",
        {"title": "Send the deck", "owner": trio.bob.pk, "due_on": "2026-12-04"},
        HTTP_HX_REQUEST="true",
    )
    assert "Send the deck" in added.content.decode()
    with as_org(trio.alpha):
        item = ActionItem.objects.for_org(trio.alpha).get(title="Send the deck")
    ticked = client.post(f"{m}items/{item.pk}/toggle/", {"done": "1"}, HTTP_HX_REQUEST="true")
    assert 'aria-pressed="true"' in ticked.content.decode()
    bad_date = client.post(f"{m}items/", {"title": "x", "due_on": "soon"}, HTTP_HX_REQUEST="true")
    assert bad_date.status_code == 422


def test_open_close_and_exports(trio, as_org, client_for, meeting):
    _item(trio, as_org, meeting, "Send the deck")
    client = client_for(trio.alice)
    m = f"{BASE}{meeting.pk}/"
    assert client.post(f"{m}open/").status_code == 302
    page = client.get(m).content.decode()
    assert "data-timebox" in page and "meetings/timebox.js" in page
    client.post(f"{m}decisions/", {"text": "Two-hour rule for demo requests"})
    assert client.post(f"{m}close/").status_code == 302
    markdown = client.get(f"{m}export.md")
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    assert text.startswith("# Smarketing meeting")
    for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5."):
        assert heading in text
    assert "- [ ] Send the deck" in text and "- Two-hour rule for demo requests" in text
    printable = client.get(f"{m}print/").content.decode()
    assert "@media print" not in printable and "meetings/meetings.css" in printable
    with as_org(trio.alpha):
        assert MeetingDecision.objects.for_org(trio.alpha).count() == 1
    # closed: no more decisions
    client.post(f"{m}decisions/", {"text": "late"})
    with as_org(trio.alpha):
        assert MeetingDecision.objects.for_org(trio.alpha).count() == 1


def test_generate_from_the_list(trio, client_for):
    client = client_for(trio.alice)
    response = client.post(f"{BASE}generate/")
    assert response.status_code == 302 and "/meetings/" in response["Location"]


def test_history_with_trends(trio, as_org, client_for, make_meeting):
    from datetime import date

    make_meeting(date(2026, 11, 23))
    make_meeting(date(2026, 11, 30))
    html = client_for(trio.alice).get(BASE).content.decode()
    assert html.count("<svg") >= 5 and "data-history" in html


def test_list_and_detail_queries_are_bounded(
    trio, as_org, client_for, make_meeting, django_assert_max_num_queries
):
    from datetime import date, timedelta

    first = date(2026, 10, 5)
    for week in range(8):
        meeting = make_meeting(first + timedelta(days=7 * week))
        for n in range(3):
            _item(trio, as_org, meeting, f"Item {week}.{n}")
    client = client_for(trio.alice)
    with django_assert_max_num_queries(30):
        assert client.get(BASE).status_code == 200
    with django_assert_max_num_queries(30):
        assert client.get(f"{BASE}{meeting.pk}/").status_code == 200


def test_goals_notes_and_attendees_from_the_page(trio, as_org, client_for, meeting):
    client = client_for(trio.alice)
    m = f"{BASE}{meeting.pk}/"
    saved = client.post(
        f"{m}notes/", {"goals": "60 % acceptance", "notes": "Good week"}, HTTP_HX_REQUEST="true"
    )
    assert saved.status_code == 200 and "60 % acceptance" in saved.content.decode()
    response = client.post(f"{m}attendees/", {"attendees": [trio.alice.pk]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    refused = client.post(
        f"{m}attendees/", {"attendees": [trio.charlie.pk]}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422
    junk = client.post(f"{m}attendees/", {"attendees": ["x"]}, HTTP_HX_REQUEST="true")
    assert junk.status_code == 422
    with as_org(trio.alpha):
        from meetings import selectors

        meeting.refresh_from_db()
        assert meeting.goals == "60 % acceptance" and meeting.notes == "Good week"
        assert [a.user_id for a in selectors.attendees(meeting)] == [trio.alice.pk]
