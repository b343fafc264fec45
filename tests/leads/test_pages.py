"""The leads pages: the sales queue and its quick actions, the lead page, the marketing
view of sales decisions, the content library, and the talk-track hint.

Every page answers alice (owner) and bob (sales rep) 200, charlie (outsider) 404 — on
Alpha's URLs and on Alpha's ids from within his own organization; a viewer sees but
cannot act (403); bad input is a 4xx that changes nothing; the queue and the lead page
run a bounded number of queries whatever the number of leads and events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from leads import reports, services
from leads.ingest import ingest_events
from leads.models import Activity, Content, Decision, Lead, Stage
from leads.talk_track import Consumed, is_pricing_page, talk_track
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def ago(**delta) -> str:
    return (timezone.now() - timedelta(**delta)).isoformat()


@pytest.fixture(autouse=True)
def english(trio):
    """The assertions read English strings (the organization speaks French)."""
    for user in (trio.alice, trio.bob, trio.charlie):
        user.language = "en"
        user.save(update_fields=["language"])
    with translation.override("en"):
        yield


@pytest.fixture
def library(trio, as_org):
    with as_org(trio.alpha):
        beginner = Content.objects.create(
            organization=trio.alpha,
            key="guide-debutant",
            title="Le guide du débutant",
            type=Content.Type.GUIDE,
            level=Content.Level.BEGINNER,
            persona="Marketing manager",
            funnel_stage=Content.FunnelStage.AWARENESS,
        )
        expert = Content.objects.create(
            organization=trio.alpha,
            key="api-deep-dive",
            title="L'API en profondeur",
            type=Content.Type.WHITE_PAPER,
            level=Content.Level.EXPERT,
            persona="CTO",
            funnel_stage=Content.FunnelStage.DECISION,
        )
    return SimpleNamespace(beginner=beginner, expert=expert)


def make_mql(org, as_org, *, email, owner=None, actor=None, events=(), source="api"):
    """A lead of ``org`` made through ingestion, then moved to MQL as scoring does."""
    with as_org(org):
        first = {
            "id": f"{email}-seen",
            "type": "page_view",
            "occurred_at": ago(days=2),
            "email": email,
            "url": "https://exemple.fr/",
            "first_name": email.split("@")[0].capitalize(),
            "last_name": "Moreau",
            "company": "Exemple SA",
            "company_domain": "exemple.fr",
        }
        ingest_events(organization=org, events=[first, *events], source=source)
        lead = Lead.objects.for_org(org).get(email=email)
        services.lead_mark_mql(lead=lead, reason="score 72")
        if owner is not None:
            services.lead_update(actor=actor, lead=lead, data={"owner": owner.pk})
        return Lead.objects.for_org(org).get(pk=lead.pk)


@pytest.fixture
def mql(trio, as_org, library):
    """Claire: an MQL of Alpha owned by bob, who just downloaded the beginner guide."""
    return make_mql(
        trio.alpha,
        as_org,
        email="claire@exemple.fr",
        owner=trio.bob,
        actor=trio.alice_membership,
        events=[
            {
                "id": "claire-download",
                "type": "content_download",
                "occurred_at": ago(hours=3),
                "email": "claire@exemple.fr",
                "content": "guide-debutant",
            }
        ],
    )


@pytest.fixture
def viewer(trio):
    user = UserFactory(email="vera@alpha.test", full_name="Vera Viewer")
    MembershipFactory(organization=trio.alpha, user=user, role=Role.VIEWER)
    return user


def url(name, org="alpha", **kwargs):
    return reverse(name, kwargs={"org_slug": org, **kwargs})


# --- Access: every page, every role ------------------------------------------------

READ_PAGES = [
    ("leads-queue", {}),
    ("leads-detail", {"lead_id": "lead"}),
    ("leads-decisions", {}),
    ("leads-content", {}),
]
ACTIONS = ["leads-accept", "leads-reject", "leads-qualify", "leads-activity", "leads-move"]


def _kwargs(kwargs, mql, library):
    ids = {"lead": mql.pk, "content": library.beginner.pk}
    return {key: ids[value] for key, value in kwargs.items()}


@pytest.mark.parametrize("who", ["alice", "bob"])
@pytest.mark.parametrize(("name", "kwargs"), READ_PAGES)
def test_every_page_answers_members(client_for, trio, mql, library, who, name, kwargs):
    response = client_for(getattr(trio, who)).get(url(name, **_kwargs(kwargs, mql, library)))
    assert response.status_code == 200
    assert b"leads.css" in response.content


def test_the_content_editor_is_for_content_managers(client_for, trio, library):
    edit = url("leads-content-edit", content_id=library.beginner.pk)
    assert client_for(trio.alice).get(edit).status_code == 200
    assert client_for(trio.bob).get(edit).status_code == 403
    assert client_for(trio.bob).post(edit, {"title": "x"}).status_code == 403


PAGES_AND_ACTIONS = [
    *[(name, kwargs, "get") for name, kwargs in READ_PAGES],
    ("leads-content-edit", {"content_id": "content"}, "get"),
    ("leads-content-edit", {"content_id": "content"}, "post"),
    *[(name, {"lead_id": "lead"}, "post") for name in ACTIONS],
]


@pytest.mark.parametrize(("name", "kwargs", "method"), PAGES_AND_ACTIONS)
def test_charlie_gets_404_on_alpha(client_for, trio, mql, library, name, kwargs, method):
    response = getattr(client_for(trio.charlie), method)(url(name, **_kwargs(kwargs, mql, library)))
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "kwargs", "method"), [c for c in PAGES_AND_ACTIONS if c[1]])
def test_alpha_ids_are_404_from_charlies_organization(
    client_for, trio, mql, library, name, kwargs, method
):
    path = url(name, org="charlie", **_kwargs(kwargs, mql, library))
    response = getattr(client_for(trio.charlie), method)(path, {"reason": "bad_fit"})
    assert response.status_code == 404


def test_anonymous_visitors_go_to_the_login_page(client, mql):
    response = client.get(url("leads-queue"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(("name", "kwargs"), READ_PAGES)
def test_a_viewer_sees_the_pages(client_for, viewer, mql, library, name, kwargs):
    response = client_for(viewer).get(url(name, **_kwargs(kwargs, mql, library)))
    assert response.status_code == 200
    assert b"Reject the lead" not in response.content  # no action offered


@pytest.mark.parametrize("name", ACTIONS)
def test_a_viewer_cannot_act(client_for, trio, viewer, mql, as_org, name):
    data = {
        "reason": "bad_fit",
        "kind": "call",
        "budget": "10k",
        "need": "yes",
        "to_stage": "sql",
        "from": "queue",
    }
    response = client_for(viewer).post(url(name, lead_id=mql.pk), data, **HTMX)
    assert response.status_code == 403
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.MQL
        assert not Decision.objects.for_org(trio.alpha).exists()
        assert not Activity.objects.for_org(trio.alpha).exists()


def test_a_sales_rep_cannot_move_leads_anywhere(client_for, trio, mql, as_org):
    response = client_for(trio.bob).post(
        url("leads-move", lead_id=mql.pk), {"to_stage": "customer", "reason": "trust me"}
    )
    assert response.status_code == 403
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.MQL


def test_actions_refuse_get(client_for, trio, mql):
    assert client_for(trio.bob).get(url("leads-accept", lead_id=mql.pk)).status_code == 405


# --- The queue ----------------------------------------------------------------------


def test_the_queue_shows_hot_first_then_score_with_its_columns(client_for, trio, as_org, mql):
    other = make_mql(trio.alpha, as_org, email="hugo@exemple.fr")
    with as_org(trio.alpha):
        Lead.objects.for_org(trio.alpha).filter(pk=mql.pk).update(score=90, grade="A")
        Lead.objects.for_org(trio.alpha).filter(pk=other.pk).update(
            score=40, grade="C", hot=True, hot_since=timezone.now()
        )
    response = client_for(trio.alice).get(url("leads-queue"))
    html = response.content.decode()
    assert html.index("Hugo") < html.index("Claire")  # hot first, despite its lower score
    assert "Exemple SA" in html and "Bob Durand" in html and "badge--hot" in html
    assert response.context["tab"] == "all"  # an owner sees every lead by default


def test_a_sales_rep_starts_on_his_own_leads(client_for, trio, as_org, mql):
    make_mql(trio.alpha, as_org, email="hugo@exemple.fr")  # unassigned
    mine = client_for(trio.bob).get(url("leads-queue"))
    assert mine.context["tab"] == "mine"
    assert [row.lead.pk for row in mine.context["rows"]] == [mql.pk]
    unassigned = client_for(trio.bob).get(url("leads-queue") + "?tab=unassigned")
    assert [row.lead.email for row in unassigned.context["rows"]] == ["hugo@exemple.fr"]


def test_the_queue_filters_are_kept_in_the_url(client_for, trio, as_org, mql):
    make_mql(trio.alpha, as_org, email="hugo@autre.fr", source="tracker")
    client = client_for(trio.alice)
    found = client.get(url("leads-queue") + "?tab=all&q=claire")
    assert [row.lead.pk for row in found.context["rows"]] == [mql.pk]
    assert "tab=mine&amp;q=claire" in found.content.decode()  # the tabs keep the search
    assert client.get(url("leads-queue") + "?hot=yes").context["rows"] == []
    with as_org(trio.alpha):
        services.lead_reject(actor=trio.alice_membership, lead=mql, reason="bad_timing")
    queue = client.get(url("leads-queue") + "?tab=all")
    assert mql.pk not in [row.lead.pk for row in queue.context["rows"]]  # recycled: out
    anywhere = client.get(url("leads-queue") + "?tab=all&stage=any")
    assert mql.pk in [row.lead.pk for row in anywhere.context["rows"]]
    recycled = client.get(url("leads-queue") + "?tab=all&stage=recycled")
    assert [row.lead.pk for row in recycled.context["rows"]] == [mql.pk]


def test_htmx_filters_get_the_queue_fragment(client_for, trio, mql):
    response = client_for(trio.alice).get(url("leads-queue") + "?tab=all&q=claire", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card card--flush queue" id="queue"')
    assert "<html" not in html and "Claire" in html


@pytest.mark.parametrize("query", ["stage=nope", "source=moon", "hot=maybe", "tab=theirs"])
def test_bad_queue_filters_are_400(client_for, trio, mql, query):
    response = client_for(trio.alice).get(url("leads-queue") + "?" + query)
    assert response.status_code == 400
    assert response.context["rows"] == []


def test_the_queue_paginates(client_for, trio, as_org):
    with as_org(trio.alpha):
        Lead.objects.bulk_create(
            Lead(organization=trio.alpha, email=f"p{i}@x.fr", stage=Stage.MQL, score=i)
            for i in range(55)
        )
    client = client_for(trio.alice)
    first = client.get(url("leads-queue"))
    assert len(first.context["rows"]) == 50 and "page=2" in first.content.decode()
    second = client.get(url("leads-queue") + "?page=2")
    assert len(second.context["rows"]) == 5


def test_accept_from_the_queue_rerenders_the_row(client_for, trio, as_org, mql):
    response = client_for(trio.bob).post(
        url("leads-accept", lead_id=mql.pk), {"from": "queue"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="lead-{mql.pk}"')
    assert "row--done" in html and "SAL" in html
    with as_org(trio.alpha):
        lead = Lead.objects.for_org(trio.alpha).get(pk=mql.pk)
        assert lead.stage == Stage.SAL and lead.first_touch_at is not None
        assert Decision.objects.for_org(trio.alpha).get().kind == Decision.Kind.ACCEPT


def test_reject_from_the_queue_with_a_reason(client_for, trio, as_org, mql):
    response = client_for(trio.bob).post(
        url("leads-reject", lead_id=mql.pk),
        {"from": "queue", "reason": "bad_timing", "comment": "Budget next year"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith("<tr")
    assert "Bad timing" in html and "Recycled" in html
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.RECYCLED
        decision = Decision.objects.for_org(trio.alpha).get()
        assert (decision.reason, decision.comment, decision.by_id) == (
            "bad_timing",
            "Budget next year",
            trio.bob.pk,
        )


@pytest.mark.parametrize("reason", ["", "because"])
def test_reject_without_a_valid_reason_is_refused_in_place(client_for, trio, as_org, mql, reason):
    response = client_for(trio.bob).post(
        url("leads-reject", lead_id=mql.pk), {"from": "queue", "reason": reason}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert html.lstrip().startswith(f'<tr id="lead-{mql.pk}"') and "row--error" in html
    assert "Choose a rejection reason." in html
    assert '<details class="popover" open>' in html  # the form stays open
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.MQL
        assert not Decision.objects.for_org(trio.alpha).exists()


def test_accepting_a_lead_that_is_no_longer_mql_shows_why(client_for, trio, as_org, mql):
    with as_org(trio.alpha):
        services.lead_accept(actor=trio.alice_membership, lead=mql)
    response = client_for(trio.bob).post(
        url("leads-accept", lead_id=mql.pk), {"from": "queue"}, **HTMX
    )
    assert response.status_code == 422
    assert "cannot move to SAL" in response.content.decode()
    with as_org(trio.alpha):
        assert Decision.objects.for_org(trio.alpha).count() == 1


def test_log_a_call_from_the_queue(client_for, trio, as_org, mql):
    response = client_for(trio.bob).post(
        url("leads-activity", lead_id=mql.pk),
        {"from": "queue", "kind": "call", "subject": "Left a voicemail"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Call logged." in response.content.decode()
    with as_org(trio.alpha):
        activity = Activity.objects.for_org(trio.alpha).get()
        assert (activity.kind, activity.subject, activity.by_id) == (
            "call",
            "Left a voicemail",
            trio.bob.pk,
        )
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).first_touch_at is not None


def test_a_call_in_the_future_is_refused(client_for, trio, as_org, mql):
    later = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client_for(trio.bob).post(
        url("leads-activity", lead_id=mql.pk),
        {"from": "queue", "kind": "call", "at": later},
        **HTMX,
    )
    assert response.status_code == 422
    assert "cannot be in the future" in response.content.decode()
    with as_org(trio.alpha):
        assert not Activity.objects.for_org(trio.alpha).exists()


def test_without_htmx_the_queue_actions_redirect_back(client_for, trio, as_org, mql):
    back = url("leads-queue") + "?tab=all"
    response = client_for(trio.bob).post(
        url("leads-accept", lead_id=mql.pk), {"from": "queue", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    evil = client_for(trio.bob).post(
        url("leads-activity", lead_id=mql.pk),
        {"from": "queue", "kind": "note", "next": "https://evil.example/"},
    )
    assert evil["Location"] == url("leads-queue")


def test_the_queue_runs_a_bounded_number_of_queries(
    client_for, trio, as_org, django_assert_max_num_queries
):
    with as_org(trio.alpha):
        events = [
            {
                "id": f"q{i}",
                "type": "page_view",
                "occurred_at": ago(minutes=i),
                "email": f"lead{i}@societe{i % 7}.fr",
                "company": f"Société {i % 7}",
                "company_domain": f"societe{i % 7}.fr",
            }
            for i in range(60)
        ]
        ingest_events(organization=trio.alpha, events=events, source="api")
        Lead.objects.for_org(trio.alpha).update(stage=Stage.MQL, owner=trio.bob)
    client = client_for(trio.alice)
    # About 17 are the request's own (session, tenant, membership, menus, bell).
    with django_assert_max_num_queries(20):
        response = client.get(url("leads-queue"))
    assert len(response.context["rows"]) == 50


# --- The lead page ------------------------------------------------------------------


def test_the_lead_page_shows_the_timeline_with_content_levels_and_the_talk_track(
    client_for, trio, mql
):
    response = client_for(trio.bob).get(url("leads-detail", lead_id=mql.pk))
    html = response.content.decode()
    assert "Le guide du débutant" in html
    assert "badge--level-beginner" in html and "Beginner" in html
    assert response.context["track"].key == "discovery"
    assert "Don&#x27;t pitch expert features" in html
    assert "Exemple SA" in html and "Bob Durand" in html  # company and owner
    assert "Reject" in html and "Accept the lead" in html  # bob decides on MQLs
    assert [t.to_stage for t in response.context["transitions"]] == ["lead", "mql"]


def test_reject_on_the_lead_page(client_for, trio, as_org, mql):
    client = client_for(trio.bob)
    refused = client.post(url("leads-reject", lead_id=mql.pk), {"reason": ""}, **HTMX)
    assert refused.status_code == 422
    assert refused.content.decode().lstrip().startswith('<div id="lead-main">')
    assert "Choose a rejection reason." in refused.content.decode()
    done = client.post(url("leads-reject", lead_id=mql.pk), {"reason": "student"}, **HTMX)
    assert done.status_code == 200
    assert "Disqualified" in done.content.decode()
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.DISQUALIFIED


def test_accept_then_qualify_on_the_lead_page(client_for, trio, as_org, mql):
    client = client_for(trio.bob)
    accepted = client.post(url("leads-accept", lead_id=mql.pk))
    assert accepted.status_code == 302
    assert accepted["Location"] == url("leads-detail", lead_id=mql.pk)
    page = client.get(accepted["Location"])
    assert page.context["can_qualify"] and b"Qualify to SQL" in page.content
    missing = client.post(url("leads-qualify", lead_id=mql.pk), {"budget": "20 k€"})
    assert missing.status_code == 400
    assert missing.context["qualify_form"].errors["need"]
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.SAL
    qualified = client.post(
        url("leads-qualify", lead_id=mql.pk),
        {"budget": "20 k€", "need": "Replace spreadsheets", "timing": "Q3"},
        **HTMX,
    )
    assert (
        qualified.status_code == 200
        and "Qualified: the lead is now SQL." in qualified.content.decode()
    )
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.SQL
    assert "BANT" in client.get(url("leads-detail", lead_id=mql.pk)).content.decode()


def test_log_an_activity_on_the_lead_page(client_for, trio, as_org, mql):
    client = client_for(trio.bob)
    bad = client.post(url("leads-activity", lead_id=mql.pk), {"kind": "telepathy"}, **HTMX)
    assert bad.status_code == 422 and bad.context["open_action"] == "activity"
    ok = client.post(
        url("leads-activity", lead_id=mql.pk),
        {"kind": "meeting", "subject": "Discovery", "body": "Two sites"},
        **HTMX,
    )
    assert ok.status_code == 200 and "Discovery" in ok.content.decode()
    with as_org(trio.alpha):
        assert Activity.objects.for_org(trio.alpha).get().kind == "meeting"


def test_activity_times_are_typed_in_the_organizations_time_zone(client_for, trio, as_org, mql):
    trio.alpha.time_zone = "America/New_York"
    trio.alpha.save()
    response = client_for(trio.bob).post(
        url("leads-activity", lead_id=mql.pk), {"kind": "call", "at": "2026-01-15T09:30"}
    )
    assert response.status_code == 302
    with as_org(trio.alpha):
        at = Activity.objects.for_org(trio.alpha).get().at
    assert at == datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


def test_a_manager_moves_a_lead_with_a_reason(client_for, trio, as_org, mql):
    client = client_for(trio.alice)
    page = client.get(url("leads-detail", lead_id=mql.pk))
    assert page.context["can_move"]
    no_reason = client.post(url("leads-move", lead_id=mql.pk), {"to_stage": "sql"})
    assert no_reason.status_code == 400
    same = client.post(url("leads-move", lead_id=mql.pk), {"to_stage": "mql", "reason": "x"})
    assert same.status_code == 400  # not a choice: the current stage
    moved = client.post(
        url("leads-move", lead_id=mql.pk), {"to_stage": "sql", "reason": "Met at the fair"}
    )
    assert moved.status_code == 302
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).get(pk=mql.pk).stage == Stage.SQL


def test_the_timeline_pages_older_items(client_for, trio, as_org, mql):
    events = [
        {
            "id": f"old{i}",
            "type": "email_open",
            "occurred_at": ago(days=10, minutes=i),
            "email": "claire@exemple.fr",
        }
        for i in range(60)
    ]
    with as_org(trio.alpha):
        ingest_events(organization=trio.alpha, events=events, source="api")
    client = client_for(trio.bob)
    page = client.get(url("leads-detail", lead_id=mql.pk))
    before = page.context["timeline_before"]
    assert before and "Show older" in page.content.decode()
    older = client.get(url("leads-detail", lead_id=mql.pk), {"before": before}, **HTMX)
    assert older.status_code == 200
    assert older.content.decode().lstrip().startswith("<li")
    shown = len(page.context["timeline"]) + older.content.decode().count('class="timeline__item')
    assert shown == 60 + 2 + 2  # events, and the two transitions
    bad = client.get(url("leads-detail", lead_id=mql.pk), {"before": "yesterday"})
    assert bad.status_code == 400


def test_the_lead_page_runs_a_bounded_number_of_queries(
    client_for, trio, as_org, mql, library, django_assert_max_num_queries
):
    events = [
        {
            "id": f"t{i}",
            "type": "content_download" if i % 3 else "page_view",
            "occurred_at": ago(hours=4, minutes=i),
            "email": "claire@exemple.fr",
            "url": f"https://exemple.fr/page/{i}",
            "content": ("guide-debutant" if i % 2 else "api-deep-dive") if i % 3 else None,
            "campaign": "salon-2026" if i % 5 == 0 else None,
        }
        for i in range(100)
    ]
    with as_org(trio.alpha):
        for event in events:
            if event["content"] is None:
                del event["content"]
            if event["campaign"] is None:
                del event["campaign"]
        ingest_events(organization=trio.alpha, events=events, source="api")
        services.activity_log(actor=trio.bob_membership, lead=mql, kind="call", subject="Hi")
    client = client_for(trio.bob)
    # About 14 are the request's own (session, tenant, membership, menus, bell); the
    # page adds the lead, five timeline reads, the stage history, decisions and deals.
    with django_assert_max_num_queries(30):
        response = client.get(url("leads-detail", lead_id=mql.pk))
    assert len(response.context["timeline"]) == 50


# --- The marketing view of sales decisions ------------------------------------------


@pytest.fixture
def decided(trio, as_org, mql, library):
    """Claire (beginner guide, source api) rejected for bad timing; Hugo (expert paper,
    source tracker) accepted; Inès rejected as a student, after reading nothing."""
    hugo = make_mql(
        trio.alpha,
        as_org,
        email="hugo@exemple.fr",
        source="tracker",
        events=[
            {
                "id": "hugo-dl",
                "type": "content_download",
                "occurred_at": ago(hours=5),
                "email": "hugo@exemple.fr",
                "content": "api-deep-dive",
            }
        ],
    )
    ines = make_mql(trio.alpha, as_org, email="ines@ecole.fr")
    with as_org(trio.alpha):
        Lead.objects.for_org(trio.alpha).filter(pk=mql.pk).update(source=Lead.Source.WEBINAR)
        Lead.objects.for_org(trio.alpha).filter(pk=hugo.pk).update(source=Lead.Source.WEBSITE)
        Lead.objects.for_org(trio.alpha).filter(pk=ines.pk).update(source=Lead.Source.API)
        services.lead_reject(actor=trio.bob_membership, lead=mql, reason="bad_timing")
        services.lead_accept(actor=trio.bob_membership, lead=hugo)
        services.lead_reject(actor=trio.bob_membership, lead=ines, reason="student")
        # Read after the decision: does not count for the content.
        ingest_events(
            organization=trio.alpha,
            events=[
                {
                    "id": "ines-late",
                    "type": "content_download",
                    "occurred_at": ago(minutes=-5),
                    "email": "ines@ecole.fr",
                    "content": "guide-debutant",
                }
            ],
            source="api",
        )
    return SimpleNamespace(claire=mql, hugo=hugo, ines=ines)


def test_the_decision_report_counts_by_source_campaign_and_content(trio, as_org, decided):
    with as_org(trio.alpha):
        report = reports.decision_report(trio.alpha, reports.period_for(trio.alpha))
    assert (report.totals.accepted, report.totals.rejected, report.totals.rate) == (1, 2, 33)
    assert [(r.code, r.count, r.share) for r in report.reasons] == [
        ("bad_timing", 1, 50),
        ("student", 1, 50),
    ]
    by_source = {row.key: (row.accepted, row.rejected) for row in report.by_source}
    assert by_source == {"webinar": (0, 1), "website": (1, 0), "api": (0, 1)}
    by_content = {row.label: (row.accepted, row.rejected, row.level) for row in report.by_content}
    assert by_content == {
        "Le guide du débutant": (0, 1, "beginner"),  # Claire; Inès read it afterwards
        "L'API en profondeur": (1, 0, "expert"),
    }
    assert [(row.label, row.total) for row in report.by_campaign] == [("No campaign", 3)]


def test_the_decisions_page(client_for, trio, decided):
    response = client_for(trio.alice).get(url("leads-decisions"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "33 %" in html and "Bad timing" in html and "<svg" in html
    assert "Le guide du débutant" in html


def test_the_decisions_period_is_in_the_url(client_for, trio, decided):
    client = client_for(trio.alice)
    old = client.get(url("leads-decisions"), {"from": "2020-01-01", "to": "2020-01-31"})
    assert old.status_code == 200 and old.context["report"].totals.total == 0
    assert old.context["period"].days == 31
    assert b"No rejection in this period." in old.content


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"from": "2026-02-30"},
        {"from": "2026-03-10", "to": "2026-03-01"},
        {"from": "2001-01-01", "to": "2026-01-01"},
    ],
)
def test_a_bad_period_is_400(client_for, trio, decided, query):
    response = client_for(trio.alice).get(url("leads-decisions"), query)
    assert response.status_code == 400
    assert b"field__error" in response.content


def test_the_period_is_whole_days_in_the_organizations_time_zone(trio):
    trio.alpha.time_zone = "America/New_York"
    now = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # 22:00 on Feb 28 in NY
    period = reports.period_for(trio.alpha, now=now)
    assert (period.first.isoformat(), period.last.isoformat()) == ("2026-01-30", "2026-02-28")
    assert period.end.isoformat() == "2026-03-01T00:00:00-05:00"


# --- The content library ------------------------------------------------------------


def test_the_content_library_counts_distinct_leads_and_flags_unclassified(
    client_for, trio, as_org, decided
):
    with as_org(trio.alpha):
        ingest_events(
            organization=trio.alpha,
            events=[
                {
                    "id": "again",
                    "type": "content_download",
                    "occurred_at": ago(minutes=1),
                    "email": "claire@exemple.fr",
                    "content": "guide-debutant",
                },
                {
                    "id": "mystery",
                    "type": "content_download",
                    "occurred_at": ago(minutes=1),
                    "email": "claire@exemple.fr",
                    "content": "livre-blanc-mystere",
                },
            ],
            source="api",
        )
    response = client_for(trio.alice).get(url("leads-content"))
    counts = {c.key: c.leads_consumed for c in response.context["page"]}
    assert counts == {"guide-debutant": 2, "api-deep-dive": 1, "livre-blanc-mystere": 1}
    assert response.context["unclassified_count"] == 1
    html = response.content.decode()
    assert "have no level yet" in html or "has no level yet" in html
    assert "Classify" in html
    unclassified = client_for(trio.bob).get(url("leads-content"), {"level": "unclassified"})
    assert [c.key for c in unclassified.context["page"]] == ["livre-blanc-mystere"]
    assert b"Classify" not in unclassified.content  # bob may not edit content


def test_the_content_library_filters(client_for, trio, library):
    client = client_for(trio.bob)
    by_persona = client.get(url("leads-content"), {"persona": "cto"})
    assert [c.key for c in by_persona.context["page"]] == ["api-deep-dive"]
    by_stage = client.get(url("leads-content"), {"funnel_stage": "awareness"}, **HTMX)
    fragment = by_stage.content.decode()
    assert fragment.lstrip().startswith('<section class="card card--flush" id="library"')
    assert "guide-debutant" in fragment and "api-deep-dive" not in fragment
    assert client.get(url("leads-content"), {"level": "guru"}).status_code == 400


def test_marketing_classifies_content(client_for, trio, as_org, library):
    client = client_for(trio.alice)
    edit = url("leads-content-edit", content_id=library.expert.pk)
    data = {
        "title": "L'API, en profondeur",
        "type": "white_paper",
        "level": "intermediate",
        "persona": "CTO",
        "funnel_stage": "consideration",
        "url": "https://exemple.fr/api.pdf",
    }
    bad = client.post(edit, {**data, "level": "", "url": "not a url"})
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"level", "url"}
    saved = client.post(edit, {**data, "next": url("leads-content") + "?level=expert"})
    assert saved.status_code == 302 and saved["Location"].endswith("?level=expert")
    with as_org(trio.alpha):
        content = Content.objects.for_org(trio.alpha).get(pk=library.expert.pk)
        assert (content.title, content.level, content.key) == (
            "L'API, en profondeur",
            "intermediate",
            "api-deep-dive",
        )


# --- The operator admin -------------------------------------------------------------

ADMIN_MODELS = [
    "company",
    "campaign",
    "content",
    "lead",
    "visitor",
    "event",
    "deal",
    "lifecycletransition",
    "activity",
    "decision",
    "qualification",
    "trackingsettings",
    "webhookendpoint",
    "webhookreceipt",
    "importjob",
    "routingsettings",
    "reprouting",
]


@pytest.fixture
def operator(db):
    return UserFactory(email="ops@smarketing.test", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_the_operator_admin_lists_every_leads_model(client_for, operator, mql, model):
    response = client_for(operator).get(f"/admin/leads/{model}/", {"q": "exemple"})
    assert response.status_code == 200
    assert "organization" in response.content.decode().lower()


def test_the_admin_shows_a_lead_across_organizations_read_only_where_services_rule(
    client_for, operator, mql
):
    response = client_for(operator).get(f"/admin/leads/lead/{mql.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200 and "claire@exemple.fr" in html
    assert 'name="stage"' not in html and 'name="score"' not in html  # read-only
    assert client_for(operator).get("/admin/leads/lead/add/").status_code == 403


# --- The talk track -----------------------------------------------------------------


def consumed(minutes_ago, *, level="", stage="", type="content_download", url="", content=True):
    return Consumed(
        at=timezone.now() - timedelta(minutes=minutes_ago),
        type=type,
        title=f"{level or 'plain'} piece",
        url=url,
        is_content=content,
        level=level,
        funnel_stage=stage,
    )


def test_a_lead_who_just_downloaded_a_beginner_guide_gets_discovery_not_an_expert_pitch():
    history = [
        consumed(600, level="expert"),
        consumed(500, level="expert"),
        consumed(5, level="beginner"),
    ]
    track = talk_track(history)
    assert track.key == "discovery"
    assert "Don't pitch expert features" in track.advice
    assert "beginner" in track.reasons[0].lower()


def test_expert_or_decision_stage_content_means_deep_dive():
    assert talk_track([consumed(5, level="expert")]).key == "deep_dive"
    decision = [consumed(5, level="intermediate", stage="decision")]
    assert talk_track(decision).key == "deep_dive"
    assert talk_track([consumed(5, level="intermediate")]).key == "solution"


def test_pricing_views_say_talk_pricing():
    pricing = consumed(5, type="page_view", url="https://exemple.fr/fr/tarifs/", content=False)
    assert talk_track([pricing]).key == "pricing"
    with_content = talk_track([pricing, consumed(9, level="intermediate")])
    assert with_content.key == "solution"
    assert any("pricing page" in reason for reason in with_content.reasons)
    assert is_pricing_page("https://x.fr/pricing?plan=pro")
    assert not is_pricing_page("https://x.fr/blog/priceless-advice")


def test_no_signal_is_generic_and_unclassified_content_is_reported():
    assert talk_track([]).key == "generic"
    unclassified = talk_track([consumed(5)])
    assert unclassified.key == "generic"
    assert "not classified" in unclassified.reasons[0]
    demo = talk_track([consumed(5, type="demo_request", content=False)])
    assert demo.key == "deep_dive"
