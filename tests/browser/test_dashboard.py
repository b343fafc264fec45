"""The dashboard and the open-space TV in a real browser at 1920 × 1080: the figures on
screen are the KPI layer's, the panels refresh by themselves, the TV rotates and keeps
its figures (marked stale) when the network drops. Screenshots go to
artifacts/screenshots/ (kept by CI)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboards import kpis
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role
from smarketing.tenancy.services import kiosk_token_create, kiosk_token_revoke
from tests.dashboards.test_pages_seed import seed_team
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FULL_HD = {"width": 1920, "height": 1080}


def _login(page, user, password, next_url):
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"**{next_url}")


@pytest.fixture
def team(trio):
    rep = UserFactory(email="lea@alpha.test", full_name="Léa Fontaine")
    MembershipFactory(organization=trio.alpha, user=rep, role=Role.SALES_REP)
    return seed_team(trio.alpha, [trio.bob, rep])


def _report(org, days=None):
    with tenant_context(org.pk):
        this_week = kpis.week_of(org, kpis.local_today(org))
        period = kpis.last_days(org, days) if days else this_week
        return kpis.report(org, period)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_manager_reads_the_dashboard(trio, team, page, screenshot, password, language):
    trio.alice.language = language
    trio.alice.save(update_fields=["language"])
    page.set_viewport_size(FULL_HD)
    _login(page, trio.alice, password, "/o/alpha/dashboard/")
    # This week's figures (whatever day the test runs), then the last 30 days.
    current = _report(trio.alpha)["current"]
    tiles = page.locator("#panel-kpis")
    expect(tiles.locator("[data-kpi=mqls] [data-value]")).to_have_text(str(current["mqls"]))
    page.locator(".dash-presets a[href*=last_30_days]").click()
    page.wait_for_url("**period=last_30_days**")
    current = _report(trio.alpha, 30)["current"]
    tiles = page.locator("#panel-kpis")
    expect(tiles.locator("[data-kpi=mqls] [data-value]")).to_have_text(str(current["mqls"]))
    expect(tiles.locator("[data-kpi=new_leads] [data-value]")).to_have_text(
        str(current["new_leads"])
    )
    assert page.locator("#panel-hot-leads tbody tr").count() == 8
    assert page.locator("#panel-sla .dash-clock").count() >= 4
    screenshot(f"dashboard-{language}")

    # A panel refreshes itself: a new MQL appears without reloading the page.
    page.evaluate("window.__marker = 1")  # gone if the page reloads
    lead = team.leads[0]
    with tenant_context(trio.alpha.pk):
        from leads.models import LifecycleTransition

        LifecycleTransition.objects.create(
            organization=trio.alpha,
            lead=lead,
            from_stage="recycled",
            to_stage="mql",
            at=timezone.now(),
        )
    expected = str(_report(trio.alpha, 30)["current"]["mqls"])
    # What the 30-second poll does, without waiting for it.
    page.evaluate(
        "htmx.ajax('GET', document.querySelector('#panel-kpis').getAttribute('hx-get'),"
        " {target: '#panel-kpis', swap: 'outerHTML'})"
    )
    expect(tiles.locator("[data-kpi=mqls] [data-value]")).to_have_text(expected)
    assert page.evaluate("window.__marker") == 1

    page.goto("/o/alpha/dashboard/funnel/?period=last_30_days")
    expect(page.locator(".dash-answer")).to_be_visible()
    screenshot(f"dashboard-funnel-{language}")
    page.goto("/o/alpha/dashboard/attribution/?period=last_30_days&by=campaign&model=w_shaped")
    expect(page.locator("[data-attribution-table] tbody tr").first).to_be_visible()
    screenshot(f"dashboard-attribution-{language}")
    page.goto("/o/alpha/dashboard/targets/")
    page.select_option("select[name=kpi]", "mqls")
    page.select_option("select[name=period_kind]", "week")
    page.fill("input[name=value]", "12")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".dash-table tbody tr")).to_have_count(1)
    screenshot(f"dashboard-targets-{language}")
    page.goto("/o/alpha/dashboard/")
    expect(page.locator("[data-kpi=mqls] .dash-target")).to_be_visible()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_tv_runs_unattended(trio, team, browser, live_server, language):
    trio.alpha.language = language  # the screen speaks the organization's language
    trio.alpha.save(update_fields=["language"])
    with tenant_context(trio.alpha.pk):
        kiosk, token = kiosk_token_create(actor=trio.alice_membership, name="Open space")
    context = browser.new_context(base_url=live_server.url, viewport=FULL_HD, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"/tv/{token}/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        commitments = page.locator(".tv-panel--commitments")
        expect(commitments).to_be_visible()
        expect(page.locator("[data-tv-title]")).to_have_text(
            commitments.get_attribute("data-title")
        )
        expect(commitments.locator(".tv-gauge")).to_have_count(3)
        page.screenshot(path=str(_shot(f"tv-commitments-{language}")))
        current = _report(trio.alpha)["current"]
        for i, name in enumerate(("kpis", "funnel", "hot-leads", "clocks"), start=1):
            page.evaluate(f"window.smarketingTv.show({i})")
            expect(page.locator(f".tv-panel--{name}")).to_be_visible()
            expect(commitments).to_be_hidden()
            if name == "kpis":
                expect(page.locator(".tv-panel--kpis [data-kpi=mqls] [data-value]")).to_have_text(
                    str(current["mqls"])
                )
            page.screenshot(path=str(_shot(f"tv-{name}-{language}")))

        body = page.locator("body")
        stale = body.get_attribute("data-text-stale").split("%s")[0].strip()
        fresh = body.get_attribute("data-text-updated").split("%s")[0].strip()
        # The network drops: the figures stay, the screen says they are stale.
        page.evaluate("window.smarketingTv.show(1)")
        page.route(re.compile(r".*/panel/.*"), lambda route: route.abort())
        page.evaluate("window.smarketingTv.refresh()")
        page.evaluate("window.smarketingTv.refresh()")
        expect(body).to_have_class(re.compile("is-stale"))
        expect(page.locator("[data-tv-status]")).to_contain_text(stale)
        expect(page.locator(".tv-panel--kpis [data-kpi=mqls] [data-value]")).to_have_text(
            str(current["mqls"])
        )
        page.screenshot(path=str(_shot(f"tv-stale-{language}")))
        # It comes back: fresh figures, no stale marker.
        page.unroute(re.compile(r".*/panel/.*"))
        page.evaluate("window.smarketingTv.refresh()")
        expect(body).not_to_have_class(re.compile("is-stale"))
        expect(page.locator("[data-tv-status]")).to_contain_text(fresh)
        # A manager disconnects the screen: it says so instead of showing figures.
        with tenant_context(trio.alpha.pk):
            kiosk_token_revoke(actor=trio.alice_membership, kiosk_token=kiosk)
        page.evaluate("window.smarketingTv.refresh()")
        expect(page.locator("[data-tv-revoked]")).to_be_visible()
        expect(page.locator(".tv-main")).to_be_hidden()
    finally:
        context.close()


def _shot(name):
    from tests.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
