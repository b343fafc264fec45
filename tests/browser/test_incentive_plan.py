"""A manager creates a bonus plan with tiers in the browser, reads a rep's statement
line by line."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads import services as lead_services
from leads.models import Lead
from smarketing.tenancy.db import tenant_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, user, password, next_url):
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"**{next_url}")


def test_a_manager_sets_up_a_plan_and_reads_a_statement(trio, page, screenshot, password):
    trio.alice.language = "en"
    trio.alice.save()
    won_at = timezone.now() - timedelta(minutes=5)
    with tenant_context(trio.alpha.pk):
        lead = Lead.objects.for_org(trio.alpha).create(
            email="buyer@client.test", owner=trio.bob, created_at=won_at
        )
        deal = lead_services.deal_create(
            actor=trio.alice_membership,
            organization=trio.alpha,
            name="Big one",
            amount=Decimal("30000"),
            lead=lead,
            owner=trio.bob,
            created_at=won_at,
        )
        lead_services.deal_update(
            actor=trio.alice_membership, deal=deal, data={"status": "won", "closed_at": won_at}
        )

    login(page, trio.alice, password, "/o/alpha/incentives/")
    page.get_by_role("link", name="New plan").click()
    page.fill("input[name=name]", "Reps on revenue")
    page.select_option("select[name=team_role]", "sales_rep")
    page.fill("textarea[name=tiers]", "0: 0.05\n20000: 0.08")
    page.fill("input[name=cap]", "5000")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.locator("h1")).to_have_text("Reps on revenue")
    expect(page.locator("table")).to_contain_text("Bob Durand")
    screenshot("incentives-plan")

    page.get_by_role("link", name="Statement").first.click()
    statement = page.locator("[data-statement]")
    # 20 000 × 5 % = 1 000; 10 000 × 8 % = 800 → 1 800
    expect(statement).to_contain_text("1,000.00 EUR")
    expect(statement).to_contain_text("800.00 EUR")
    expect(statement.locator(".statement__total")).to_contain_text("1,800.00 EUR")
    screenshot("incentives-statement")
