"""Out-of-range dates are a 400 field error (API) or the default period (pages), never
a 500 (issue 6 review): one allowed range, ``kpis.MIN_DAY`` … ``kpis.MAX_DAY``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

API = [
    ("/api/v1/kpis?from=9999-12-15", "from"),
    ("/api/v1/kpis?from=0001-01-01&to=0001-01-02", "from"),
    ("/api/v1/kpis?to=0001-01-05", "to"),
    ("/api/v1/kpis?from=2100-12-20", "to"),
    ("/api/v1/kpis?to=2000-01-10", "from"),
    ("/api/v1/kpis/funnel?from=0001-01-01&to=0001-01-02", "from"),
    ("/api/v1/kpis/attribution?from=0001-01-01&to=0001-01-02", "from"),
    ("/api/v1/kpis?from=2026-13-01", "from"),
]


@pytest.mark.parametrize(("url", "field"), API)
def test_api_rejects_out_of_range_dates(api_read, url, field):
    response = api_read.get(url)
    assert response.status_code == 400, response.content
    assert field in response.content.decode()


def test_api_accepts_the_range_edges(api_read):
    assert api_read.get("/api/v1/kpis?from=2000-01-01&to=2000-01-31").status_code == 200
    assert api_read.get("/api/v1/kpis?from=2100-12-01&to=2101-01-01").status_code == 200


def test_api_rejects_a_non_numeric_campaign(api_read):
    assert api_read.get("/api/v1/kpis?campaign=%E0%A5%A7").status_code == 400


PAGES = [
    "?period=custom&date_from=0001-01-01&date_to=0001-01-01",
    "?period=custom&date_from=9999-12-31&date_to=9999-12-31",
    "?period=custom&date_from=9999-06-01&date_to=9999-12-30",
    "?period=custom&date_from=1999-12-31&date_to=2000-01-02",
]


@pytest.mark.parametrize("query", PAGES)
@pytest.mark.parametrize("path", ["", "funnel/", "attribution/", "funnel.csv", "panel/kpis/"])
def test_pages_fall_back_to_this_week(trio, client_for, query, path):
    response = client_for(trio.alice).get(f"/o/{trio.alpha.slug}/dashboard/{path}{query}")
    assert response.status_code == 200


def test_the_range_edges_are_kept(trio, client_for):
    query = "?period=custom&date_from=2100-12-01&date_to=2100-12-31"
    response = client_for(trio.alice).get(f"/o/{trio.alpha.slug}/dashboard/{query}")
    assert response.status_code == 200
    assert "2100-12-31" in response.content.decode()
