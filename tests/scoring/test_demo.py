"""The demo step: the starting template active, every lead scored, MQLs dated at the
lead's last event and nobody notified (history), idempotent."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest

from leads.models import LifecycleTransition, Stage
from scoring import demo
from scoring.models import ScoringModel
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context

from .conftest import NOW, event, ingest, lead_of, pricing

pytestmark = pytest.mark.django_db


def test_the_demo_step_scores_the_demo_leads(trio):
    last = NOW - timedelta(days=2)
    ingest(
        trio.alpha,
        [
            event("demo_request", email="hot@demo.fr", at=last - timedelta(hours=2)),
            *[pricing("hot@demo.fr", timedelta(days=d, hours=2)) for d in (4, 3, 2)],
            event("email_click", email="cold@demo.fr"),
        ],
    )
    out = io.StringIO()
    with tenant_context(trio.alpha.pk):
        demo.load(SimpleNamespace(organization=trio.alpha, stdout=out, now=NOW))
        [model] = ScoringModel.objects.for_org(trio.alpha)
        hot = lead_of(trio.alpha, "hot@demo.fr")
        transition = LifecycleTransition.objects.for_org(trio.alpha).get(
            lead=hot, to_stage=Stage.MQL
        )
        assert not Notification.objects.for_org(trio.alpha).exists()
    assert model.status == "active"
    assert hot.stage == Stage.MQL and hot.owner == trio.bob
    assert transition.at == hot.last_event_at  # dated at its last event, not at load time
    assert lead_of(trio.alpha, "cold@demo.fr").grade == "D"
    assert "2 leads scored" in out.getvalue() and "1 new MQLs" in out.getvalue()

    with tenant_context(trio.alpha.pk):
        demo.load(SimpleNamespace(organization=trio.alpha, stdout=out, now=NOW))
    assert "already scored" in out.getvalue()
