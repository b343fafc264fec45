"""The integrations pages in a real browser: connect a tool, read its health, add an
outbound webhook and copy its secret once. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from integrations.models import Connection, WebhookSubscription
from smarketing.tenancy.db import tenant_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, user, password, next_url):
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"**{next_url}")


def test_connect_and_add_a_webhook(
    trio, password, page, screenshot, fake_connector, local_server, dispatched
):
    home = "/o/alpha/settings/integrations/"
    _login(page, trio.alice, password, home)
    expect(page.get_by_text("Test vendor")).to_be_visible()
    screenshot("integrations-home")

    page.goto(f"{home}connect/testvendor/")
    page.fill("input[name=name]", "Main")
    page.fill("input[name=api_key]", "sk_browser_secret_123456")
    page.fill("input[name=base_url]", local_server.url)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url("**/settings/integrations/*/")
    expect(page.locator("body")).not_to_contain_text("sk_browser_secret_123456")
    expect(page.locator("body")).to_contain_text("••••3456")
    screenshot("integrations-connection")
    with tenant_context(trio.alpha.pk):
        assert Connection.objects.for_org(trio.alpha).get().name == "Main"

    page.goto(f"{home}webhooks/")
    page.fill("input[name=url]", f"{local_server.url}/hook")
    page.locator("input[name=event_types][value='lead.mql']").check()
    page.locator("input[name=event_types][value='deal.won']").check()
    page.locator("form.form button[type=submit]").click()
    secret = page.locator("#webhook-secret").input_value()
    assert secret.startswith("whsec_")
    screenshot("integrations-webhook-secret")
    with tenant_context(trio.alpha.pk):
        subscription = WebhookSubscription.objects.for_org(trio.alpha).get()
    assert subscription.event_types == ["lead.mql", "deal.won"]
    page.goto(f"{home}webhooks/{subscription.pk}/")
    expect(page.locator("body")).not_to_contain_text(secret)
    screenshot("integrations-webhook")
