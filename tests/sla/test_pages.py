"""The SLA pages: the home (contract in force, compliance per commitment, pacing
gauges), a version's page (the draft's editor through HTMX, signed versions read-only),
the signing step for each head, the history, the compliance page, and the countdown
badge on the sales queue and the lead page.

alice (owner) manages but signs for neither team; mia (marketing manager) signs for
marketing only, sam (sales manager) for sales only; bob (sales rep) and vic (viewer)
read everything and change nothing (403); charlie (outsider) gets 404 on every page and
on alpha's ids from his own organization.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from leads.models import Lead, LifecycleTransition, Stage
from sla import services
from sla.models import (
    BusinessCalendar,
    Clock,
    ContractVersion,
    Holiday,
    MarketingCommitment,
    SalesCommitment,
)
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def url(name: str, org: str = "alpha", **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": org, **kwargs})


def target(card: str) -> dict:
    return {**HTMX, "HTTP_HX_TARGET": card}


@pytest.fixture(autouse=True)
def english(trio):
    for user in (trio.alice, trio.bob, trio.charlie):
        user.language = "en"
        user.save(update_fields=["language"])
    with translation.override("en"):
        yield


@pytest.fixture
def people(trio):
    """The two heads and a viewer in alpha."""

    def member(email, name, role):
        user = UserFactory(email=email, full_name=name, language="en")
        MembershipFactory(organization=trio.alpha, user=user, role=role)
        return user

    trio.mia = member("mia@alpha.test", "Mia Lefèvre", Role.MARKETING_MANAGER)
    trio.sam = member("sam@alpha.test", "Sam Girard", Role.SALES_MANAGER)
    trio.vic = member("vic@alpha.test", "Vic Morel", Role.VIEWER)
    return trio


def make_draft(org):
    with tenant_context(org.pk):
        draft = services.draft_create(actor=None, organization=org)
        services.version_update(actor=None, version=draft, preamble="Together we grow.")
        services.marketing_commitment_add(
            actor=None, version=draft, data={"metric": "mql", "target": 40, "period": "month"}
        )
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
        return draft


def sign_both(org, version, people):
    with tenant_context(org.pk):
        services.sign(version=version, user=people.mia, side="marketing")
        return services.sign(version=version, user=people.sam, side="sales")


@pytest.fixture
def draft(people):
    return make_draft(people.alpha)


@pytest.fixture
def active(people, draft):
    """v1, signed by mia and sam: in force."""
    return sign_both(people.alpha, draft, people)


def commitments(org, version):
    with tenant_context(org.pk):
        return (
            list(MarketingCommitment.objects.for_org(org).filter(version=version)),
            list(SalesCommitment.objects.for_org(org).filter(version=version)),
        )


def version_of(org, pk) -> ContractVersion:
    with tenant_context(org.pk):
        return ContractVersion.objects.for_org(org).get(pk=pk)


# --- Every page, every role -----------------------------------------------------------


def read_pages(version, marketing, sales) -> list[str]:
    return [
        url("sla-home"),
        url("sla-history"),
        url("sla-compliance"),
        url("sla-version", version_id=version.pk),
    ]


@pytest.mark.parametrize("who", ["alice", "bob", "mia", "sam", "vic"])
def test_every_member_reads_every_page(people, active, client_for, who):
    marketing, sales = commitments(people.alpha, active)
    client = client_for(getattr(people, who))
    for page in read_pages(active, marketing[0], sales[0]):
        response = client.get(page)
        assert response.status_code == 200, page


def test_outsider_gets_404_everywhere(people, active, client_for):
    marketing, sales = commitments(people.alpha, active)
    with tenant_context(people.alpha.pk):
        lead = Lead.objects.create(organization=people.alpha, email="x@y.fr")
    client = client_for(people.charlie)
    pages = [
        *read_pages(active, marketing[0], sales[0]),
        url("sla-sign", version_id=active.pk, side="marketing"),
        url("sla-marketing", commitment_id=marketing[0].pk),
        url("sla-sales", commitment_id=sales[0].pk),
        url("sla-lead-clock", lead_id=lead.pk),
    ]
    for page in pages:
        assert client.get(page).status_code == 404, page
    posts = [
        url("sla-draft-new"),
        url("sla-terms", version_id=active.pk),
        url("sla-marketing-add", version_id=active.pk),
        url("sla-marketing-delete", commitment_id=marketing[0].pk),
        url("sla-sales-delete", commitment_id=sales[0].pk),
        url("sla-calendar", version_id=active.pk),
        url("sla-holiday-add", version_id=active.pk),
        url("sla-holidays-prefill", version_id=active.pk),
        url("sla-holiday-delete", version_id=active.pk, day="2026-05-01"),
    ]
    for page in posts:
        assert client.post(page, {}).status_code == 404, page
    # alpha's ids through charlie's own organization: 404 too.
    own = [
        url("sla-version", org="charlie", version_id=active.pk),
        url("sla-marketing", org="charlie", commitment_id=marketing[0].pk),
        url("sla-lead-clock", org="charlie", lead_id=lead.pk),
    ]
    for page in own:
        assert client.get(page).status_code == 404, page


@pytest.mark.parametrize("who", ["bob", "vic"])
def test_readers_change_nothing(people, draft, client_for, who):
    marketing, sales = commitments(people.alpha, draft)
    client = client_for(getattr(people, who))
    posts = {
        url("sla-draft-new"): {},
        url("sla-terms", version_id=draft.pk): {"title": "Hacked", "preamble": ""},
        url("sla-marketing-add", version_id=draft.pk): {
            "metric": "sql",
            "target": 5,
            "period": "week",
        },
        url("sla-marketing", commitment_id=marketing[0].pk): {
            "metric": "sql",
            "target": 5,
            "period": "week",
        },
        url("sla-marketing-delete", commitment_id=marketing[0].pk): {},
        url("sla-sales-delete", commitment_id=sales[0].pk): {},
        url("sla-calendar", version_id=draft.pk): {"time_zone": "Europe/Paris"},
        url("sla-holiday-add", version_id=draft.pk): {"day": "2026-12-31"},
        url("sla-holidays-prefill", version_id=draft.pk): {},
    }
    for page, data in posts.items():
        assert client.post(page, data).status_code == 403, page
    assert client.get(url("sla-marketing", commitment_id=marketing[0].pk)).status_code == 403
    for side in ("marketing", "sales"):
        assert client.get(url("sla-sign", version_id=draft.pk, side=side)).status_code == 403
        assert client.post(url("sla-sign", version_id=draft.pk, side=side)).status_code == 403
    assert version_of(people.alpha, draft.pk).title != "Hacked"
    assert commitments(people.alpha, draft) == (marketing, sales)


def test_editor_shows_forms_only_to_managers(people, draft, client_for):
    page = url("sla-version", version_id=draft.pk)
    body = client_for(people.alice).get(page).content.decode()
    assert "Add a marketing commitment" in body
    assert "Prefill French public holidays" in body
    body = client_for(people.bob).get(page).content.decode()
    assert "Add a marketing commitment" not in body
    assert "Marketing delivers 40 MQLs per month." in body
    assert "Sales responds to every “Demo request” within 2 h (business hours)." in body


# --- Signing --------------------------------------------------------------------------


def test_only_a_marketing_manager_signs_for_marketing(people, draft, client_for):
    for who in ("alice", "sam", "bob"):
        client = client_for(getattr(people, who))
        assert client.get(url("sla-sign", version_id=draft.pk, side="marketing")).status_code == 403
    for who in ("alice", "mia", "bob"):
        client = client_for(getattr(people, who))
        assert client.get(url("sla-sign", version_id=draft.pk, side="sales")).status_code == 403
    version = version_of(people.alpha, draft.pk)
    assert version.marketing_signed_at is None and version.sales_signed_at is None


def test_the_sign_buttons_follow_the_roles(people, draft, client_for):
    home = client_for(people.sam).get(url("sla-home")).content.decode()
    assert "Read and sign for sales" in home and "sign for marketing" not in home
    assert "Read and sign" not in client_for(people.alice).get(url("sla-home")).content.decode()
    page = url("sla-version", version_id=draft.pk)
    mia = client_for(people.mia).get(page).content.decode()
    assert "Sign for marketing" in mia and "Sign for sales" not in mia
    sam = client_for(people.sam).get(page).content.decode()
    assert "Sign for sales" in sam and "Sign for marketing" not in sam
    alice = client_for(people.alice).get(page).content.decode()
    assert "Sign for" not in alice
    assert "Awaiting the marketing manager" in alice


def test_two_signatures_put_the_version_in_force(people, draft, client_for):
    mia = client_for(people.mia)
    confirm = mia.get(url("sla-sign", version_id=draft.pk, side="marketing"))
    assert confirm.status_code == 200
    text = confirm.context["text"]
    assert "40" in text and "Together we grow." in text
    assert text in confirm.content.decode().replace("<br>", "\n") or "Together we grow." in (
        confirm.content.decode()
    )
    response = mia.post(
        url("sla-sign", version_id=draft.pk, side="marketing"),
        {"terms_hash": confirm.context["terms_hash"]},
    )
    assert response.status_code == 302
    version = version_of(people.alpha, draft.pk)
    assert version.marketing_signed_by_id == people.mia.pk
    assert version.status == ContractVersion.Status.DRAFT
    page = client_for(people.alice).get(url("sla-version", version_id=draft.pk))
    body = page.content.decode()
    assert "Mia Lefèvre" in body and "Awaiting the sales manager" in body
    # Signed on one side: the terms are locked.
    assert "Add a marketing commitment" not in body

    sam = client_for(people.sam)
    confirm = sam.get(url("sla-sign", version_id=draft.pk, side="sales"))
    assert confirm.context["text"] == text
    response = sam.post(
        url("sla-sign", version_id=draft.pk, side="sales"),
        {"terms_hash": confirm.context["terms_hash"]},
    )
    assert response.status_code == 302
    version = version_of(people.alpha, draft.pk)
    assert version.status == ContractVersion.Status.ACTIVE
    assert version.signed_text == text
    home = client_for(people.bob).get(url("sla-home")).content.decode()
    assert "Mia Lefèvre" in home and "Sam Girard" in home
    assert "In force since" in home


def test_signing_changed_terms_is_refused(people, draft, client_for):
    mia = client_for(people.mia)
    confirm = mia.get(url("sla-sign", version_id=draft.pk, side="marketing"))
    with tenant_context(people.alpha.pk):
        services.version_update(actor=None, version=draft, preamble="Something else.")
    response = mia.post(
        url("sla-sign", version_id=draft.pk, side="marketing"),
        {"terms_hash": confirm.context["terms_hash"]},
    )
    assert response.status_code == 409
    assert "Something else." in response.content.decode()
    assert version_of(people.alpha, draft.pk).marketing_signed_at is None


def test_signed_versions_are_read_only(people, active, client_for):
    marketing, _sales = commitments(people.alpha, active)
    client = client_for(people.alice)
    body = client.get(url("sla-version", version_id=active.pk)).content.decode()
    assert "Add a marketing commitment" not in body
    assert "Propose changes (new draft)" in body
    response = client.post(
        url("sla-marketing", commitment_id=marketing[0].pk),
        {"metric": "mql", "target": 99, "period": "month"},
        **target("marketing-card"),
    )
    assert response.status_code == 422
    assert "signed" in response.content.decode()
    assert commitments(people.alpha, active)[0][0].target == 40
    assert client.post(url("sla-calendar", version_id=active.pk), {}).status_code == 403
    # Editing starts a new draft that copies the version in force.
    response = client.post(url("sla-draft-new"))
    assert response.status_code == 302
    with tenant_context(people.alpha.pk):
        new = ContractVersion.objects.for_org(people.alpha).get(status="draft")
    assert new.number == 2
    assert response["Location"] == url("sla-version", version_id=new.pk)
    assert [c.target for c in commitments(people.alpha, new)[0]] == [40]


# --- The editor through HTMX ----------------------------------------------------------


def test_add_edit_remove_a_marketing_commitment(people, draft, client_for):
    client = client_for(people.alice)
    response = client.post(
        url("sla-marketing-add", version_id=draft.pk),
        {"metric": "sql", "target": "12", "period": "week", "grade": "A", "source": "webinar"},
        **target("marketing-card"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="marketing-card"' in body and "<html" not in body
    assert "Marketing delivers 12 SQLs per week (grade A, from Webinar)." in body
    added = commitments(people.alpha, draft)[0][-1]
    form = client.get(url("sla-marketing", commitment_id=added.pk), **target("marketing-card"))
    assert 'value="12"' in form.content.decode()
    response = client.post(
        url("sla-marketing", commitment_id=added.pk),
        {"metric": "sql", "target": "15", "period": "week"},
        **target("marketing-card"),
    )
    assert "Marketing delivers 15 SQLs per week." in response.content.decode()
    response = client.post(
        url("sla-marketing-delete", commitment_id=added.pk), **target("marketing-card")
    )
    assert response.status_code == 200
    assert [c.target for c in commitments(people.alpha, draft)[0]] == [40]


def test_bad_input_is_422_with_field_errors(people, draft, client_for):
    client = client_for(people.alice)
    response = client.post(
        url("sla-marketing-add", version_id=draft.pk),
        {"metric": "mql", "target": "0", "period": "month"},
        **target("marketing-card"),
    )
    assert response.status_code == 422
    assert "field--error" in response.content.decode()
    response = client.post(
        url("sla-sales-add", version_id=draft.pk),
        {"trigger": "event", "response_minutes": "30", "warn_percent": "75"},
        **target("sales-card"),
    )
    assert response.status_code == 422
    assert "Choose the event that starts the clock." in response.content.decode()
    response = client.post(
        url("sla-calendar", version_id=draft.pk),
        {"time_zone": "Europe/Paris", "day_0": "18:00-09:00"},
        **target("calendar-card"),
    )
    assert response.status_code == 422
    assert "ends before it starts" in response.content.decode()
    # Without htmx: the page, 400.
    response = client.post(
        url("sla-marketing-add", version_id=draft.pk), {"metric": "nope", "target": "3"}
    )
    assert response.status_code == 400
    assert len(commitments(people.alpha, draft)[0]) == 1


def test_sales_commitment_and_calendar(people, draft, client_for):
    client = client_for(people.alice)
    response = client.post(
        url("sla-sales-add", version_id=draft.pk),
        {
            "label": "New MQLs",
            "trigger": "became_mql",
            "response_minutes": "240",
            "warn_percent": "80",
            "escalation_minutes": "30",
        },
        **target("sales-card"),
    )
    assert response.status_code == 200
    assert "Sales responds to every new MQL within 4 h (round the clock)." in (
        response.content.decode()
    )
    hours = {f"day_{d}": "09:00–12:30, 14:00–18:00" for d in range(5)}
    response = client.post(
        url("sla-calendar", version_id=draft.pk),
        {"time_zone": "Europe/Brussels", **hours},
        **target("calendar-card"),
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    version = version_of(people.alpha, draft.pk)
    assert version.calendar_time_zone == "Europe/Brussels"
    assert version.calendar_hours["0"] == [["09:00", "12:30"], ["14:00", "18:00"]]
    assert version.calendar_hours["6"] == []
    with tenant_context(people.alpha.pk):  # the live calendar waits for the signatures
        calendar = BusinessCalendar.objects.for_org(people.alpha).get()
    assert calendar.time_zone == "Europe/Paris"
    response = client.post(
        url("sla-holiday-add", version_id=draft.pk),
        {"day": "2031-03-03", "name": "Company day"},
        **target("calendar-card"),
    )
    assert "Company day" in response.content.decode()
    with tenant_context(people.alpha.pk):
        assert not Holiday.objects.for_org(people.alpha).filter(name="Company day").exists()
    response = client.post(
        url("sla-holiday-add", version_id=draft.pk),
        {"day": "2031-03-03"},
        **target("calendar-card"),
    )
    assert response.status_code == 422
    response = client.post(
        url("sla-holiday-delete", version_id=draft.pk, day="2031-03-03"),
        **target("calendar-card"),
    )
    assert response.status_code == 200
    assert "Company day" not in response.content.decode()
    assert "2031-03-03" not in [
        h["day"] for h in version_of(people.alpha, draft.pk).calendar_holidays
    ]
    with tenant_context(people.alpha.pk):
        ContractVersion.objects.for_org(people.alpha).filter(pk=draft.pk).update(
            calendar_holidays=[]
        )
    response = client.post(
        url("sla-holidays-prefill", version_id=draft.pk), **target("calendar-card")
    )
    assert response.status_code == 200
    year = timezone.localdate().year
    days = {h["day"] for h in version_of(people.alpha, draft.pk).calendar_holidays}
    assert {f"{year}-07-14", f"{year + 1}-05-01"} <= days


# --- Home, history, compliance --------------------------------------------------------


def test_home_without_a_contract(people, client_for):
    body = client_for(people.alice).get(url("sla-home")).content.decode()
    assert "No contract in force yet" in body
    assert "Draft the contract" in body
    body = client_for(people.bob).get(url("sla-home")).content.decode()
    assert "Draft the contract" not in body


def _clock(org, lead, commitment, *, status, started, due, touched=None, owner=None):
    with tenant_context(org.pk):
        return Clock.objects.create(
            organization=org,
            lead=lead,
            commitment=commitment,
            owner=owner,
            status=status,
            started_at=started,
            warn_at=started + (due - started) * 0.75,
            due_at=due,
            touched_at=touched,
            breached_at=due if status == "breached" else None,
        )


@pytest.fixture
def tuesday_morning():
    """Tuesday 17 November 2026, 11:00 in Paris: inside business hours."""
    with time_machine.travel(datetime(2026, 11, 17, 11, 0, tzinfo=PARIS), tick=False):
        yield


@pytest.fixture
def clocks(people, active, tuesday_morning):
    """This week: bob met one clock in 40 min and breached one; one is running."""
    org = people.alpha
    _m, sales = commitments(org, active)
    now = timezone.now()
    with tenant_context(org.pk):
        leads = [
            Lead.objects.create(
                organization=org,
                email=f"l{i}@x.fr",
                first_name=f"L{i}",
                stage=Stage.MQL,
                owner=people.bob,
            )
            for i in range(3)
        ]
        LifecycleTransition.objects.create(
            organization=org, lead=leads[0], from_stage="lead", to_stage="mql", at=now
        )
    c = sales[0]
    met = _clock(
        org,
        leads[0],
        c,
        status="met",
        started=now - timedelta(minutes=50),
        due=now - timedelta(minutes=1),
        touched=now - timedelta(minutes=10),
        owner=people.bob,
    )
    breached = _clock(
        org,
        leads[1],
        c,
        status="breached",
        started=now - timedelta(hours=3),
        due=now - timedelta(minutes=25),
        owner=people.bob,
    )
    running = _clock(
        org,
        leads[2],
        c,
        status="running",
        started=now,
        due=now + timedelta(minutes=72),
        owner=people.bob,
    )
    return {"leads": leads, "met": met, "breached": breached, "running": running}


def test_home_shows_the_contract_status_and_pacing(people, active, clocks, client_for):
    response = client_for(people.vic).get(url("sla-home"))
    body = response.content.decode()
    assert "Marketing delivers 40 MQLs per month." in body
    assert 'data-testid="gauge"' in body and "<svg" in body
    assert "target 40" in body
    assert "50 %" in body  # 1 met, 1 breached this week
    assert "Mia Lefèvre" in body


def test_history_lists_versions_and_changes(people, active, client_for):
    with tenant_context(people.alpha.pk):
        v2 = services.draft_create(actor=None, organization=people.alpha)
        mc = MarketingCommitment.objects.for_org(people.alpha).get(version=v2)
        services.marketing_commitment_update(
            actor=None, commitment=mc, data={"metric": "mql", "target": 50, "period": "month"}
        )
    body = client_for(people.bob).get(url("sla-history")).content.decode()
    assert "v2" in body and "v1" in body
    assert "Marketing delivers 50 MQLs per month." in body  # added in v2
    assert "Marketing delivers 40 MQLs per month." in body  # replaced
    assert "Mia Lefèvre" in body and "Sam Girard" in body


def test_compliance_page(people, active, clocks, client_for):
    client = client_for(people.vic)
    response = client.get(url("sla-compliance"))
    assert response.status_code == 200
    assert response.context["overall"].met == 1
    assert response.context["overall"].breached == 1
    body = response.content.decode()
    assert "Bob Durand" in body and "50 %" in body
    assert "<svg" in body and "sla-chart__bar" in body
    assert "L1" in body  # the breached lead
    response = client.get(url("sla-compliance") + f"?period=month&owner={people.bob.pk}")
    assert response.status_code == 200 and response.context["period"] == "month"
    last_year = (timezone.localdate() - timedelta(days=400)).isoformat()
    response = client.get(url("sla-compliance") + f"?at={last_year}")
    assert response.context["overall"].met == 0
    assert client.get(url("sla-compliance") + "?period=year").status_code == 400


# --- The countdown on the leads pages -------------------------------------------------


def test_queue_and_lead_page_show_the_countdown(people, active, clocks, client_for):
    client = client_for(people.alice)
    body = client.get(reverse("leads-queue", args=["alpha"]) + "?tab=all").content.decode()
    assert "sla/countdown.js" in body
    assert "sla-clock--running" in body and "1 h 12 min left" in body
    assert "sla-clock--breached" in body and "breached 25 min ago" in body
    lead = clocks["leads"][0]
    body = client.get(reverse("leads-detail", args=["alpha", lead.pk])).content.decode()
    assert "met in 40 min" in body
    badge = client.get(url("sla-lead-clock", lead_id=clocks["leads"][2].pk), **HTMX)
    assert badge.status_code == 200 and "data-sla-clock" in badge.content.decode()


def test_queue_badges_do_not_add_a_query_per_lead(
    people, active, clocks, client_for, django_assert_max_num_queries
):
    client = client_for(people.alice)
    page = reverse("leads-queue", args=["alpha"]) + "?tab=all&stage=any"
    client.get(page)
    with django_assert_max_num_queries(30) as few:
        client.get(page)
    org = people.alpha
    with tenant_context(org.pk):
        sales = SalesCommitment.objects.for_org(org).get(version=active)
        now = timezone.now()
        for i in range(30):
            lead = Lead.objects.create(organization=org, email=f"more{i}@x.fr", stage=Stage.MQL)
            Clock.objects.create(
                organization=org,
                lead=lead,
                commitment=sales,
                status="running",
                started_at=now,
                warn_at=now + timedelta(minutes=60),
                due_at=now + timedelta(minutes=90),
            )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(page)
    assert response.content.decode().count("data-sla-clock") >= 30


def test_discard_a_draft(people, active, client_for):
    with tenant_context(people.alpha.pk):
        v2 = services.draft_create(actor=None, organization=people.alpha)
    page = url("sla-draft-discard", version_id=v2.pk)
    assert client_for(people.charlie).post(page).status_code == 404
    assert client_for(people.bob).post(page).status_code == 403
    body = client_for(people.alice).get(url("sla-version", version_id=v2.pk)).content.decode()
    assert "Discard the draft" in body
    assert "v1 in force keeps its own until both heads sign this draft" in body
    response = client_for(people.alice).post(page)
    assert response.status_code == 302 and response["Location"] == url("sla-home")
    with tenant_context(people.alpha.pk):
        assert not ContractVersion.objects.for_org(people.alpha).filter(pk=v2.pk).exists()
    # A signed version is never discarded.
    response = client_for(people.alice).post(url("sla-draft-discard", version_id=active.pk))
    assert response.status_code == 302
    assert version_of(people.alpha, active.pk).status == ContractVersion.Status.ACTIVE


def test_pages_run_a_bounded_number_of_queries(
    people, active, clocks, client_for, django_assert_max_num_queries
):
    client = client_for(people.alice)
    for page, limit in (
        (url("sla-home"), 40),
        (url("sla-compliance"), 30),
        (url("sla-history"), 20),
        (url("sla-version", version_id=active.pk), 25),
    ):
        with django_assert_max_num_queries(limit):
            assert client.get(page).status_code == 200


def test_compliance_filters_by_commitment(people, active, clocks, client_for):
    _m, sales = commitments(people.alpha, active)
    client = client_for(people.vic)
    response = client.get(url("sla-compliance") + f"?commitment={sales[0].pk}")
    assert response.status_code == 200
    assert response.context["overall"].total == 2
    assert "All commitments" in response.content.decode()
    assert client.get(url("sla-compliance") + "?commitment=999999").context["overall"].total == 0
    # The running clocks carry their countdown.
    assert "1 h 12 min left" in response.content.decode()


# --- The calendar is signed with the version ------------------------------------------


def test_the_drafts_calendar_reaches_the_clocks_with_the_second_signature(
    people, active, client_for
):
    client = client_for(people.alice)
    assert client.post(url("sla-draft-new")).status_code == 302
    with tenant_context(people.alpha.pk):
        v2 = ContractVersion.objects.for_org(people.alpha).get(status="draft")
    hours = {f"day_{d}": "10:00–16:00" for d in range(5)}
    response = client.post(
        url("sla-calendar", version_id=v2.pk),
        {"time_zone": "Europe/Paris", **hours},
        **target("calendar-card"),
    )
    assert response.status_code == 200
    # The home shows the live calendar, read-only, unchanged.
    home = client.get(url("sla-home")).content.decode()
    assert "09:00–18:00" in home and "10:00–16:00" not in home
    assert url("sla-calendar", version_id=v2.pk) not in home
    # The draft shows what changes; the signing page shows the draft's hours.
    page = client.get(url("sla-version", version_id=v2.pk)).content.decode()
    assert "Business hours: Monday–Friday: 10:00–16:00" in page
    confirm = client_for(people.mia).get(url("sla-sign", version_id=v2.pk, side="marketing"))
    assert "10:00–16:00" in confirm.context["text"]
    client_for(people.mia).post(
        url("sla-sign", version_id=v2.pk, side="marketing"),
        {"terms_hash": confirm.context["terms_hash"]},
    )
    assert "09:00–18:00" in client.get(url("sla-home")).content.decode()
    confirm = client_for(people.sam).get(url("sla-sign", version_id=v2.pk, side="sales"))
    client_for(people.sam).post(
        url("sla-sign", version_id=v2.pk, side="sales"),
        {"terms_hash": confirm.context["terms_hash"]},
    )
    assert version_of(people.alpha, v2.pk).status == ContractVersion.Status.ACTIVE
    with tenant_context(people.alpha.pk):
        assert BusinessCalendar.objects.for_org(people.alpha).get().weekly_hours["0"] == [
            ["10:00", "16:00"]
        ]
    assert "10:00–16:00" in client.get(url("sla-home")).content.decode()


def test_a_signature_is_refused_when_the_calendar_changed_meanwhile(people, draft, client_for):
    mia = client_for(people.mia)
    confirm = mia.get(url("sla-sign", version_id=draft.pk, side="marketing"))
    client_for(people.alice).post(
        url("sla-holiday-add", version_id=draft.pk), {"day": "2031-03-03", "name": "Company day"}
    )
    response = mia.post(
        url("sla-sign", version_id=draft.pk, side="marketing"),
        {"terms_hash": confirm.context["terms_hash"]},
    )
    assert response.status_code == 409
    assert "2031-03-03" in response.context["text"]
    assert response.context["terms_hash"] != confirm.context["terms_hash"]
    assert version_of(people.alpha, draft.pk).marketing_signed_at is None


def test_garbage_input_never_500s(people, active, client_for):
    client = client_for(people.alice)
    assert client.post(url("sla-draft-new")).status_code == 302
    with tenant_context(people.alpha.pk):
        v2 = ContractVersion.objects.for_org(people.alpha).get(status="draft")
    compliance = url("sla-compliance")
    for query in (
        "?at=0001-01-01",
        "?at=9999-12-31",
        "?at=1999-12-31",
        "?at=2101-01-01",
        "?at=nope",
        "?owner=abc",
        "?owner=99999999999999999999999",
        "?commitment=-1",
        "?period=year",
    ):
        assert client.get(compliance + query).status_code == 400, query
    assert client.get(compliance + "?at=2100-12-31&period=month").status_code == 200
    assert (
        client.get(compliance + "?owner=999999&commitment=9223372036854775807").status_code == 200
    )
    posts = {
        url("sla-calendar", version_id=v2.pk): [{}, {"time_zone": "Mars/Base"}, {"day_0": "x"}],
        url("sla-holiday-add", version_id=v2.pk): [
            {},
            {"day": "0001-01-01"},
            {"day": "9999-12-31"},
            {"day": "2026-02-30"},
        ],
        url("sla-terms", version_id=v2.pk): [{}, {"title": ""}],
        url("sla-marketing-add", version_id=v2.pk): [
            {},
            {"target": "1e99", "metric": "mql", "period": "week"},
        ],
        url("sla-sales-add", version_id=v2.pk): [
            {},
            {"trigger": "event", "event_type": "nope", "response_minutes": "99999999999999"},
        ],
        url("sla-sign", version_id=v2.pk, side="nope"): [{}],
    }
    for page, bodies in posts.items():
        for data in bodies:
            status = client.post(page, data).status_code
            assert 400 <= status < 500, (page, data, status)
    assert (
        client_for(people.mia)
        .post(url("sla-sign", version_id=v2.pk, side="marketing"), {})
        .status_code
        == 400
    )
    assert (
        client_for(people.mia)
        .post(url("sla-sign", version_id=v2.pk, side="marketing"), {"terms_hash": "x" * 64})
        .status_code
        == 409
    )
    for day in ("2031-13-01", "nope", "2031-03-03", "0001-01-01x"):
        assert client.post(url("sla-holiday-delete", version_id=v2.pk, day=day)).status_code == 404
    huge = 10**25
    for page in (
        url("sla-version", version_id=huge),
        url("sla-marketing", commitment_id=huge),
        url("sla-sales", commitment_id=huge),
        url("sla-lead-clock", lead_id=huge),
    ):
        assert client.get(page).status_code == 404, page
    sign_huge = url("sla-sign", version_id=huge, side="sales")
    assert client_for(people.sam).get(sign_huge).status_code == 404
    for page in (
        url("sla-terms", version_id=huge),
        url("sla-marketing-delete", commitment_id=huge),
        url("sla-sales-delete", commitment_id=huge),
        url("sla-holidays-prefill", version_id=huge),
    ):
        assert client.post(page).status_code == 404, page
    assert client.get("/o/alpha/sla/v/abc/").status_code == 404


def test_a_service_404_in_an_html_view_is_a_404(people, draft, client_for, monkeypatch):
    def missing(**kwargs):
        raise services.SlaError("not found", code="not_found", status=404)

    monkeypatch.setattr(services, "version_update", missing)
    response = client_for(people.alice).post(
        url("sla-terms", version_id=draft.pk), {"title": "T"}, **target("terms-card")
    )
    assert response.status_code == 404


def test_a_failing_prefill_adds_nothing(people, draft, client_for, monkeypatch):
    """The prefill is all or nothing: a refusal after the copy was written rolls it back
    (the middleware only rolls back on 5xx)."""
    real = services._store_calendar

    def store_then_refuse(locked, value):
        real(locked, value)
        raise services.SlaError("refused", code="refused", status=409)

    with tenant_context(people.alpha.pk):
        ContractVersion.objects.for_org(people.alpha).filter(pk=draft.pk).update(
            calendar_holidays=[]
        )
    monkeypatch.setattr(services, "_store_calendar", store_then_refuse)
    response = client_for(people.alice).post(
        url("sla-holidays-prefill", version_id=draft.pk), **target("calendar-card")
    )
    assert response.status_code == 422
    assert version_of(people.alpha, draft.pk).calendar_holidays == []


def test_a_queue_row_with_one_lead_is_not_the_lead_page(people, active, clocks, client_for):
    from leads.extensions import badges_for
    from sla import badges

    met_lead = clocks["leads"][0]  # its only clock is met
    with tenant_context(people.alpha.pk):
        assert badges_for(people.alpha, [met_lead]) == {}
        assert "met in 40 min" in badges_for(people.alpha, [met_lead], single=True)[met_lead.pk]
        assert badges.lead_badges(people.alpha, [met_lead]) == {}
    client = client_for(people.alice)
    assert client.get(url("sla-lead-clock", lead_id=met_lead.pk)).content == b""
    single = client.get(url("sla-lead-clock", lead_id=met_lead.pk) + "?single=1")
    assert "met in 40 min" in single.content.decode() and "?single=1" in single.content.decode()


def test_badge_providers_plain_strings_are_escaped(people, monkeypatch):
    from django.utils.html import format_html

    from leads import extensions

    def plain(organization, leads, *, single=False):
        return {lead.pk: "<script>alert(1)</script>" for lead in leads}

    def safe(organization, leads, *, single=False):
        return {lead.pk: format_html("<b>{}</b>", "<i>") for lead in leads}

    monkeypatch.setattr(extensions, "lead_badges", [plain, safe])
    with tenant_context(people.alpha.pk):
        lead = Lead.objects.create(organization=people.alpha, email="esc@x.fr")
    html = extensions.badges_for(people.alpha, [lead])[lead.pk]
    assert html == "&lt;script&gt;alert(1)&lt;/script&gt;<b>&lt;i&gt;</b>"
    assert hasattr(html, "__html__")
