"""The scoring pages: the home (active model, drafts, history), the editor of a draft
(settings, fit and behaviour rules through HTMX), the live preview, the what-if
simulation, activation with its confirmation and the re-score progress, and the score
explanation on the lead page.

alice (owner) manages; bob (sales rep) reads everything and changes nothing (403);
charlie (outsider) gets 404 on every page and on alpha's ids from his own
organization; bad input is a 4xx with field errors that writes nothing; the home and
the editor run a bounded number of queries.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from leads import services as lead_services
from leads.models import LifecycleTransition, Stage
from scoring import pipeline, services, whatif
from scoring.engine import ModelRules
from scoring.inputs import event_data
from scoring.models import BehaviourRule, FitRule, RescoreRun, ScoringModel

from .conftest import NOW, event, ingest, lead_of, pricing

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, org: str = "alpha", **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": org, **kwargs})


def target(card: str) -> dict:
    return {**HTMX, "HTTP_HX_TARGET": card}


@pytest.fixture(autouse=True)
def english(trio):
    """The assertions read English strings."""
    for user in (trio.alice, trio.bob, trio.charlie):
        user.language = "en"
        user.save(update_fields=["language"])
    with translation.override("en"):
        yield


@pytest.fixture
def draft(trio, template, as_org):
    """Draft v2, a copy of the active template."""
    with as_org(trio.alpha):
        return services.model_create_draft(actor=trio.alice_membership, organization=trio.alpha)


def rules_of(org, model, as_org) -> tuple[list, list]:
    with as_org(org):
        return (
            list(FitRule.objects.for_org(org).filter(model=model).values_list("label", flat=True)),
            list(
                BehaviourRule.objects.for_org(org)
                .filter(model=model)
                .values_list("label", flat=True)
            ),
        )


# --- Every page, every role -----------------------------------------------------------


def pages(template: ScoringModel, draft: ScoringModel, fit: FitRule, rule: BehaviourRule):
    return [
        url("scoring-home"),
        url("scoring-model", model_id=template.pk),
        url("scoring-model", model_id=draft.pk),
        url("scoring-fit-rule", rule_id=fit.pk),
        url("scoring-behaviour-rule", rule_id=rule.pk),
        url("scoring-activate", model_id=draft.pk),
    ]


def first_rules(org, model, as_org):
    with as_org(org):
        return (
            FitRule.objects.for_org(org).filter(model=model).first(),
            BehaviourRule.objects.for_org(org).filter(model=model).first(),
        )


def test_every_page_answers_the_owner(client_for, trio, template, draft, as_org):
    fit, rule = first_rules(trio.alpha, draft, as_org)
    client = client_for(trio.alice)
    for page in pages(template, draft, fit, rule):
        response = client.get(page)
        assert response.status_code == 200, page
    home = client.get(url("scoring-home")).content.decode()
    assert "Pricing page 3× in 7 days" in home
    assert (
        "+40 once “Page view” where URL matches /(pricing|tarifs?|prix) happens 3× in 7 days"
        in home
    )
    assert "marks hot" in home and "Draft v2" in home
    assert "does not demote" in home
    editor = client.get(url("scoring-model", model_id=draft.pk)).content.decode()
    assert 'name="mql_threshold"' in editor and "Add a behaviour rule" in editor
    assert "Activate…" in editor and "What-if simulation" in editor


def test_a_sales_rep_reads_but_changes_nothing(client_for, trio, template, draft, as_org):
    fit, rule = first_rules(trio.alpha, draft, as_org)
    client = client_for(trio.bob)
    home = client.get(url("scoring-home"))
    assert home.status_code == 200
    assert "Pricing page 3× in 7 days" in home.content.decode()
    assert url("scoring-draft-new") not in home.content.decode()
    editor = client.get(url("scoring-model", model_id=draft.pk))
    assert editor.status_code == 200
    html = editor.content.decode()
    assert 'name="mql_threshold"' not in html and 'name="label"' not in html
    assert "What-if simulation" not in html and "Live preview" in html
    # Editing forms, the simulation and the confirmation are the managers'.
    for page in (
        url("scoring-fit-rule", rule_id=fit.pk),
        url("scoring-behaviour-rule", rule_id=rule.pk),
        url("scoring-activate", model_id=draft.pk),
        url("scoring-model", model_id=draft.pk) + "?days=30",
    ):
        assert client.get(page).status_code == 403, page
    posts = [
        (url("scoring-draft-new"), {}),
        (url("scoring-model-edit", model_id=template.pk), {}),
        (url("scoring-model-settings", model_id=draft.pk), {"mql_threshold": "40"}),
        (url("scoring-model-delete", model_id=draft.pk), {}),
        (url("scoring-activate", model_id=draft.pk), {}),
        (url("scoring-fit-add", model_id=draft.pk), {"label": "x"}),
        (url("scoring-fit-rule", rule_id=fit.pk), {"label": "x"}),
        (url("scoring-fit-delete", rule_id=fit.pk), {}),
        (url("scoring-behaviour-add", model_id=draft.pk), {"label": "x"}),
        (url("scoring-behaviour-rule", rule_id=rule.pk), {"label": "x"}),
        (url("scoring-behaviour-delete", rule_id=rule.pk), {}),
    ]
    for page, data in posts:
        assert client.post(page, data).status_code == 403, page
        assert client.post(page, data, **HTMX).status_code == 403, page
    with as_org(trio.alpha):
        assert ScoringModel.objects.for_org(trio.alpha).count() == 2
        draft.refresh_from_db()
        assert draft.status == "draft" and draft.mql_threshold == 60
        assert not RescoreRun.objects.for_org(trio.alpha).exists()
    assert len(rules_of(trio.alpha, draft, as_org)[0]) == 6


def test_an_outsider_gets_404_everywhere(client_for, trio, template, draft, as_org):
    fit, rule = first_rules(trio.alpha, draft, as_org)
    with as_org(trio.alpha):
        run = services.model_activate(actor=trio.alice_membership, model=draft)
    client = client_for(trio.charlie)
    alpha_pages = [*pages(template, draft, fit, rule), url("scoring-run", run_id=run.pk)]
    for page in alpha_pages:
        assert client.get(page).status_code == 404, page
        assert client.post(page, {}).status_code == 404, page
    # Alpha's ids from inside his own organization: not found either.
    with as_org(trio.charlie_org):
        services.create_starting_template(organization=trio.charlie_org)
    own = [
        url("scoring-model", "charlie", model_id=draft.pk),
        url("scoring-activate", "charlie", model_id=draft.pk),
        url("scoring-fit-rule", "charlie", rule_id=fit.pk),
        url("scoring-behaviour-rule", "charlie", rule_id=rule.pk),
        url("scoring-run", "charlie", run_id=run.pk),
    ]
    for page in own:
        assert client.get(page).status_code == 404, page
    for page, data in [
        (url("scoring-model-edit", "charlie", model_id=template.pk), {}),
        (url("scoring-model-settings", "charlie", model_id=draft.pk), {"mql_threshold": "1"}),
        (url("scoring-model-delete", "charlie", model_id=draft.pk), {}),
        (url("scoring-activate", "charlie", model_id=template.pk), {}),
        (url("scoring-fit-add", "charlie", model_id=draft.pk), {"label": "x"}),
        (url("scoring-fit-rule", "charlie", rule_id=fit.pk), {"label": "x"}),
        (url("scoring-fit-delete", "charlie", rule_id=fit.pk), {}),
        (url("scoring-behaviour-add", "charlie", model_id=draft.pk), {"label": "x"}),
        (url("scoring-behaviour-delete", "charlie", rule_id=rule.pk), {}),
    ]:
        assert client.post(page, data).status_code == 404, page
    with as_org(trio.alpha):
        assert ScoringModel.objects.for_org(trio.alpha).count() == 2
    assert len(rules_of(trio.alpha, draft, as_org)[0]) == 6


def test_an_organization_without_a_model_starts_from_the_template(client_for, trio, as_org):
    client = client_for(trio.alice)
    home = client.get(url("scoring-home"))
    assert home.status_code == 200 and "No scoring model yet" in home.content.decode()
    response = client.post(url("scoring-draft-new"))
    assert response.status_code == 302
    with as_org(trio.alpha):
        model = ScoringModel.objects.for_org(trio.alpha).get()
    assert (model.status, model.version, model.created_by_id) == ("draft", 1, trio.alice.pk)
    assert response["Location"] == url("scoring-model", model_id=model.pk)
    assert len(rules_of(trio.alpha, model, as_org)[1]) == 7


# --- Editing a draft ------------------------------------------------------------------

BEHAVIOUR = {
    "label": "Case studies twice in two weeks",
    "event_type": "page_view",
    "match_field": "url",
    "match_operator": "contains",
    "match_value": "/case-studies",
    "mode": "frequency",
    "points": "20",
    "min_count": "2",
    "window_days": "14",
}


def test_rules_are_added_edited_and_deleted_in_place(client_for, trio, draft, as_org):
    client = client_for(trio.alice)
    response = client.post(url("scoring-behaviour-add", model_id=draft.pk), BEHAVIOUR, **HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "rules-changed"
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card card--flush" id="behaviour-card"')
    assert "Behaviour rule added." in html
    assert "+20 once “Page view” where URL contains “/case-studies” happens 2× in 14 days" in html
    with as_org(trio.alpha):
        rule = BehaviourRule.objects.for_org(trio.alpha).get(model=draft, label=BEHAVIOUR["label"])
    assert (rule.mode, rule.min_count, rule.window_days, rule.cap) == ("frequency", 2, 14, None)

    # Edit: the card comes back with the rule's form open, then saved.
    form = client.get(url("scoring-behaviour-rule", rule_id=rule.pk), **target("behaviour-card"))
    assert form.status_code == 200 and 'value="/case-studies"' in form.content.decode()
    saved = client.post(
        url("scoring-behaviour-rule", rule_id=rule.pk),
        {**BEHAVIOUR, "points": "25", "marks_hot": "on"},
        **HTMX,
    )
    assert saved.status_code == 200 and "· marks hot" in saved.content.decode()
    with as_org(trio.alpha):
        rule.refresh_from_db()
    assert (rule.points, rule.marks_hot) == (25, True)

    # A custom event and a property match go through the form's helper fields.
    custom = {
        **BEHAVIOUR,
        "label": "Trial on the pro plan",
        "event_type": "custom",
        "custom_type": "trial_started",
        "match_field": "property",
        "property_name": "plan",
        "match_operator": "equals",
        "match_value": "pro",
        "mode": "per_occurrence",
        "points": "30",
        "cap": "30",
    }
    assert (
        client.post(url("scoring-behaviour-add", model_id=draft.pk), custom, **HTMX).status_code
        == 200
    )
    with as_org(trio.alpha):
        trial = BehaviourRule.objects.for_org(trio.alpha).get(
            model=draft, label="Trial on the pro plan"
        )
    assert (trial.event_type, trial.match_field, trial.cap, trial.min_count) == (
        "custom:trial_started",
        "property:plan",
        30,
        None,
    )

    fit = {
        "label": "Mid-size company",
        "attribute": "company.employees",
        "operator": "between",
        "value_min": "200",
        "value_max": "",
        "points": "5",
    }
    added = client.post(url("scoring-fit-add", model_id=draft.pk), fit, **HTMX)
    assert added.status_code == 200 and "company employees at least 200" in added.content.decode()
    with as_org(trio.alpha):
        fit_rule = FitRule.objects.for_org(trio.alpha).get(model=draft, label="Mid-size company")
    assert fit_rule.value == [200, None]
    deleted = client.post(url("scoring-fit-delete", rule_id=fit_rule.pk), **HTMX)
    assert deleted.status_code == 200 and "Mid-size company" not in deleted.content.decode()
    assert client.post(url("scoring-behaviour-delete", rule_id=rule.pk)).status_code == 302
    labels = rules_of(trio.alpha, draft, as_org)
    assert "Mid-size company" not in labels[0] and BEHAVIOUR["label"] not in labels[1]

    # The settings card saves the MQL definition.
    settings = {
        "name": "Workshop",
        "mql_threshold": "55",
        "min_fit_grade": "C",
        "band_a": "45",
        "band_b": "30",
        "band_c": "10",
        "decay_half_life_days": "",
    }
    response = client.post(url("scoring-model-settings", model_id=draft.pk), settings, **HTMX)
    assert response.status_code == 200 and "Settings saved." in response.content.decode()
    with as_org(trio.alpha):
        draft.refresh_from_db()
    assert (draft.mql_threshold, draft.min_fit_grade, draft.decay_half_life_days) == (55, "C", None)
    assert draft.grade_bands == {"A": 45, "B": 30, "C": 10}


@pytest.mark.parametrize(
    ("endpoint", "data", "field"),
    [
        (
            "scoring-behaviour-add",
            {**BEHAVIOUR, "match_operator": "regex", "match_value": r"/pricing\b"},
            "match_value",
        ),
        (
            "scoring-behaviour-add",
            {**BEHAVIOUR, "match_operator": "regex", "match_value": "(unclosed"},
            "match_value",
        ),
        ("scoring-behaviour-add", {**BEHAVIOUR, "min_count": ""}, "min_count"),
        ("scoring-behaviour-add", {**BEHAVIOUR, "points": "-20"}, "points"),
        (
            "scoring-behaviour-add",
            {**BEHAVIOUR, "event_type": "custom", "custom_type": "Bad Name"},
            "custom_type",
        ),
        ("scoring-behaviour-add", {**BEHAVIOUR, "points": "many"}, "points"),
        (
            "scoring-fit-add",
            {
                "label": "",
                "attribute": "title",
                "operator": "contains",
                "value": "cto",
                "points": "5",
            },
            "label",
        ),
        (
            "scoring-fit-add",
            {
                "label": "x",
                "attribute": "title",
                "operator": "between",
                "value_min": "1",
                "value_max": "2",
                "points": "5",
            },
            "operator",
        ),
        (
            "scoring-fit-add",
            {
                "label": "x",
                "attribute": "email",
                "operator": "email_domain_in",
                "value": "not a domain",
                "points": "-5",
            },
            "value",
        ),
        (
            "scoring-fit-add",
            {
                "label": "x",
                "attribute": "title",
                "operator": "contains",
                "value": "cto",
                "points": "0",
            },
            "points",
        ),
    ],
)
def test_bad_rules_are_refused_with_field_errors_and_nothing_written(
    client_for, trio, draft, as_org, endpoint, data, field
):
    client = client_for(trio.alice)
    before = rules_of(trio.alpha, draft, as_org)
    response = client.post(url(endpoint, model_id=draft.pk), data, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "field__error" in html
    card = "behaviour" if "behaviour" in endpoint else "fit"
    assert f'id="{card}-new-{field}"' in html
    # The error sits under the field itself, before the next field's label.
    block = html.split(f'id="{card}-new-{field}"', 1)[1].split("<label", 1)[0]
    assert "field__error" in block, html
    assert client.post(url(endpoint, model_id=draft.pk), data).status_code == 400
    assert rules_of(trio.alpha, draft, as_org) == before


def test_bad_settings_are_refused_and_nothing_written(client_for, trio, draft, as_org):
    client = client_for(trio.alice)
    good = {"mql_threshold": "60", "band_a": "40", "band_b": "25", "band_c": "10"}
    for data, message in [
        ({**good, "mql_threshold": "0"}, "Between 1 and 100."),
        ({**good, "mql_threshold": "abc"}, "Enter a whole number."),
        ({**good, "band_a": "5"}, "Floors must go down from A to C."),
        ({**good, "decay_half_life_days": "0"}, "Between 1 and 3650."),
    ]:
        response = client.post(url("scoring-model-settings", model_id=draft.pk), data, **HTMX)
        assert response.status_code == 422, data
        assert message in response.content.decode()
    with as_org(trio.alpha):
        draft.refresh_from_db()
    assert (draft.mql_threshold, draft.grade_bands, draft.decay_half_life_days) == (
        60,
        {"A": 40, "B": 25, "C": 10},
        30,
    )


def test_editing_the_active_model_goes_to_a_new_draft(client_for, trio, template, as_org):
    client = client_for(trio.alice)
    response = client.post(url("scoring-model-edit", model_id=template.pk))
    with as_org(trio.alpha):
        draft = ScoringModel.objects.for_org(trio.alpha).get(status="draft")
    assert response["Location"] == url("scoring-model", model_id=draft.pk)
    # A rule of the active model edited through htmx: a further draft, and the page goes there.
    fit, _rule = first_rules(trio.alpha, template, as_org)
    response = client.post(
        url("scoring-fit-rule", rule_id=fit.pk),
        {
            "label": fit.label,
            "attribute": "seniority",
            "operator": "in",
            "value": "vp",
            "points": "20",
        },
        **HTMX,
    )
    assert response.status_code == 204
    with as_org(trio.alpha):
        newest = ScoringModel.objects.for_org(trio.alpha).order_by("-version").first()
        fit.refresh_from_db()
    assert response["HX-Redirect"] == url("scoring-model", model_id=newest.pk)
    assert newest.status == "draft" and fit.points == 15  # the active rule is untouched
    page = client.get(url("scoring-model", model_id=template.pk)).content.decode()
    assert "Edit (makes a new draft)" in page and 'name="label"' not in page


def test_archived_versions_are_read_only_and_restored_as_a_draft(
    client_for, trio, template, draft, as_org
):
    with as_org(trio.alpha):
        services.model_activate(actor=trio.alice_membership, model=draft)
    client = client_for(trio.alice)
    page = client.get(url("scoring-model", model_id=template.pk)).content.decode()
    assert "Archived" in page and "Restore as a draft" in page and 'name="label"' not in page
    home = client.get(url("scoring-home")).content.decode()
    assert "activated" in home and "Alice Martin" in home
    response = client.post(url("scoring-model-edit", model_id=template.pk))
    with as_org(trio.alpha):
        restored = ScoringModel.objects.for_org(trio.alpha).get(status="draft")
    assert (restored.version, restored.based_on_id) == (3, template.pk)
    assert response["Location"] == url("scoring-model", model_id=restored.pk)


def test_deleting_a_draft(client_for, trio, template, draft, as_org):
    client = client_for(trio.alice)
    assert client.post(url("scoring-model-delete", model_id=template.pk)).status_code == 302
    response = client.post(url("scoring-model-delete", model_id=draft.pk))
    assert response["Location"] == url("scoring-home")
    with as_org(trio.alpha):
        assert list(ScoringModel.objects.for_org(trio.alpha).values_list("status", flat=True)) == [
            "active"
        ]


# --- Preview --------------------------------------------------------------------------


def test_the_preview_scores_sample_leads_with_the_draft_and_the_active_model(
    client_for, trio, template, draft, as_org
):
    ingest(
        trio.alpha,
        [pricing("claire@exemple.fr", timedelta(days=d)) for d in (1, 2, 3)]
        + [event("email_click", ago=timedelta(hours=2), email="hugo@acme.fr")],
    )
    client = client_for(trio.alice)
    with as_org(trio.alpha):
        rule = BehaviourRule.objects.for_org(trio.alpha).get(
            model=draft, label="Pricing page 3× in 7 days"
        )
    data = {
        "label": rule.label,
        "event_type": "page_view",
        "match_field": "url",
        "match_operator": "regex",
        "match_value": rule.match_value,
        "mode": "frequency",
        "points": "25",
        "min_count": "3",
        "window_days": "7",
        "marks_hot": "on",
    }
    assert (
        client.post(url("scoring-behaviour-rule", rule_id=rule.pk), data, **HTMX).status_code == 200
    )
    response = client.get(url("scoring-model", model_id=draft.pk), **target("preview"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="preview"') and "claire@exemple.fr" in html
    # (A partial does not record its context in tests: the whole page does.)
    response = client.get(url("scoring-model", model_id=draft.pk))
    rows = {row.lead.email: row for row in response.context["preview_rows"]}
    claire = rows["claire@exemple.fr"]
    assert (claire.active.score, claire.draft.score, claire.delta) == (40, 25, -15)
    assert claire.draft.hot and "Pricing page 3× in 7 days: +40 → +25" in claire.deltas
    assert rows["hugo@acme.fr"].delta == 0
    # Search narrows the sample; nothing matches → an empty state.
    found = client.get(url("scoring-model", model_id=draft.pk) + "?q=hugo")
    assert [row.lead.email for row in found.context["preview_rows"]] == ["hugo@acme.fr"]
    none = client.get(url("scoring-model", model_id=draft.pk) + "?q=nobody", **target("preview"))
    assert "No lead matches this search." in none.content.decode()
    long = client.get(
        url("scoring-model", model_id=draft.pk) + "?q=" + "x" * 101, **target("preview")
    )
    assert long.status_code == 422


# --- What-if --------------------------------------------------------------------------


@pytest.fixture
def history(trio, template, as_org):
    """Three leads over the last days: Ana qualifies under the template (demo request
    and three pricing views), Ben has a demo request only (about 49 points: under 60),
    Chloé clicked an e-mail. Ben then went on to SQL."""
    ingest(
        trio.alpha,
        [
            event("demo_request", ago=timedelta(days=2), email="ana@acme-industrie.fr"),
            *[pricing("ana@acme-industrie.fr", timedelta(days=d, hours=1)) for d in (1, 2, 3)],
            event("demo_request", ago=timedelta(days=1), email="ben@acme-industrie.fr"),
            event("email_click", ago=timedelta(days=1), email="chloe@acme-industrie.fr"),
        ],
    )
    ben = lead_of(trio.alpha, "ben@acme-industrie.fr")
    with as_org(trio.alpha):
        ben.organization = trio.alpha
        lead_services.lead_mark_mql(lead=ben, reason="by hand")
        lead_services.lead_accept(actor=trio.alice_membership, lead=ben)
        lead_services.lead_qualify(actor=trio.alice_membership, lead=ben, budget="yes", need="yes")
        draft = services.model_create_draft(actor=trio.alice_membership, organization=trio.alpha)
        draft = services.model_update(
            actor=trio.alice_membership, model=draft, data={"mql_threshold": 40}
        )
    return draft


def test_the_what_if_counts_mqls_and_sqls_for_both_models(trio, template, history, as_org):
    with as_org(trio.alpha):
        result = whatif.simulate(
            organization=trio.alpha, draft=history, active=template, days=30, now=NOW
        )
    assert (result.active.mqls, result.active.reached_sql) == (1, 0)
    assert (result.draft.mqls, result.draft.reached_sql) == (2, 1)
    assert [lead.email for lead in result.added] == ["ben@acme-industrie.fr"]
    assert (result.added_count, result.dropped_count) == (1, 0)
    assert result.draft.rate == 50 and result.active.rate == 0
    # Ana crossed at her third pricing view (the demo request alone is not enough).
    ana = lead_of(trio.alpha, "ana@acme-industrie.fr")
    assert result.active.crossings[ana.pk] == NOW - timedelta(days=1, hours=1)
    # Over 7 days too; but a day ago, Ben's and Ana's last events had not happened yet.
    with as_org(trio.alpha):
        earlier = whatif.simulate(
            organization=trio.alpha,
            draft=history,
            active=template,
            days=7,
            now=NOW - timedelta(days=1, hours=2),
        )
    assert (earlier.active.mqls, earlier.draft.mqls) == (0, 1)  # Ana's demo request only


def test_the_what_if_page_shows_both_sides_and_a_chart(client_for, trio, history):
    client = client_for(trio.alice)
    response = client.get(
        url("scoring-model", model_id=history.pk) + "?days=30", **target("whatif")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="whatif"')
    assert 'data-testid="whatif-active-mqls">1<' in html
    assert 'data-testid="whatif-draft-mqls">2<' in html
    assert 'data-testid="whatif-draft-sql">1<' in html
    assert "<svg" in html
    assert "1 lead would become MQL with this version only:" in html
    assert "ben@acme-industrie.fr</a>" in html  # the lead the draft adds, linked
    # Without htmx: the whole editor, with the result in it.
    page = client.get(url("scoring-model", model_id=history.pk) + "?days=7")
    assert page.status_code == 200 and 'data-testid="whatif-draft-mqls"' in page.content.decode()
    # A period that is not offered is refused.
    assert (
        client.get(
            url("scoring-model", model_id=history.pk) + "?days=12", **target("whatif")
        ).status_code
        == 422
    )
    assert client.get(url("scoring-model", model_id=history.pk) + "?days=abc").status_code == 400


def test_a_lead_qualifying_before_the_period_or_already_sql_is_not_a_new_mql():
    rules = ModelRules(
        id=1,
        version=1,
        fit_rules=(),
        behaviour_rules=tuple(
            [compile_rule(label="Demo", event_type="demo_request", points=70, cap=None)]
        ),
        grade_bands={"A": 40, "B": 25, "C": 10},
        decay_half_life_days=None,
        mql_threshold=60,
    )
    now = timezone.now()
    start = now - timedelta(days=7)
    old = [event_data("demo_request", now - timedelta(days=20))]
    new = [event_data("demo_request", now - timedelta(days=2))]
    created = now - timedelta(days=60)
    kwargs = {"start": start, "end": now, "created_at": created}
    assert whatif.crossing(rules, {}, None, old, **kwargs) is None  # qualified all along
    assert whatif.crossing(rules, {}, None, old + new, **kwargs) is None  # still qualified
    assert whatif.crossing(rules, {}, None, new, **kwargs) == new[0].occurred_at
    # A lead that appeared during the period did not qualify before it existed.
    assert (
        whatif.crossing(
            rules, {}, None, new, start=start, end=now, created_at=now - timedelta(days=3)
        )
        == new[0].occurred_at
    )


def compile_rule(**fields):
    from scoring.engine import BehaviourSpec

    return BehaviourSpec(
        id=1,
        match_field="",
        match_operator="",
        match_value="",
        mode="per_occurrence",
        min_count=None,
        window_days=None,
        marks_hot=False,
        **fields,
    )


def test_the_what_if_leaves_out_leads_already_sql_at_the_crossing(trio, template, as_org):
    ingest(
        trio.alpha,
        [
            event("demo_request", ago=timedelta(days=2), email="dan@acme-industrie.fr"),
            *[pricing("dan@acme-industrie.fr", timedelta(days=d)) for d in (1, 2, 3)],
        ],
    )
    dan = lead_of(trio.alpha, "dan@acme-industrie.fr")
    with as_org(trio.alpha):
        LifecycleTransition.objects.create(
            organization=trio.alpha,
            lead=dan,
            from_stage=Stage.SAL,
            to_stage=Stage.SQL,
            at=NOW - timedelta(days=10),
        )
        result = whatif.simulate(
            organization=trio.alpha, draft=template, active=template, days=30, now=NOW
        )
    assert result.active.mqls == 0


# --- Activation and progress ----------------------------------------------------------


def test_activation_confirms_then_re_scores_with_progress(
    client_for, trio, template, draft, as_org
):
    ingest(trio.alpha, [pricing("claire@exemple.fr", timedelta(days=d)) for d in (1, 2, 3)])
    client = client_for(trio.alice)
    confirm = client.get(url("scoring-activate", model_id=draft.pk))
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Every lead is re-scored: 1 lead." in html
    assert "Leads that are already MQL stay MQL" in html and "<strong>not</strong> demoted" in html
    response = client.post(url("scoring-activate", model_id=draft.pk))
    with as_org(trio.alpha):
        run = RescoreRun.objects.for_org(trio.alpha).get()
        draft.refresh_from_db()
        template.refresh_from_db()
    assert response["Location"] == url("scoring-run", run_id=run.pk)
    assert (draft.status, draft.activated_by_id, template.status) == (
        "active",
        trio.alice.pk,
        "archived",
    )
    assert (run.status, run.total, run.model_id, run.previous_model_id) == (
        "queued",
        1,
        draft.pk,
        template.pk,
    )

    page = client.get(url("scoring-run", run_id=run.pk))
    assert page.status_code == 200 and "Waiting for a worker" in page.content.decode()
    partial = client.get(url("scoring-run", run_id=run.pk), **HTMX).content.decode()
    assert partial.lstrip().startswith('<div id="progress"')
    assert 'hx-trigger="every 1s"' in partial and 'aria-valuenow="0"' in partial

    pipeline.run_full_rescore(organization=trio.alpha, run_id=run.pk)  # what the worker does
    done = client.get(url("scoring-run", run_id=run.pk), **HTMX).content.decode()
    assert 'aria-valuenow="100"' in done and "hx-trigger" not in done
    assert "1 of 1 leads" in done and "Every lead is re-scored" in done
    assert lead_of(trio.alpha, "claire@exemple.fr").score == 40

    # Activating it again is refused in place, nothing changes.
    again = client.post(url("scoring-activate", model_id=draft.pk))
    assert again.status_code == 409 and "already active" in again.content.decode()
    with as_org(trio.alpha):
        assert RescoreRun.objects.for_org(trio.alpha).count() == 1


def test_a_sales_rep_can_watch_the_progress(client_for, trio, template, draft, as_org):
    with as_org(trio.alpha):
        run = services.model_activate(actor=trio.alice_membership, model=draft)
    assert client_for(trio.bob).get(url("scoring-run", run_id=run.pk)).status_code == 200


# --- The lead page ----------------------------------------------------------------------


def test_the_lead_page_explains_the_score(client_for, trio, template, as_org):
    ingest(
        trio.alpha,
        [pricing("claire@gmail.com", timedelta(days=d)) for d in (1, 2, 3)],
    )
    claire = lead_of(trio.alpha, "claire@gmail.com")
    with as_org(trio.alpha):
        pipeline.rescore_leads(organization=trio.alpha, lead_ids=[claire.pk], now=NOW)
    response = client_for(trio.bob).get(
        reverse("leads-detail", kwargs={"org_slug": "alpha", "lead_id": claire.pk})
    )
    assert response.status_code == 200
    html = response.content.decode()
    section = html.split('id="score-explanation"', 1)[1].split("</section>", 1)[0]
    assert "Why this score" in section
    assert "+40" in section and "Pricing page 3× in 7 days" in section and "hot" in section
    assert "−10" in section and "Free-mail address" in section
    assert "3 events" in section
    assert "Scoring model v1 · MQL from 60." in section
    assert "does not demote" in section
    lines = response.context["explanation"].lines
    assert [(line.points, line.label) for line in lines] == [
        ("+40", "Pricing page 3× in 7 days"),
        ("−10", "Free-mail address"),
    ]


def test_an_unscored_lead_says_so(client_for, trio, as_org):
    ingest(trio.alpha, [event("page_view", email="new@exemple.fr", url="https://exemple.fr/")])
    lead = lead_of(trio.alpha, "new@exemple.fr")
    html = (
        client_for(trio.alice)
        .get(reverse("leads-detail", kwargs={"org_slug": "alpha", "lead_id": lead.pk}))
        .content.decode()
    )
    assert "Not scored yet" in html


# --- Query counts -----------------------------------------------------------------------


def test_the_home_and_the_editor_run_a_bounded_number_of_queries(
    client_for, trio, template, draft, as_org, django_assert_max_num_queries
):
    ingest(
        trio.alpha,
        [pricing(f"lead{i}@societe{i}.fr", timedelta(hours=i)) for i in range(30)],
    )
    with as_org(trio.alpha):
        for i in range(15):
            services.fit_rule_add(
                actor=trio.alice_membership,
                model=draft,
                data={
                    "label": f"Title {i}",
                    "attribute": "title",
                    "operator": "contains",
                    "value": f"t{i}",
                    "points": 1,
                },
            )
        for _i in range(3):
            services.model_activate(
                actor=trio.alice_membership,
                model=services.model_create_draft(
                    actor=trio.alice_membership, organization=trio.alpha
                ),
            )
        # Keep one draft of the many rules, and a history of versions.
        draft.refresh_from_db()
    client = client_for(trio.alice)
    # About 14 are the request's own (session, tenant, membership, bell). The home adds
    # the versions, the active model with its rules, the latest run and the predictive
    # status (3); the editor the draft and the active model with their rules, the
    # sample leads and their events.
    with django_assert_max_num_queries(26):
        assert client.get(url("scoring-home")).status_code == 200
    with django_assert_max_num_queries(24):
        response = client.get(url("scoring-model", model_id=draft.pk))
    assert response.status_code == 200 and len(response.context["preview_rows"]) == 10
    assert len(response.context["fit_rows"]) == 21


def test_the_predictive_score_can_be_trained_from_the_scoring_page(trio, client_for):
    home = client_for(trio.alice).get("/o/alpha/scoring/")
    assert b"predictive-status" in home.content
    response = client_for(trio.alice).post("/o/alpha/scoring/predictive/train/", follow=True)
    assert response.status_code == 200
    assert client_for(trio.bob).post("/o/alpha/scoring/predictive/train/").status_code == 403
    assert client_for(trio.charlie).post("/o/alpha/scoring/predictive/train/").status_code == 404
