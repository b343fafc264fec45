"""The sales rep's round trip in a real browser: log in, open the queue, open a lead,
read its timeline (with the level of the content it downloaded), reject it with a
reason, and find the rejection counted in the marketing view of sales decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads import services
from leads.ingest import ingest_events
from leads.models import Content, Decision, Lead, Stage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def ago(**delta) -> str:
    return (timezone.now() - timedelta(**delta)).isoformat()


def seed(org, owner, manager) -> Lead:
    """Claire, an MQL owned by bob who just downloaded a beginner guide, and a few
    other leads so that the queue looks like a working day."""
    Content.objects.create(
        organization=org,
        key="guide-debutant",
        title="Le guide du débutant",
        type=Content.Type.GUIDE,
        level=Content.Level.BEGINNER,
        funnel_stage=Content.FunnelStage.AWARENESS,
    )
    Content.objects.create(
        organization=org,
        key="api-deep-dive",
        title="L'API en profondeur",
        type=Content.Type.WHITE_PAPER,
        level=Content.Level.EXPERT,
        funnel_stage=Content.FunnelStage.DECISION,
    )
    people = [
        ("claire.moreau@exemple.fr", "Claire", "Moreau", "Responsable marketing", "Exemple SA"),
        ("hugo.bernard@acme.fr", "Hugo", "Bernard", "CTO", "Acme Industrie"),
        ("ines.leroy@nova.io", "Inès", "Leroy", "Directrice commerciale", "Nova"),
        ("paul.martin@boreal.fr", "Paul", "Martin", "Head of Growth", "Boréal"),
    ]
    events = []
    for i, (email, first, last, title, company) in enumerate(people):
        events.append(
            {
                "id": f"seen-{i}",
                "type": "page_view",
                "occurred_at": ago(days=3, hours=i),
                "email": email,
                "first_name": first,
                "last_name": last,
                "title": title,
                "company": company,
                "company_domain": email.split("@")[1],
                "url": "https://exemple.fr/",
            }
        )
    events += [
        {
            "id": "claire-pricing",
            "type": "page_view",
            "occurred_at": ago(days=1),
            "email": "claire.moreau@exemple.fr",
            "url": "https://exemple.fr/tarifs",
            "properties": {"title": "Tarifs"},
        },
        {
            "id": "claire-guide",
            "type": "content_download",
            "occurred_at": ago(hours=2),
            "email": "claire.moreau@exemple.fr",
            "content": "guide-debutant",
        },
        {
            "id": "paul-checklist",
            "type": "content_download",
            "occurred_at": ago(days=1, hours=3),
            "email": "paul.martin@boreal.fr",
            "content": "checklist-rgpd",  # unknown: created unclassified
        },
        {
            "id": "hugo-api",
            "type": "content_download",
            "occurred_at": ago(hours=6),
            "email": "hugo.bernard@acme.fr",
            "content": "api-deep-dive",
        },
    ]
    ingest_events(organization=org, events=events, source="api")
    leads = {lead.email: lead for lead in Lead.objects.for_org(org)}
    scores = {
        "claire.moreau@exemple.fr": (72, "B", False),
        "hugo.bernard@acme.fr": (88, "A", True),
        "ines.leroy@nova.io": (65, "B", False),
        "paul.martin@boreal.fr": (58, "C", False),
    }
    for email, (score, grade, hot) in scores.items():
        lead = leads[email]
        services.lead_mark_mql(lead=lead, reason=f"score {score}")
        services.lead_update(actor=manager, lead=lead, data={"owner": owner.pk})
        # What scoring writes.
        Lead.objects.for_org(org).filter(pk=lead.pk).update(
            score=score, grade=grade, hot=hot, hot_since=timezone.now() if hot else None
        )
    return leads["claire.moreau@exemple.fr"]


def test_a_rep_rejects_a_lead_and_marketing_sees_the_rejection(
    trio, as_org, page, live_server, screenshot, password
):
    trio.bob.language = "en"  # the page is read through its English labels
    trio.bob.save()
    with as_org(trio.alpha):
        claire = seed(trio.alpha, trio.bob, trio.alice_membership)

    page.goto("/accounts/login/?next=/o/alpha/leads/")
    page.fill("input[name=username]", trio.bob.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url("**/o/alpha/leads/")

    rows = page.locator("#queue tbody tr")
    assert rows.count() == 4
    assert "Hugo Bernard" in rows.first.inner_text()  # hot first
    screenshot("leads-queue")

    # Filters apply as one types, and stay in the URL.
    page.fill("input[name=q]", "moreau")
    page.wait_for_url("**q=moreau**")
    expect(rows).to_have_count(1)
    page.fill("input[name=q]", "")
    expect(rows).to_have_count(4)

    # Quick actions work in place: the row re-renders, the page stays.
    ines = page.locator("#queue tbody tr", has_text="Inès Leroy")
    ines.get_by_role("button", name="Accept").click()
    page.locator("#queue tr.row--done", has_text="Inès Leroy").wait_for()
    assert "SAL" in page.locator("#queue tr", has_text="Inès Leroy").inner_text()
    paul = page.locator("#queue tbody tr", has_text="Paul Martin")
    paul.get_by_title("Log a call").click()
    paul.locator("input[name=subject]").fill("Left a voicemail")
    paul.get_by_role("button", name="Log the call").click()
    page.locator("#queue tr.row--done", has_text="Call logged.").wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(f"#lead-{claire.pk} summary", has_text="Reject").click()
    screenshot("leads-queue-actions")
    page.locator(f"#lead-{claire.pk} summary", has_text="Reject").click()

    page.get_by_role("link", name="Claire Moreau").click()
    page.wait_for_url(f"**/o/alpha/leads/{claire.pk}/")
    timeline = page.locator("#timeline")
    guide = timeline.locator(".timeline__item", has_text="Le guide du débutant")
    assert guide.locator(".badge--level-beginner").inner_text() == "Beginner"
    assert page.locator(".talk-track__headline").inner_text() == "Start with discovery"
    screenshot("leads-detail")

    # Rejecting without a reason is refused in place, then with one it works.
    page.get_by_role("button", name="Reject", exact=True).click()
    page.locator(".decision-card .field__error").wait_for()
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=claire.pk).stage == Stage.MQL
    page.select_option("select[name=reason]", "bad_timing")
    page.fill("textarea[name=comment]", "Budget voted in January.")
    page.get_by_role("button", name="Reject", exact=True).click()
    page.locator(".alert--success", has_text="Bad timing").wait_for()
    assert page.locator(".lead-header__badges .badge--stage").inner_text() == "Recycled"
    assert "Budget voted in January." in timeline.inner_text()
    screenshot("leads-detail-rejected")
    with as_org(trio.alpha):
        decision = Decision.objects.for_org(trio.alpha).get(lead=claire)
        assert (decision.kind, decision.reason, decision.by_id) == (
            "reject",
            "bad_timing",
            trio.bob.pk,
        )

    page.goto("/o/alpha/leads/decisions/")
    assert page.get_by_test_id("rejected-total").inner_text() == "1"
    assert "50 %" in page.locator(".stats").inner_text()  # Inès accepted, Claire rejected
    assert "Bad timing" in page.locator("svg.chart").text_content()
    by_content = page.locator("#by-content")
    assert "Le guide du débutant" in by_content.inner_text()
    screenshot("leads-decisions")

    page.goto("/o/alpha/leads/content/")
    assert page.locator("#library tbody tr").count() == 3
    assert page.locator("#library .row--warn").count() == 1  # the unclassified checklist
    screenshot("leads-content")

    # The same pages speak French (longer labels must still fit).
    trio.bob.language = "fr"
    trio.bob.save()
    page.goto("/o/alpha/leads/?tab=all&stage=any")
    assert page.locator("h1").inner_text() != "Sales queue"
    screenshot("leads-queue-fr")
    page.goto(f"/o/alpha/leads/{claire.pk}/")
    screenshot("leads-detail-fr")
