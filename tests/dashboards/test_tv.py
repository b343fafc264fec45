"""The open-space TV: a kiosk token in the URL is the only credential. It shows its own
organization's figures (the same as the dashboard and the API), nothing of another,
404 once revoked; no session, no CSRF, no cache; bounded queries."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from dashboards import kpis
from leads.models import Lead
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import KioskToken
from smarketing.tenancy.services import kiosk_token_create, kiosk_token_revoke
from tests.dashboards.test_pages_seed import seed_team

pytestmark = pytest.mark.django_db

TV_PANELS = ("commitments", "kpis", "funnel", "hot-leads", "clocks")


def token_for(membership, name="Open space") -> tuple[KioskToken, str]:
    with tenant_context(membership.organization_id):
        return kiosk_token_create(actor=membership, name=name)


@pytest.fixture
def screen(trio):
    return token_for(trio.alice_membership)


def tv_tile(html: str, name: str) -> str:
    match = re.search(
        rf'data-kpi="{name}".*?<span class="tv-tile__value" data-value>(.*?)</span>', html, re.S
    )
    assert match, name
    return unescape(match.group(1)).strip()


def test_the_tv_needs_no_login_and_no_csrf(trio, screen):
    _kiosk, token = screen
    client = Client(enforce_csrf_checks=True)
    response = client.get(f"/tv/{token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Our commitments" in html and "data-tv-panel" in html
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    # Its own script and stylesheet, no CDN.
    assert "/static/dashboards/tv.js" in html and "https://" not in html
    for name in TV_PANELS:
        assert f"/tv/{token}/panel/{name}/" in html
        fragment = client.get(f"/tv/{token}/panel/{name}/")
        assert fragment.status_code == 200, name
        assert b"data-tv-body" in fragment.content and b"<html" not in fragment.content
    assert client.head(f"/tv/{token}/").status_code == 200  # the script's reachability check


def test_an_unknown_or_revoked_token_is_404(trio, screen):
    kiosk, token = screen
    client = Client()
    assert client.get("/tv/not-a-token/").status_code == 404
    assert client.get("/tv/not-a-token/panel/kpis/").status_code == 404
    with tenant_context(trio.alpha.pk):
        kiosk_token_revoke(actor=trio.alice_membership, kiosk_token=kiosk)
    assert client.get(f"/tv/{token}/").status_code == 404
    assert client.get(f"/tv/{token}/panel/kpis/").status_code == 404


def test_the_tv_is_read_only(trio, screen):
    _kiosk, token = screen
    assert Client().post(f"/tv/{token}/").status_code == 405
    assert Client().get(f"/tv/{token}/panel/nope/").status_code == 404


def test_the_token_records_its_use(trio, screen):
    kiosk, token = screen
    Client().get(f"/tv/{token}/")
    with tenant_context(trio.alpha.pk):
        kiosk.refresh_from_db()
    assert kiosk.last_used_at is not None
    assert timezone.now() - kiosk.last_used_at < timedelta(minutes=1)


def test_a_token_shows_nothing_of_another_organization(trio):
    seed_team(trio.alpha, [trio.bob], prefix="Alpha ")
    seed_team(trio.charlie_org, [trio.charlie], prefix="Charlie ")
    with tenant_context(trio.charlie_org.pk):
        Lead.objects.for_org(trio.charlie_org).filter(hot=True).update(last_name="Secret")
    _kiosk, alpha_token = token_for(trio.alice_membership)
    _kiosk, charlie_token = token_for(trio.charlie_membership)
    client = Client()
    alpha = "".join(
        client.get(url).content.decode()
        for url in [f"/tv/{alpha_token}/"]
        + [f"/tv/{alpha_token}/panel/{name}/" for name in TV_PANELS]
    )
    assert "Alpha" in alpha and "Secret" not in alpha and "Charlie" not in alpha
    charlie = client.get(f"/tv/{charlie_token}/panel/hot-leads/").content.decode()
    assert "Secret" in charlie and "Alpha" not in charlie
    # A token is not a key to the organization's pages either.
    assert client.get("/o/alpha/dashboard/").status_code == 302


def test_tv_dashboard_and_api_agree(trio, client_for):
    from rest_framework.test import APIClient

    from smarketing.tenancy.models import ApiKey
    from smarketing.tenancy.services import api_key_create_for_operator

    team = seed_team(trio.alpha, [trio.bob])
    _kiosk, token = token_for(trio.alice_membership)
    with tenant_context(trio.alpha.pk):
        week = kpis.week_of(trio.alpha, kpis.local_today(trio.alpha))
        report = kpis.report(trio.alpha, week)
    tv = Client().get(f"/tv/{token}/panel/kpis/").content.decode()
    page = client_for(trio.alice).get("/o/alpha/dashboard/panel/kpis/").content.decode()
    _key, secret = api_key_create_for_operator(
        organization=trio.alpha, name="t", scope=ApiKey.Scope.READ
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    to = (week.last_day + timedelta(days=1)).isoformat()
    body = api.get(f"/api/v1/kpis?from={week.first_day.isoformat()}&to={to}").json()
    for name in ("new_leads", "mqls", "sals", "sqls"):
        on_page = re.search(rf'data-kpi="{name}".*?data-value>(.*?)</span>', page, re.S).group(1)
        assert tv_tile(tv, name) == on_page == str(report["current"][name]), name
        assert body["current"][name] == report["current"][name]
    assert team.hot


def test_the_tv_speaks_the_organizations_language(trio, screen):
    trio.alpha.language = "fr"
    trio.alpha.save(update_fields=["language"])
    html = Client().get(f"/tv/{screen[1]}/").content.decode()
    assert '<html lang="fr">' in html
    # Figures in French formats whatever the browser asks for.
    kpis_panel = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/tv/{screen[1]}/panel/kpis/").content
    assert "\u202f€" in kpis_panel.decode()


def test_the_commitments_come_first(trio):
    seed_team(trio.alpha, [trio.bob])
    _kiosk, token = token_for(trio.alice_membership)
    html = Client().get(f"/tv/{token}/").content.decode()
    first = html.index("tv-panel--commitments")
    assert first < html.index("tv-panel--kpis") < html.index("tv-panel--clocks")
    assert "Sales responds to every new MQL within 4 h of business hours." in html
    assert "12 MQLs per week" in html


def test_tv_queries_are_bounded(trio):
    from tests.dashboards.test_pages import MAX_QUERIES, query_counts

    seed_team(trio.alpha, [trio.bob])
    _kiosk, token = token_for(trio.alice_membership)
    urls = [f"/tv/{token}/", *(f"/tv/{token}/panel/{name}/" for name in TV_PANELS)]
    small = query_counts(Client(), urls)
    seed_team(trio.alpha, [trio.bob], prefix="more-")
    large = query_counts(Client(), urls)
    assert all(large[url] <= small[url] for url in urls), (small, large)
    assert max(large.values()) <= MAX_QUERIES, large
