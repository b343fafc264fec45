"""The marketing manager's workshop in a real browser: open the scoring home, start a
draft from the active model, add a behaviour rule (refused first, then accepted), read
the live preview, run the what-if simulation, activate with its confirmation and watch
the re-score's progress bar reach 100 %. The lead page then explains the new score.

No Celery worker runs here: the activation's task is caught when it is dispatched, and
the test runs it in a thread (slowed down chunk by chunk, so the bar visibly moves)
while the page polls."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from leads import services as lead_services
from leads.ingest import ingest_events
from leads.models import Lead, Stage
from scoring import pipeline, services, tasks
from scoring.models import RescoreRun, ScoringModel
from smarketing.notifications.tasks import send_notification_emails
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SITE = "https://www.exemple.fr"
PEOPLE = [
    # (first, last, company, domain, kind)
    ("Claire", "Moreau", "Exemple SA", "exemple-sa.fr", "hot"),
    ("Hugo", "Bernard", "Acme Industrie", "acme-industrie.fr", "hot"),
    ("Inès", "Leroy", "Nova", "nova.io", "warm"),
    ("Paul", "Martin", "Boréal", "boreal.fr", "warm"),
    ("Léa", "Fontaine", "Castor & Fils", "castor.fr", "warm"),
    ("Marc", "Petit", "Orion Logistique", "orion-logistique.fr", "warm"),
    ("Julie", "Roux", "Atelier Vert", "atelier-vert.fr", "cold"),
    ("Nina", "Garnier", "Helios", "helios.fr", "cold"),
    ("Omar", "Benali", "Quartz", "quartz.fr", "cold"),
    ("Zoé", "Lambert", "Pixel Nord", "pixel-nord.fr", "cold"),
]


def ago(**delta) -> str:
    return (timezone.now() - timedelta(**delta)).isoformat()


def seed(org, manager) -> dict[str, Lead]:
    """Ten leads: two hot (pricing 3× and a demo request), four warm (webinars, e-mail
    clicks and case studies, just under the threshold), four cold. Paul went on to SQL."""
    events = []
    for i, (first, last, company, domain, kind) in enumerate(PEOPLE):
        email = f"{first.lower()}.{last.lower()}@{domain}".replace("é", "e").replace("è", "e")
        person = {
            "email": email,
            "first_name": first,
            "last_name": last,
            "company": company,
            "company_domain": domain,
            "country": "FR",
        }
        events.append(
            {
                "id": f"{i}-home",
                "type": "page_view",
                "occurred_at": ago(days=9, hours=i),
                "url": f"{SITE}/",
                **person,
            }
        )
        if kind == "hot":
            events += [
                {
                    "id": f"{i}-p{d}",
                    "type": "page_view",
                    "occurred_at": ago(days=d, hours=i),
                    "url": f"{SITE}/tarifs",
                    **person,
                }
                for d in (1, 2, 4)
            ]
            events.append(
                {
                    "id": f"{i}-demo",
                    "type": "demo_request",
                    "occurred_at": ago(hours=5 + i),
                    **person,
                }
            )
        elif kind == "warm":
            events += [
                {
                    "id": f"{i}-w{d}",
                    "type": "webinar_attended",
                    "occurred_at": ago(days=d, hours=i),
                    **person,
                }
                for d in (6, 12)
            ]
            events += [
                {
                    "id": f"{i}-c{d}",
                    "type": "page_view",
                    "occurred_at": ago(days=d, hours=i),
                    "url": f"{SITE}/etudes-de-cas/{d}",
                    **person,
                }
                for d in (2, 3)
            ]
            events += [
                {
                    "id": f"{i}-e{d}",
                    "type": "email_click",
                    "occurred_at": ago(days=d, hours=i),
                    **person,
                }
                for d in (3, 8)
            ]
    ingest_events(organization=org, events=events, source="api")
    pipeline.rescore_everything_now(organization=org, history=True)
    leads = {lead.first_name: lead for lead in Lead.objects.for_org(org)}
    paul = leads["Paul"]
    paul.organization = org
    lead_services.lead_mark_mql(lead=paul, reason="by hand")
    lead_services.lead_accept(actor=manager, lead=paul)
    lead_services.lead_qualify(actor=manager, lead=paul, budget="Voted", need="Routing")
    return leads


def test_the_marketing_manager_edits_simulates_and_activates(
    trio, page, live_server, screenshot, password, monkeypatch
):
    # No worker here: the tasks dispatched on commit are caught (the re-score after the
    # activation is run by the test, below; ingestion's own re-score is not needed, the
    # seed scores every lead; the notifications' e-mails are not sent).
    dispatched: list[tuple[int, int]] = []
    monkeypatch.setattr(tasks.rescore_organization, "delay", lambda *args: dispatched.append(args))
    monkeypatch.setattr(tasks.rescore_pending, "delay", lambda *args: None)
    monkeypatch.setattr(send_notification_emails, "delay", lambda *args: None)
    sophie = UserFactory(email="sophie@alpha.test", full_name="Sophie Laurent", language="en")
    MembershipFactory(organization=trio.alpha, user=sophie, role=Role.MARKETING_MANAGER)
    with tenant_context(trio.alpha.pk):
        services.create_starting_template(organization=trio.alpha)
        leads = seed(trio.alpha, trio.alice_membership)
        assert Lead.objects.for_org(trio.alpha).filter(stage=Stage.MQL).count() == 2
        inès = Lead.objects.for_org(trio.alpha).get(pk=leads["Inès"].pk)
        assert inès.score < 60

    page.goto("/accounts/login/?next=/o/alpha/scoring/")
    page.fill("input[name=username]", sophie.email)
    page.fill("input[name=password]", password)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url("**/o/alpha/scoring/")
    expect(page.locator("h1")).to_have_text("Scoring")
    assert "Pricing page 3× in 7 days" in page.locator(".scoring-active").inner_text()
    screenshot("scoring-home")

    page.get_by_role("button", name="New draft from the active model").click()
    page.wait_for_url("**/o/alpha/scoring/models/*/")
    expect(page.locator("h1")).to_contain_text("Draft v2")
    with tenant_context(trio.alpha.pk):
        draft = ScoringModel.objects.for_org(trio.alpha).get(status="draft")
    preview = page.locator("#preview")
    expect(preview.locator("tbody tr")).to_have_count(10)

    # A behaviour rule: first with a regular expression PostgreSQL would read otherwise.
    card = page.locator("#behaviour-card")
    card.locator("summary", has_text="Add a behaviour rule").click()
    form = card.locator("form.rule-form")
    form.locator("input[name=label]").fill("Case studies twice in two weeks")
    form.locator("select[name=event_type]").select_option("page_view")
    form.locator("select[name=match_field]").select_option("url")
    form.locator("select[name=match_operator]").select_option("regex")
    form.locator("input[name=match_value]").fill(r"/etudes-de-cas\b")
    form.locator("select[name=mode]").select_option("frequency")
    form.locator("input[name=points]").fill("25")
    form.locator("input[name=min_count]").fill("2")
    form.locator("input[name=window_days]").fill("14")
    expect(form.locator("input[name=cap]")).to_be_hidden()  # frequency: no cap
    form.get_by_role("button", name="Add the rule").click()
    error = page.locator("#behaviour-card .field__error")
    expect(error).to_contain_text(r"\b is not supported here.")
    page.locator("#behaviour-card form.rule-form").scroll_into_view_if_needed()
    screenshot("scoring-rule-refused")
    page.locator("#behaviour-card input[name=match_value]").fill("/etudes-de-cas/")
    page.locator("#behaviour-card select[name=match_operator]").select_option("contains")
    page.locator("#behaviour-card").get_by_role("button", name="Add the rule").click()
    expect(page.locator("#behaviour-card .saved")).to_have_text("Behaviour rule added.")
    row = page.locator("#behaviour-card tbody tr", has_text="Case studies twice in two weeks")
    expect(row).to_contain_text(
        "+25 once “Page view” where URL contains “/etudes-de-cas/” happens 2× in 14 days"
    )

    # The preview refreshed itself: Inès gains the new rule's points.
    ines_row = page.locator("#preview tbody tr", has_text="Inès Leroy")
    expect(ines_row.locator(".explain-delta")).to_contain_text("Case studies twice in two weeks")
    expect(ines_row.locator(".delta--up")).to_have_text("+25")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot("scoring-editor")

    # What-if over 30 days: the draft makes the four warm leads MQL too, Paul reached SQL.
    page.locator("#whatif-card label", has_text="30 days").click()
    page.locator("#whatif-card").get_by_role("button", name="Simulate").click()
    expect(page.get_by_test_id("whatif-draft-mqls")).to_have_text("6")
    expect(page.get_by_test_id("whatif-active-mqls")).to_have_text("2")
    expect(page.get_by_test_id("whatif-draft-sql")).to_have_text("1")
    assert "4 leads would become MQL with this version only" in page.locator("#whatif").inner_text()
    page.locator("#whatif-card").scroll_into_view_if_needed()
    screenshot("scoring-whatif")

    # Activation: the confirmation says what happens, then the progress page polls.
    page.get_by_role("link", name="Activate…").click()
    page.wait_for_url(f"**/o/alpha/scoring/models/{draft.pk}/activate/")
    consequences = page.locator(".consequences").inner_text()
    assert "Every lead is re-scored: 10 leads." in consequences
    assert "Leads that are already MQL stay MQL" in consequences
    assert "not demoted" in consequences
    assert "Case studies twice in two weeks" in page.locator(".changes__body").inner_text()
    screenshot("scoring-activate")
    page.get_by_role("button", name="Activate v2 and re-score every lead").click()
    page.wait_for_url("**/o/alpha/scoring/runs/*/")
    expect(page.locator("#progress")).to_contain_text("Waiting for a worker")
    assert len(dispatched) == 1
    org_id, run_id = dispatched[0]

    # The worker's part, chunk by chunk (4 leads each, a pause after each).
    monkeypatch.setattr(pipeline, "SQL_CHUNK", 4)
    score_chunk = pipeline._score_chunk

    def slow_chunk(*args, **kwargs):
        result = score_chunk(*args, **kwargs)
        time.sleep(1.2)
        return result

    monkeypatch.setattr(pipeline, "_score_chunk", slow_chunk)

    def work():
        try:
            tasks.rescore_organization(org_id, run_id)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        expect(page.locator("#progress")).to_contain_text("Re-scoring…", timeout=10_000)
        progress = page.get_by_test_id("run-progress")
        expect(progress).not_to_have_text("0 %", timeout=10_000)
        screenshot("scoring-progress")
        expect(page.locator("#progress")).to_have_attribute("data-status", "done", timeout=20_000)
    finally:
        worker.join(timeout=30)
    expect(progress).to_have_text("100 %")
    expect(page.locator("#progress")).to_contain_text("10 of 10 leads")
    expect(page.locator("#progress")).to_contain_text("3 new MQLs")  # Paul is SQL already
    assert page.locator("#progress[hx-trigger]").count() == 0  # polling stopped
    screenshot("scoring-progress-done")
    with tenant_context(trio.alpha.pk):
        run = RescoreRun.objects.for_org(trio.alpha).get(pk=run_id)
        assert (run.status, run.done, run.total) == ("done", 10, 10)
        inès = Lead.objects.for_org(trio.alpha).get(pk=leads["Inès"].pk)
        assert inès.stage == Stage.MQL and inès.score >= 60

    # The lead page explains the new score with the new rule.
    page.goto(f"/o/alpha/leads/{inès.pk}/")
    explanation = page.locator("#score-explanation")
    expect(explanation).to_contain_text("Case studies twice in two weeks")
    expect(explanation).to_contain_text("Scoring model v2 · MQL from 60.")
    expect(explanation).to_contain_text("does not demote")
    explanation.scroll_into_view_if_needed()
    screenshot("scoring-lead-explanation")

    # The home shows v2 active, v1 in the history, and the same pages speak French.
    page.goto("/o/alpha/scoring/")
    assert "Version 2" in page.locator(".scoring-active").inner_text()
    assert "Restore as a draft" in page.locator(".version-list--history").inner_text()
    sophie.language = "fr"
    sophie.save(update_fields=["language"])
    page.goto(f"/o/alpha/scoring/models/{draft.pk}/")
    screenshot("scoring-model-fr")
