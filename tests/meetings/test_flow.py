"""Running a meeting: action items carried over, closing (e-mail summary, signal),
what a closed meeting refuses, who may do what."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from meetings import selectors, services, signals
from meetings.models import Meeting
from smarketing.notifications import tasks as notification_tasks
from smarketing.notifications.models import Notification
from smarketing.tenancy import permissions
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory
from tests.meetings.conftest import MONDAY_9, PARIS, WEEK

pytestmark = pytest.mark.django_db

NEXT = date(2026, 12, 7)
AFTER = date(2026, 12, 14)


def test_open_items_carry_over_until_done(trio, as_org, make_meeting):
    first = make_meeting(WEEK)
    with as_org(trio.alpha):
        open_item = services.action_item_add(
            actor=trio.alice_membership,
            meeting=first,
            title="Call back the webinar leads",
            owner_id=trio.bob.pk,
            due_on=date(2026, 12, 4),
        )
        done = services.action_item_add(
            actor=trio.alice_membership, meeting=first, title="Fix the form"
        )
        services.action_item_update(actor=trio.bob_membership, item=done, data={"done": True})
        services.meeting_close(actor=trio.alice_membership, meeting=first, now=MONDAY_9)
    second = make_meeting(NEXT)
    with as_org(trio.alpha):
        assert [i.title for i in selectors.carried_items(second)] == [open_item.title]
        # ticked during the second meeting: still shown there, done
        services.action_item_update(
            actor=trio.bob_membership,
            item=open_item,
            data={"done": True},
            now=datetime(2026, 12, 7, 9, 20, tzinfo=PARIS),
        )
        carried = selectors.carried_items(second)
        assert [(i.pk, i.done) for i in carried] == [(open_item.pk, True)]
    third = make_meeting(AFTER)
    with as_org(trio.alpha):
        assert selectors.carried_items(third) == []


def test_an_item_open_for_two_meetings_shows_on_both(trio, as_org, make_meeting):
    first = make_meeting(WEEK)
    with as_org(trio.alpha):
        item = services.action_item_add(actor=trio.alice_membership, meeting=first, title="X")
    make_meeting(NEXT)
    third = make_meeting(AFTER)
    with as_org(trio.alpha):
        assert [i.pk for i in selectors.carried_items(third)] == [item.pk]
        assert [i["id"] for i in third.snapshot["action_items"]] == [item.pk]


def test_closing_mails_the_attendees_and_sends_the_signal(
    trio, as_org, meeting, django_capture_on_commit_callbacks, monkeypatch, mailoutbox
):
    # The e-mail task runs in-process, as a worker would.
    monkeypatch.setattr(
        notification_tasks.send_notification_emails,
        "delay",
        lambda org_id, ids: notification_tasks.send_notification_emails(org_id, ids),
    )
    received = []

    def receiver(sender, organization, meeting, **kwargs):
        received.append((organization.pk, meeting.pk, meeting.status))

    signals.meeting_published.connect(receiver)
    try:
        with as_org(trio.alpha):
            services.decision_add(
                actor=trio.alice_membership,
                meeting=meeting,
                text="Demo requests are called within the hour",
            )
            with django_capture_on_commit_callbacks(execute=True):
                services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
            with pytest.raises(services.MeetingError) as again:
                services.meeting_close(actor=trio.alice_membership, meeting=meeting)
            notes = list(Notification.objects.for_org(trio.alpha).filter(kind="meeting.published"))
    finally:
        signals.meeting_published.disconnect(receiver)
    assert received == [(trio.alpha.pk, meeting.pk, Meeting.Status.CLOSED)]
    assert again.value.status == 409
    assert {n.recipient_id for n in notes} == {trio.alice.pk, trio.bob.pk}
    assert "Demo requests are called within the hour" in notes[0].body
    assert len(mailoutbox) == 2
    assert "Demo requests are called within the hour" in mailoutbox[0].body


def test_a_closed_meeting_refuses_edits_its_items_are_ticked_in_the_next(
    trio, as_org, meeting, make_meeting
):
    with as_org(trio.alpha):
        item = services.action_item_add(actor=trio.alice_membership, meeting=meeting, title="A")
        services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
        for call in (
            lambda: services.decision_add(actor=trio.alice_membership, meeting=meeting, text="x"),
            lambda: services.meeting_update(
                actor=trio.alice_membership, meeting=meeting, notes="x"
            ),
            lambda: services.action_item_add(
                actor=trio.alice_membership, meeting=meeting, title="x"
            ),
        ):
            with pytest.raises(services.MeetingError):
                call()
        # no later meeting carries it yet: nothing to tick it in
        with pytest.raises(services.MeetingError):
            services.action_item_update(actor=trio.bob_membership, item=item, data={"done": True})
    following = make_meeting(NEXT)
    with as_org(trio.alpha):
        services.action_item_update(
            actor=trio.bob_membership, item=item, meeting=following, data={"done": True}
        )
        item.refresh_from_db()
    assert item.done


def test_roles(trio, as_org, meeting):
    viewer = UserFactory()
    viewer_membership = MembershipFactory(organization=trio.alpha, user=viewer, role=Role.VIEWER)
    with as_org(trio.alpha):
        # a sales rep contributes...
        services.decision_add(actor=trio.bob_membership, meeting=meeting, text="ok")
        services.action_item_add(actor=trio.bob_membership, meeting=meeting, title="ok")
        # ...but does not run the meeting
        for call in (
            lambda: services.meeting_open(actor=trio.bob_membership, meeting=meeting),
            lambda: services.meeting_close(actor=trio.bob_membership, meeting=meeting),
            lambda: services.meeting_generate(actor=trio.bob_membership, organization=trio.alpha),
            lambda: services.attendees_set(actor=trio.bob_membership, meeting=meeting, user_ids=[]),
        ):
            with pytest.raises(permissions.PermissionDenied):
                call()
        with pytest.raises(permissions.PermissionDenied):
            services.decision_add(actor=viewer_membership, meeting=meeting, text="no")


def test_attendees_default_to_contributors_and_must_be_members(trio, as_org, meeting):
    viewer = UserFactory()
    MembershipFactory(organization=trio.alpha, user=viewer, role=Role.VIEWER)
    with as_org(trio.alpha):
        assert {a.user_id for a in selectors.attendees(meeting)} == {trio.alice.pk, trio.bob.pk}
        with pytest.raises(services.MeetingError):
            services.attendees_set(
                actor=trio.alice_membership, meeting=meeting, user_ids=[trio.charlie.pk]
            )
        services.attendees_set(
            actor=trio.alice_membership, meeting=meeting, user_ids=[trio.alice.pk, viewer.pk]
        )
        assert {a.user_id for a in selectors.attendees(meeting)} == {trio.alice.pk, viewer.pk}


def test_an_item_owner_must_be_a_member(trio, as_org, meeting):
    with as_org(trio.alpha), pytest.raises(services.MeetingError) as error:
        services.action_item_add(
            actor=trio.alice_membership, meeting=meeting, title="x", owner_id=trio.charlie.pk
        )
    assert "owner" in error.value.fields


def test_generate_on_demand_is_idempotent(trio, as_org):
    with as_org(trio.alpha):
        first, created = services.meeting_generate(
            actor=trio.alice_membership, organization=trio.alpha, now=MONDAY_9
        )
        again, created_again = services.meeting_generate(
            actor=trio.alice_membership, organization=trio.alpha, now=MONDAY_9
        )
    assert created and not created_again and first.pk == again.pk
