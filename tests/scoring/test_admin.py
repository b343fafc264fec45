"""The operator admin shows scoring models (with their rules) and runs, read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scoring import services
from smarketing.tenancy.db import tenant_context
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_models_and_runs_are_visible_and_read_only(client_for, trio, template):
    with tenant_context(trio.alpha.pk):
        draft = services.model_update(
            actor=trio.alice_membership, model=template, data={"name": "v2"}
        )
        services.model_activate(actor=trio.alice_membership, model=draft)
    operator = client_for(
        UserFactory(email="ops@smarketing.test", is_staff=True, is_superuser=True)
    )
    for name in ("scoringmodel", "rescorerun"):
        page = operator.get(reverse(f"admin:scoring_{name}_changelist"))
        assert page.status_code == 200
        assert operator.get(reverse(f"admin:scoring_{name}_add")).status_code == 403
    page = operator.get(reverse("admin:scoring_scoringmodel_change", args=[template.pk]))
    assert page.status_code == 200
    assert "Pricing page 3× in 7 days" in page.content.decode()
    assert (
        client_for(trio.alice).get(reverse("admin:scoring_scoringmodel_changelist")).status_code
        == 302
    )
