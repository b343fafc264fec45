"""The 30-day plan ticks itself from what the platform sees."""

from __future__ import annotations

import pytest
from django.utils import timezone

from meetings import rollout, services
from scoring.models import ScoringModel
from smarketing.tenancy import permissions
from smarketing.tenancy.models import KioskToken
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory
from tests.meetings.conftest import MONDAY_9

pytestmark = pytest.mark.django_db


def done(trio, as_org) -> set[str]:
    with as_org(trio.alpha):
        return {step.code for step in rollout.steps(trio.alpha) if step.done}


def test_a_new_organization_has_nothing_done(trio, as_org):
    assert done(trio, as_org) == set()


def test_funnel_audit_is_ticked_when_opened_from_the_plan(trio, as_org, client_for):
    response = client_for(trio.bob).get("/o/alpha/meetings/rollout/go/funnel_audit/")
    assert response.status_code == 302 and response["Location"].endswith("/dashboard/funnel/")
    assert done(trio, as_org) == {"funnel_audit"}
    assert client_for(trio.bob).get("/o/alpha/meetings/rollout/go/nope/").status_code == 404


def test_scoring_model_needs_both_heads(trio, as_org, client_for):
    marketing, sales = UserFactory(), UserFactory()
    MembershipFactory(organization=trio.alpha, user=marketing, role=Role.MARKETING_MANAGER)
    MembershipFactory(organization=trio.alpha, user=sales, role=Role.SALES_MANAGER)
    with as_org(trio.alpha):
        ScoringModel.objects.for_org(trio.alpha).create(version=1, status="active")
        with pytest.raises(permissions.PermissionDenied):
            services.scoring_approve(
                actor=trio.bob_membership, organization=trio.alpha, side="sales"
            )
    client_for(marketing).post("/o/alpha/meetings/rollout/approve/", {"side": "marketing"})
    assert "icp_mql" not in done(trio, as_org)
    client_for(sales).post("/o/alpha/meetings/rollout/approve/", {"side": "sales"})
    assert "icp_mql" in done(trio, as_org)


def test_tv_and_first_meeting(trio, as_org, meeting):
    with as_org(trio.alpha):
        _token, prefix, digest = KioskToken.generate()
        token = KioskToken.objects.for_org(trio.alpha).create(
            name="Open space", prefix=prefix, token_hash=digest
        )
    assert "tv_dashboard" not in done(trio, as_org)
    with as_org(trio.alpha):
        KioskToken.objects.for_org(trio.alpha).filter(pk=token.pk).update(
            last_used_at=timezone.now()
        )
    assert "tv_dashboard" in done(trio, as_org)
    assert "first_meeting" not in done(trio, as_org)
    with as_org(trio.alpha):
        services.meeting_close(actor=trio.alice_membership, meeting=meeting, now=MONDAY_9)
    assert "first_meeting" in done(trio, as_org)


def test_rollout_page_shows_progress(trio, client_for):
    html = client_for(trio.alice).get("/o/alpha/meetings/rollout/").content.decode()
    assert "0 of 7" in html and 'data-step="sla_signed"' in html
