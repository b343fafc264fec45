from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from smarketing.tenancy.models import ApiKey
from smarketing.tenancy.services import api_key_create_for_operator


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
