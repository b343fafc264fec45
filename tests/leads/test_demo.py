"""The demo referential and the live traffic simulator use the real ingestion path."""

from __future__ import annotations

import random

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.models import Content, Deal, Decision, Event, Lead
from leads.simulator import live_tick
from smarketing.tenancy.models import Organization

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_living_referential_and_loads_once(as_org):
    call_command("load_demo", "--quiet-logins")
    org = Organization.objects.get(slug="acme")
    with as_org(org):
        leads = Lead.objects.for_org(org).count()
        events = Event.objects.for_org(org).count()
        assert leads == 2000
        assert 40_000 <= events <= 60_000
        levels = set(Content.objects.for_org(org).values_list("level", flat=True))
        assert {"beginner", "intermediate", "expert"} <= levels
        assert Decision.objects.for_org(org).filter(kind="reject").exclude(reason="").exists()
        assert set(Deal.objects.for_org(org).values_list("status", flat=True)) >= {"won", "lost"}
        assert Lead.objects.for_org(org).filter(stage="mql").exists()  # a queue to work on
    call_command("load_demo", "--quiet-logins")
    with as_org(org):
        assert Event.objects.for_org(org).count() == events


def test_live_traffic_goes_through_ingestion(trio, as_org):
    with as_org(trio.alpha):
        accepted = live_tick(trio.alpha, random.Random(1), timezone.now(), size=20)
        assert accepted == 20
        assert Event.objects.for_org(trio.alpha).filter(source="simulator").count() == 20
