"""The dashboard pages: the team dashboard and its panels, the funnel audit,
attribution."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_smoke(trio, client_for):
    client = client_for(trio.alice)
    for url in (
        "/o/alpha/dashboard/",
        "/o/alpha/dashboard/funnel/",
        "/o/alpha/dashboard/attribution/",
        "/o/alpha/dashboard/panel/kpis/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
