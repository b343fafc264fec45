"""The demo's meetings, rollout records and bonus plans: present and idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from incentives import demo as incentives_demo
from incentives.models import BonusPlan, Statement
from meetings import demo as meetings_demo
from meetings import rollout, selectors
from meetings.models import ActionItem, Meeting
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.management.commands.load_demo import DEMO_SLUG, Demo
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import Role

pytestmark = pytest.mark.django_db


def _demo() -> Demo:
    call_command("load_demo", "--members-only", "--quiet-logins", stdout=io.StringIO())
    org = Organization.objects.get(slug=DEMO_SLUG)
    from django.contrib.auth import get_user_model

    from smarketing.tenancy.management.commands.load_demo import DEMO_MEMBERS

    User = get_user_model()
    users = {role.value: User.objects.get(email=email) for role, email, _ in DEMO_MEMBERS}
    return Demo(organization=org, users=users, stdout=io.StringIO())


def test_demo_meetings_and_plans_are_there_and_idempotent():
    demo = _demo()
    for _ in range(2):
        with tenant_context(demo.organization.pk):
            meetings_demo.load(demo)
            incentives_demo.load(demo)
    org = demo.organization
    with tenant_context(org.pk):
        earlier, current = Meeting.objects.for_org(org).order_by("week_start")
        assert earlier.status == Meeting.Status.CLOSED
        assert current.status == Meeting.Status.SCHEDULED and current.snapshot["current"]
        assert len(current.snapshot["action_items"]) == 3
        assert len(selectors.carried_items(current)) == 2
        assert ActionItem.objects.for_org(org).count() == 4
        done = {step.code for step in rollout.steps(org) if step.done}
        assert {"funnel_audit", "first_meeting"} <= done
        assert BonusPlan.objects.for_org(org).count() == 2
        sales_reps = demo.users[Role.SALES_REP.value]
        assert Statement.objects.for_org(org).filter(user=sales_reps).count() == 1
