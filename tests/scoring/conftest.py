"""Fixtures of the scoring tests: API clients, the starting template, an in-process
Celery, and helpers to write leads and events the way ingestion does."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from leads.ingest import ingest_events
from leads.models import Lead
from scoring import services
from smarketing.celery import app
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import ApiKey
from smarketing.tenancy.services import api_key_create_for_operator

# Scoring tests are about time: "now" is fixed, events are placed relative to it.
NOW = timezone.now().replace(microsecond=0)
_ids = itertools.count(1)


def _client(org, scope) -> APIClient:
    _key, secret = api_key_create_for_operator(organization=org, name="test", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api(trio) -> APIClient:
    """A read-write API client for organization alpha."""
    return _client(trio.alpha, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def api_read(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ)


@pytest.fixture
def api_charlie(trio) -> APIClient:
    return _client(trio.charlie_org, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def template(trio):
    """Alpha's active model: the starting template (v1)."""
    with tenant_context(trio.alpha.pk):
        return services.create_starting_template(organization=trio.alpha)


@pytest.fixture
def eager():
    """Celery tasks run in-process, at once (``.delay`` included)."""
    old = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


def event(type: str = "page_view", *, at: datetime | None = None, ago=None, **fields) -> dict:
    """One SPEC §5 event dict; ``ago`` is a timedelta before NOW."""
    when = at or (NOW - (ago or timedelta(0)))
    return {"id": f"t{next(_ids)}", "type": type, "occurred_at": when.isoformat(), **fields}


def pricing(email: str, ago: timedelta, *, now: datetime = NOW) -> dict:
    """A visit of the pricing page ``ago`` before ``now``."""
    return event("page_view", at=now - ago, email=email, url="https://www.exemple.fr/tarifs")


def ingest(org, events: list[dict], now: datetime = NOW):
    """Ingest as the API would (marks the leads), inside the organization's tenant."""
    with tenant_context(org.pk):
        return ingest_events(organization=org, events=events, source="api", now=now)


def lead_of(org, email: str) -> Lead:
    with tenant_context(org.pk):
        return Lead.objects.for_org(org).select_related("owner").get(email=email)
