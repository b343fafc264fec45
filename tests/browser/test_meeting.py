"""A manager runs the weekly meeting in a real browser: opens this week's pack, starts
the meeting (the 30-minute timebox runs), ticks an action item carried over from last
week, adds a decision and a new action item, closes the meeting (the attendees get the
summary) and exports it as Markdown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from meetings import services
from meetings.models import ActionItem, Meeting, MeetingDecision
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_runs_the_weekly_meeting(trio, page, live_server, screenshot, password):
    trio.alice.language = "en"
    trio.alice.save()
    now = timezone.now()
    this_week = services.week_start_at(trio.alpha, now)
    with tenant_context(trio.alpha.pk):
        last, _ = services.meeting_for_week(
            organization=trio.alpha,
            week_start=this_week - timedelta(days=7),
            now=now - timedelta(days=7),
        )
        services.action_item_add(
            actor=trio.alice_membership,
            meeting=last,
            title="Call back the webinar leads",
            owner_id=trio.bob.pk,
        )
        services.meeting_close(
            actor=trio.alice_membership, meeting=last, now=now - timedelta(days=7)
        )

    page.goto("/accounts/login/?next=/o/alpha/meetings/")
    page.fill("input[name=username]", trio.alice.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url("**/o/alpha/meetings/")

    # Open this week's pack (generated on demand here; beat does it on Monday 08:00).
    page.get_by_role("button", name="Generate this week's pack now").click()
    page.wait_for_url("**/o/alpha/meetings/*/")
    expect(page.locator("[data-kpis]")).to_be_visible()
    expect(page.locator("[data-carried]")).to_contain_text("Call back the webinar leads")

    page.get_by_role("button", name="Start the meeting").click()
    clock = page.locator("[data-timebox-clock]")
    expect(clock).to_contain_text("29:")
    screenshot("meeting-running")

    # Tick the carried-over item (HTMX swaps the action items section).
    carried = page.locator("[data-carried] [data-item]").first
    carried.get_by_role("button", name="Mark as done").click()
    expect(page.locator("[data-carried] .item--done")).to_have_count(1)

    page.fill("#decision-text", "Demo requests are called within two hours")
    page.get_by_role("button", name="Add the decision").click()
    expect(page.locator("[data-decisions]")).to_contain_text("within two hours")

    page.fill("#item-title", "Send the new pricing deck to sales")
    page.get_by_role("button", name="Add the action").click()
    expect(page.locator("[data-items]")).to_contain_text("Send the new pricing deck")

    page.get_by_role("button", name="Close and send the summary").click()
    expect(page.locator("[data-status]")).to_have_text("Closed")
    screenshot("meeting-closed")

    with page.expect_download() as download_info:
        page.locator("[data-export]").click()
    path = download_info.value.path()
    markdown = Path(path).read_text(encoding="utf-8")
    assert "Demo requests are called within two hours" in markdown
    assert "- [ ] Send the new pricing deck to sales" in markdown

    with tenant_context(trio.alpha.pk):
        meeting = Meeting.objects.for_org(trio.alpha).get(week_start=this_week)
        assert meeting.status == Meeting.Status.CLOSED
        assert ActionItem.objects.for_org(trio.alpha).get(title="Call back the webinar leads").done
        assert MeetingDecision.objects.for_org(trio.alpha).filter(meeting=meeting).count() == 1
        assert (
            Notification.objects.for_org(trio.alpha)
            .filter(kind="meeting.published", dedupe_key=f"meeting.published:{meeting.pk}")
            .count()
            == 2
        )
