"""The integrations demo step: paused, disabled, idempotent."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from django.utils import timezone

from integrations import demo
from integrations.models import Connection, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def test_demo_loads_once_and_sends_nothing(trio, as_org):
    step = SimpleNamespace(
        organization=trio.alpha,
        users={"owner": trio.alice},
        stdout=io.StringIO(),
        now=timezone.now(),
    )
    with as_org(trio.alpha):
        demo.load(step)
        demo.load(step)
        subscription = WebhookSubscription.objects.for_org(trio.alpha).get()
        assert subscription.active is False
        assert WebhookDelivery.objects.for_org(trio.alpha).count() == 3
        assert (
            not WebhookDelivery.objects.for_org(trio.alpha)
            .filter(status__in=["pending", "failed"])
            .exists()
        )
        for connection in Connection.objects.for_org(trio.alpha):
            assert connection.status == "disabled"
