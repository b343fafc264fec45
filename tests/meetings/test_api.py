"""Meetings and action items in the API."""

from __future__ import annotations

import pytest

from meetings import services
from tests.meetings.conftest import MONDAY_9

pytestmark = pytest.mark.django_db


def test_list_and_detail_with_snapshot(api, meeting):
    listed = api.get("/api/v1/meetings").json()
    assert [m["id"] for m in listed["results"]] == [meeting.pk]
    detail = api.get(f"/api/v1/meetings/{meeting.pk}").json()
    assert detail["snapshot"]["week_start"] == "2026-11-30"
    assert detail["snapshot"] == meeting.snapshot
    assert {a["email"] for a in detail["attendees"]} == {"alice@alpha.test", "bob@alpha.test"}


def test_create_list_and_tick_action_items(api, trio, meeting):
    created = api.post(
        f"/api/v1/meetings/{meeting.pk}/action-items",
        {"title": "Send the deck", "owner": trio.bob.pk, "due_on": "2026-12-04"},
        format="json",
    )
    assert created.status_code == 201, created.content
    item = created.json()
    assert item["owner"]["email"] == "bob@alpha.test" and not item["done"]
    ticked = api.patch(f"/api/v1/action-items/{item['id']}", {"done": True}, format="json")
    assert ticked.json()["done"] and ticked.json()["done_at"]
    assert api.get("/api/v1/action-items?open=true").json()["results"] == []
    assert len(api.get(f"/api/v1/meetings/{meeting.pk}/action-items").json()) == 1


def test_bad_input_is_400_and_changes_nothing(api, trio, meeting):
    assert (
        api.post(
            f"/api/v1/meetings/{meeting.pk}/action-items", {"title": ""}, format="json"
        ).status_code
        == 400
    )
    response = api.post(
        f"/api/v1/meetings/{meeting.pk}/action-items",
        {"title": "x", "owner": trio.charlie.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "owner" in response.json()["error"]["fields"]
    assert api.get("/api/v1/action-items").json()["results"] == []


def test_read_only_key_cannot_write(api_read, meeting):
    assert api_read.get(f"/api/v1/meetings/{meeting.pk}").status_code == 200
    response = api_read.post(
        f"/api/v1/meetings/{meeting.pk}/action-items", {"title": "x"}, format="json"
    )
    assert response.status_code == 403


def test_closed_meeting_refuses_new_items(api, trio, as_org, meeting):
    with as_org(trio.alpha):
        services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
    response = api.post(
        f"/api/v1/meetings/{meeting.pk}/action-items", {"title": "x"}, format="json"
    )
    assert response.status_code == 409


def test_cross_tenant_is_404(api_charlie, api, meeting):
    item = api.post(
        f"/api/v1/meetings/{meeting.pk}/action-items", {"title": "x"}, format="json"
    ).json()
    assert api_charlie.get(f"/api/v1/meetings/{meeting.pk}").status_code == 404
    assert api_charlie.get(f"/api/v1/meetings/{meeting.pk}/action-items").status_code == 404
    assert (
        api_charlie.post(
            f"/api/v1/meetings/{meeting.pk}/action-items", {"title": "x"}, format="json"
        ).status_code
        == 404
    )
    assert api_charlie.get(f"/api/v1/action-items/{item['id']}").status_code == 404
    assert (
        api_charlie.patch(
            f"/api/v1/action-items/{item['id']}", {"done": True}, format="json"
        ).status_code
        == 404
    )
    assert api_charlie.get("/api/v1/meetings").json()["results"] == []


def test_action_item_list_queries_are_bounded(
    api, trio, as_org, meeting, django_assert_max_num_queries
):
    with as_org(trio.alpha):
        for n in range(20):
            services.action_item_add(
                actor=trio.alice_membership,
                meeting=meeting,
                title=f"Item {n}",
                owner_id=trio.bob.pk,
            )
    with django_assert_max_num_queries(12):
        assert len(api.get("/api/v1/action-items").json()["results"]) == 20
