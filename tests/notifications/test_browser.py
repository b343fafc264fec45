"""The bell and the inbox in a real browser: marking all read updates the bell in
place (HTMX out-of-band swap), without a page load."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from smarketing.notifications import tasks
from smarketing.notifications.services import notify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )


def test_mark_all_read_clears_the_bell(trio, page, live_server, screenshot, monkeypatch):
    monkeypatch.setattr(tasks.send_notification_emails, "delay", lambda *a: None)
    trio.bob.language = "en"  # the button is found by its English name
    trio.bob.save()
    for i in range(3):
        notify(
            organization=trio.alpha,
            recipients=[trio.bob],
            kind="lead.hot",
            title=f"Lead {i} is hot",
            body="Score 92",
            url="/o/alpha/notifications/preferences/",
            dedupe_key=f"lead.hot:{i}",
        )
    _log_in(page, live_server, trio.bob)
    page.goto("/o/alpha/notifications/")
    badge = page.locator("#notification-bell .bell__badge")
    assert badge.inner_text() == "3"
    assert page.locator(".inbox__item--unread").count() == 3
    screenshot("notifications-inbox")
    page.get_by_role("button", name="Mark all as read").click()
    page.locator(".inbox__item--unread").first.wait_for(state="detached")
    assert badge.count() == 0
    assert page.locator("#notification-bell").count() == 1
    # Opening a notification lands on its link.
    page.locator(".inbox__item button").first.click()
    page.wait_for_url("**/notifications/preferences/")
    screenshot("notifications-preferences")
