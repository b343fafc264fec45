"""Issue 2's flow in a real browser: sign up, invite a member, switch the UI to English
and back to French."""

from __future__ import annotations

import re

import pytest

from smarketing.tenancy.db import system_context
from smarketing.tenancy.models import Invitation, Organization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_invite_and_switch_languages(page, live_server, screenshot):
    page.goto("/accounts/signup/")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.fill("input[name=full_name]", "Inès Garnier")
    page.fill("input[name=email]", "ines@garnier-conseil.fr")
    page.fill("input[name=password1]", "Aligner-ventes-2026")
    page.fill("input[name=password2]", "Aligner-ventes-2026")
    page.fill("input[name=organization_name]", "Garnier Conseil")
    page.press("input[name=organization_name]", "Enter")
    page.wait_for_url(re.compile(r"/o/garnier-conseil/$"))
    screenshot("signup-home-fr")
    org = Organization.objects.get(slug="garnier-conseil")

    page.goto("/o/garnier-conseil/members/")
    page.fill("input[name=email]", "paul@garnier-conseil.fr")
    page.select_option("select[name=role]", "sales_rep")
    page.locator("form.form--inline button[type=submit]").click()
    page.wait_for_load_state()
    assert "/accounts/invitations/" in page.locator("input.copy__input").first.input_value()
    with system_context("test: check the invitation"):
        invitation = Invitation.unscoped.get(organization=org)
    assert (invitation.email, invitation.role) == ("paul@garnier-conseil.fr", "sales_rep")
    screenshot("members-invited-fr")

    # The account menu's language switch: English, then back to French.
    page.locator("summary[aria-label]").last.click()
    page.locator("button[name=language][value=en]").last.click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name=re.compile("Team|Members")).count() >= 1
    screenshot("members-en")
    page.locator("summary[aria-label]").last.click()
    page.locator("button[name=language][value=fr]").last.click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "fr"
