"""Week 3 in a real browser: the draft SLA is on screen; the marketing manager reads the
exact text and signs for marketing; the page shows her signature and that the sales
manager's is awaited; the sales manager signs for sales; the version is in force and
the signed text and both signatures show on the SLA home.

A second test walks the other SLA pages (editor, compliance, the queue's countdowns)
with data, for their screenshots."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead, LifecycleTransition, Stage
from sla import services
from sla.models import Clock, ContractVersion, MarketingCommitment, SalesCommitment
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def member(org, email, name, role):
    user = UserFactory(email=email, full_name=name, language="en")
    MembershipFactory(organization=org, user=user, role=role)
    return user


def draft_for(org):
    with tenant_context(org.pk):
        draft = services.draft_create(actor=None, organization=org)
        services.version_update(
            actor=None,
            version=draft,
            title="Alpha SLA 2027",
            preamble="Marketing and sales share one pipeline. We review this contract "
            "every quarter at the weekly meeting.",
        )
        for data in (
            {"metric": "mql", "target": 40, "period": "month"},
            {"metric": "sql", "target": 3, "period": "week", "grade": "A"},
        ):
            services.marketing_commitment_add(actor=None, version=draft, data=data)
        services.sales_commitment_add(
            actor=None,
            version=draft,
            data={
                "label": "Demo requests",
                "trigger": "event",
                "event_type": "demo_request",
                "response_minutes": 120,
                "business_time": True,
            },
        )
        services.sales_commitment_add(
            actor=None,
            version=draft,
            data={"trigger": "became_mql", "response_minutes": 480, "business_time": True},
        )
        return draft


def log_in(page, user, password, next_url):
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"**{next_url}")


def test_both_heads_sign_the_contract(trio, page, browser, live_server, screenshot, password):
    org = trio.alpha
    mia = member(org, "mia@alpha.test", "Mia Lefèvre", Role.MARKETING_MANAGER)
    sam = member(org, "sam@alpha.test", "Sam Girard", Role.SALES_MANAGER)
    draft = draft_for(org)
    version_url = f"/o/alpha/sla/v/{draft.pk}/"

    # The marketing manager opens the draft from the SLA home.
    log_in(page, mia, password, "/o/alpha/sla/")
    expect(page.get_by_text("No contract in force yet")).to_be_visible()
    page.get_by_role("link", name="Open draft v1").click()
    page.wait_for_url(f"**{version_url}")
    expect(page.get_by_text("Marketing delivers 40 MQLs per month.")).to_be_visible()
    expect(page.get_by_role("link", name="Sign for sales")).to_have_count(0)
    screenshot("sla-draft-editor")

    page.get_by_role("link", name="Sign for marketing").click()
    page.wait_for_url("**/sign/marketing/")
    terms = page.get_by_test_id("terms-text")
    expect(terms).to_contain_text("Alpha SLA 2027")
    expect(terms).to_contain_text("Demo request")
    screenshot("sla-sign-marketing")
    page.get_by_role("button", name="I sign for marketing").click()
    page.wait_for_url(f"**{version_url}")
    signatures = page.get_by_test_id("signatures").first
    expect(signatures.locator("[data-side=marketing]")).to_contain_text("Mia Lefèvre")
    expect(signatures.locator("[data-side=sales]")).to_contain_text(
        "Awaiting the sales manager's signature"
    )
    expect(page.get_by_text("Add a marketing commitment")).to_have_count(0)  # locked
    screenshot("sla-signed-marketing")

    # The sales manager, in another browser session.
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, locale="en-GB"
    )
    other = context.new_page()
    try:
        log_in(other, sam, password, version_url)
        expect(other.get_by_role("link", name="Sign for marketing")).to_have_count(0)
        other.get_by_role("link", name="Sign for sales").click()
        other.wait_for_url("**/sign/sales/")
        expect(
            other.get_by_text("with your signature the contract comes into force")
        ).to_be_visible()
        other.get_by_role("button", name="I sign for sales").click()
        other.wait_for_url(f"**{version_url}")
        expect(other.get_by_text("Signed by both heads: version 1 is in force.")).to_be_visible()
    finally:
        context.close()

    with tenant_context(org.pk):
        version = ContractVersion.objects.for_org(org).get(pk=draft.pk)
    assert version.status == ContractVersion.Status.ACTIVE
    assert version.marketing_signed_by_id == mia.pk and version.sales_signed_by_id == sam.pk

    # The SLA home: the contract in force, its signed text and both signatures.
    page.goto("/o/alpha/sla/")
    expect(page.get_by_text("In force since")).to_be_visible()
    contract = page.locator("#contract")
    expect(contract.locator("[data-side=marketing]")).to_contain_text("Mia Lefèvre")
    expect(contract.locator("[data-side=sales]")).to_contain_text("Sam Girard")
    contract.get_by_text("The signed text").click()
    expect(contract.get_by_test_id("signed-text")).to_contain_text("Alpha SLA 2027")
    expect(page.get_by_test_id("gauge").first).to_be_visible()
    screenshot("sla-home-active")


def seed_activity(org, reps, version):
    """Leads with clocks: some met, some breached, some running."""
    now = timezone.now()
    with tenant_context(org.pk):
        demo, mql = (
            SalesCommitment.objects.for_org(org).filter(version=version).order_by("position")
        )
        people = [
            "Claire Moreau",
            "Hugo Bernard",
            "Inès Leroy",
            "Paul Martin",
            "Léa Fontaine",
            "Marc Petit",
            "Julie Roux",
            "Nina Garnier",
        ]
        leads = []
        for i, name in enumerate(people):
            first, last = name.split(" ")
            lead = Lead.objects.create(
                organization=org,
                email=f"{first.lower()}.{last.lower()}@exemple.fr".replace("è", "e").replace(
                    "é", "e"
                ),
                first_name=first,
                last_name=last,
                stage=Stage.MQL,
                owner=reps[i % len(reps)],
                score=90 - i * 7,
                grade="ABC"[i % 3],
            )
            LifecycleTransition.objects.create(
                organization=org,
                lead=lead,
                from_stage="lead",
                to_stage="mql",
                at=now - timedelta(days=i),
            )
            leads.append(lead)
        rows = []
        for weeks in range(8):
            for j in range(6):
                start = now - timedelta(weeks=weeks, days=1, hours=j)
                met = (j + weeks) % 4 != 0
                rows.append(
                    Clock(
                        organization=org,
                        lead=leads[j % len(leads)],
                        commitment=demo if j % 2 else mql,
                        owner=reps[j % len(reps)],
                        status="met" if met else "breached",
                        started_at=start,
                        warn_at=start + timedelta(minutes=90),
                        due_at=start + timedelta(hours=2),
                        # A breach still records the touch that came late.
                        touched_at=start + timedelta(minutes=35 + 9 * j if met else 160),
                        breached_at=None if met else start + timedelta(hours=2),
                    )
                )
        Clock.objects.bulk_create(rows)
        # Open clocks on the queue's leads: one comfortable, one at risk, one breached.
        for lead, (status, due) in zip(
            leads[:3],
            [
                ("running", timedelta(minutes=72)),
                ("warned", timedelta(minutes=14)),
                ("breached", -timedelta(minutes=25)),
            ],
            strict=True,
        ):
            Clock.objects.create(
                organization=org,
                lead=lead,
                commitment=demo,
                owner=lead.owner,
                status=status,
                started_at=now - timedelta(minutes=20),
                warn_at=now - timedelta(minutes=1)
                if status != "running"
                else now + timedelta(minutes=40),
                due_at=now + due,
                breached_at=now + due if status == "breached" else None,
            )
        return leads[0]


@pytest.fixture
def working_hours():
    """The server's clock on the next weekday at 11:00 in Paris (ticking): business
    clocks count down. Ahead of real time, so session cookies stay valid; the countdown
    script reads the server's render time, not the browser's clock."""
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    day = timezone.now().astimezone(paris).date() + timedelta(days=1)
    while day.weekday() >= 5 or (day.month, day.day) in {(12, 25), (1, 1), (5, 1)}:
        day += timedelta(days=1)
    with time_machine.travel(datetime.combine(day, time(11, 0), tzinfo=paris), tick=True):
        yield


def test_sla_pages_with_data(trio, page, screenshot, password, working_hours):
    org = trio.alpha
    mia = member(org, "mia@alpha.test", "Mia Lefèvre", Role.MARKETING_MANAGER)
    sam = member(org, "sam@alpha.test", "Sam Girard", Role.SALES_MANAGER)
    rep = member(org, "rita@alpha.test", "Rita Dubois", Role.SALES_REP)
    draft = draft_for(org)
    with tenant_context(org.pk):
        services.sign(version=draft, user=mia, side="marketing")
        active = services.sign(version=draft, user=sam, side="sales")
    clocks_lead = seed_activity(org, [trio.bob, rep], active)
    with tenant_context(org.pk):
        next_draft = services.draft_create(actor=None, organization=org)
        mql = MarketingCommitment.objects.for_org(org).filter(version=next_draft).first()
        services.marketing_commitment_update(
            actor=None, commitment=mql, data={"metric": "mql", "target": 50, "period": "month"}
        )
    trio.alice.language = "en"
    trio.alice.save(update_fields=["language"])

    log_in(page, trio.alice, password, "/o/alpha/sla/")
    screenshot("sla-home")
    page.goto("/o/alpha/sla/compliance/")
    expect(page.get_by_test_id("compliance-rate")).to_be_visible()
    screenshot("sla-compliance")
    page.goto("/o/alpha/sla/history/")
    screenshot("sla-history")
    page.clock.install()  # the browser's timers, driven by the test
    page.goto("/o/alpha/leads/?tab=all")
    badges = page.locator("[data-sla-clock]")
    expect(badges.nth(0)).to_have_text("1 h 12 min left")
    expect(badges.nth(1)).to_have_text("14 min left")
    expect(badges.nth(1)).to_have_class(re.compile("sla-clock--warned"))
    expect(badges.nth(2)).to_have_text("breached 25 min ago")
    screenshot("sla-queue-countdowns")
    # Ten minutes later, without a request: the countdowns tick in the page.
    page.clock.fast_forward("10:00")
    expect(badges.nth(0)).to_have_text("1 h 2 min left")
    expect(badges.nth(1)).to_have_text("4 min left")
    expect(badges.nth(2)).to_have_text("breached 35 min ago")
    # Past its warning time the running clock turns amber and asks the server (htmx)
    # for its fresh state.
    with page.expect_request(f"**/o/alpha/sla/leads/{clocks_lead.pk}/clock/"):
        page.clock.fast_forward("35:00")
    page.goto(f"/o/alpha/leads/{clocks_lead.pk}/")
    expect(page.locator(".lead-header__badges [data-sla-clock]")).to_have_text("1 h 12 min left")
    screenshot("sla-lead-countdown")
    page.goto(f"/o/alpha/sla/v/{next_draft.pk}/")
    page.get_by_role("link", name="Edit").first.click()
    expect(page.locator("#marketing-card form.sla-commitment-form").first).to_be_visible()
    screenshot("sla-editor-inline")
    # A sales commitment: the event type shows for "the lead does…" only; a refusal
    # comes back as the card with its field errors.
    sales = page.locator("#sales-card")
    sales.get_by_text("Add a sales commitment").click()
    event_type = sales.locator("#sc-new-event_type")
    sales.locator("#sc-new-trigger").select_option("became_mql")
    expect(event_type).to_be_hidden()
    sales.locator("#sc-new-trigger").select_option("event")
    expect(event_type).to_be_visible()
    sales.get_by_role("button", name="Add the commitment").click()
    expect(page.locator("#sales-card .field__error").first).to_be_visible()
    screenshot("sla-editor-sales-errors")
    page.locator("#sales-card #sc-new-event_type").select_option("meeting_booked")
    page.locator("#sales-card #sc-new-response_minutes").fill("30")
    page.locator("#sales-card").get_by_role("button", name="Add the commitment").click()
    expect(page.locator("#sales-card")).to_contain_text(
        "Sales responds to every “Meeting booked” within 30 min (business hours)."
    )
