"""Routing of MQLs to sales reps, and the routing settings page.

The pool in Alpha is bob (from the trio), dana and eve, all sales reps, created in that
order: with nobody served yet, round-robin goes bob → dana → eve.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads import routing
from leads.models import Company, Lead, RepRouting, RoutingSettings, Stage
from leads.services import LeadError
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import PermissionDenied, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def team(trio):
    dana = UserFactory(email="dana@alpha.test", full_name="Dana Leroy")
    eve = UserFactory(email="eve@alpha.test", full_name="Eve Moreau")
    return SimpleNamespace(
        **vars(trio),
        dana=dana,
        eve=eve,
        dana_membership=MembershipFactory(organization=trio.alpha, user=dana, role=Role.SALES_REP),
        eve_membership=MembershipFactory(organization=trio.alpha, user=eve, role=Role.SALES_REP),
    )


_n = iter(range(10_000))


def mql(org, **fields) -> Lead:
    """A new MQL of ``org`` (call inside ``as_org(org)``)."""
    return Lead.objects.create(
        organization=org, email=f"lead{next(_n)}@prospect.test", stage=Stage.MQL, **fields
    )


def rep_of(org, user) -> RepRouting:
    return RepRouting.objects.for_org(org).get(user=user)


def set_rule(org, **fields) -> None:
    RoutingSettings.objects.for_org(org).update_or_create(organization=org, defaults=fields)


def set_rep(org, user, **fields) -> None:
    RepRouting.objects.for_org(org).update_or_create(organization=org, user=user, defaults=fields)


# --- Round-robin ----------------------------------------------------------------------


def test_round_robin_serves_three_reps_in_turn_over_six_leads(team, as_org):
    with as_org(team.alpha):
        owners = [routing.route_lead(lead=mql(team.alpha), now=NOW) for _ in range(6)]
        assert owners == [team.bob, team.dana, team.eve] * 2
        # The owner is written on the lead, and the counts follow.
        stored = Lead.objects.for_org(team.alpha).order_by("pk").values_list("owner", flat=True)
        assert list(stored) == [u.pk for u in owners]
        assert [rep_of(team.alpha, u).assigned_count for u in (team.bob, team.dana, team.eve)] == [
            2,
            2,
            2,
        ]


def test_round_robin_creates_the_rep_rows_active_by_default(team, as_org):
    with as_org(team.alpha):
        assert not RepRouting.objects.for_org(team.alpha).exists()
        routing.route_lead(lead=mql(team.alpha))
        rows = RepRouting.objects.for_org(team.alpha)
        assert {r.user_id for r in rows} == {team.bob.pk, team.dana.pk, team.eve.pk}
        assert all(r.active for r in rows)


def test_the_rep_served_longest_ago_goes_first(team, as_org):
    with as_org(team.alpha):
        set_rep(team.alpha, team.bob, last_assigned_at=NOW - timedelta(hours=1))
        set_rep(team.alpha, team.dana, last_assigned_at=NOW - timedelta(hours=3))
        set_rep(team.alpha, team.eve, last_assigned_at=NOW - timedelta(hours=2))
        owners = [routing.route_lead(lead=mql(team.alpha), now=NOW) for _ in range(3)]
        assert owners == [team.dana, team.eve, team.bob]


def test_an_away_rep_is_skipped_until_back(team, as_org):
    with as_org(team.alpha):
        set_rep(team.alpha, team.dana, away_until=NOW + timedelta(days=2))
        owners = [routing.route_lead(lead=mql(team.alpha), now=NOW) for _ in range(3)]
        assert owners == [team.bob, team.eve, team.bob]
        # Back: dana has waited longest, she is next.
        later = NOW + timedelta(days=3)
        assert routing.route_lead(lead=mql(team.alpha), now=later) == team.dana


def test_an_inactive_rep_or_a_disabled_account_is_skipped(team, as_org):
    with as_org(team.alpha):
        set_rep(team.alpha, team.bob, active=False)
    team.eve.is_active = False
    team.eve.save()
    with as_org(team.alpha):
        owners = [routing.route_lead(lead=mql(team.alpha), now=NOW) for _ in range(3)]
        assert owners == [team.dana] * 3


def test_only_sales_reps_are_in_the_pool(team, as_org):
    # alice (owner) is not routed leads; a rep who became a marketer leaves the pool.
    with as_org(team.alpha):
        routing.route_lead(lead=mql(team.alpha), now=NOW)
        team.dana_membership.role = Role.MARKETER
        team.dana_membership.save()
        owners = [routing.route_lead(lead=mql(team.alpha), now=NOW) for _ in range(3)]
        assert owners == [team.eve, team.bob, team.eve]


def test_territory_sends_a_lead_to_the_rep_covering_its_country(team, as_org):
    with as_org(team.alpha):
        set_rule(team.alpha, by_territory=True)
        set_rep(team.alpha, team.eve, countries=["BE", "LU"])
        set_rep(team.alpha, team.dana, countries=["DE"])
        assert routing.route_lead(lead=mql(team.alpha, country="BE"), now=NOW) == team.eve
        assert routing.route_lead(lead=mql(team.alpha, country="lu"), now=NOW) == team.eve
        # The company's country counts when the lead has none.
        company = Company.objects.create(organization=team.alpha, name="Acme", country="DE")
        assert routing.route_lead(lead=mql(team.alpha, company=company), now=NOW) == team.dana


def test_territory_falls_back_to_the_whole_pool(team, as_org):
    with as_org(team.alpha):
        set_rule(team.alpha, by_territory=True)
        set_rep(team.alpha, team.eve, countries=["BE"])
        # Nobody covers Spain, and a lead without a country: everyone is in, in turn.
        assert routing.route_lead(lead=mql(team.alpha, country="ES"), now=NOW) == team.bob
        assert routing.route_lead(lead=mql(team.alpha), now=NOW) == team.dana
        # The covering rep is away: fall back too.
        set_rep(team.alpha, team.eve, away_until=NOW + timedelta(days=1))
        assert routing.route_lead(lead=mql(team.alpha, country="BE"), now=NOW) == team.bob


def test_territory_is_ignored_when_the_rule_is_off(team, as_org):
    with as_org(team.alpha):
        set_rep(team.alpha, team.eve, countries=["BE"])
        assert routing.route_lead(lead=mql(team.alpha, country="BE"), now=NOW) == team.bob


def test_segment_sends_a_lead_to_the_rep_handling_its_grade(team, as_org):
    with as_org(team.alpha):
        set_rule(team.alpha, by_segment=True)
        set_rep(team.alpha, team.eve, grades=["A"])
        set_rep(team.alpha, team.dana, grades=["A", "B"])
        assert routing.route_lead(lead=mql(team.alpha, grade="A"), now=NOW) == team.dana
        assert routing.route_lead(lead=mql(team.alpha, grade="A"), now=NOW) == team.eve
        assert routing.route_lead(lead=mql(team.alpha, grade="B"), now=NOW) == team.dana
        # Nobody handles D: the whole pool, longest waiting first (bob, never served).
        assert routing.route_lead(lead=mql(team.alpha, grade="D"), now=NOW) == team.bob


def test_territory_and_segment_combine(team, as_org):
    with as_org(team.alpha):
        set_rule(team.alpha, by_territory=True, by_segment=True)
        set_rep(team.alpha, team.bob, countries=["FR"], grades=["B"])
        set_rep(team.alpha, team.dana, countries=["FR"], grades=["A"])
        assert routing.route_lead(lead=mql(team.alpha, country="FR", grade="A"), now=NOW) == (
            team.dana
        )


def test_an_owner_still_in_sales_keeps_the_lead(team, as_org):
    with as_org(team.alpha):
        lead = mql(team.alpha, owner=team.eve)
        assert routing.route_lead(lead=lead, now=NOW) == team.eve
        # Nobody's turn was spent.
        assert not RepRouting.objects.for_org(team.alpha).filter(assigned_count__gt=0).exists()
        # A sales manager owner is kept too.
        team.eve_membership.role = Role.SALES_MANAGER
        team.eve_membership.save()
        assert routing.route_lead(lead=lead, now=NOW) == team.eve


def test_a_stale_owner_is_replaced(team, as_org):
    with as_org(team.alpha):
        by_marketer = mql(team.alpha, owner=team.alice)  # alice owns the org, not in sales
        by_outsider = mql(team.alpha, owner=team.charlie)
        assert routing.route_lead(lead=by_marketer, now=NOW) == team.bob
        assert routing.route_lead(lead=by_outsider, now=NOW) == team.dana
        by_outsider.refresh_from_db()
        assert by_outsider.owner == team.dana


def test_the_owner_is_read_from_the_database(team, as_org):
    """Routing locks the lead and reads its real owner: a stale object is not trusted."""
    with as_org(team.alpha):
        lead = mql(team.alpha)
        Lead.objects.for_org(team.alpha).filter(pk=lead.pk).update(owner=team.eve)
        assert lead.owner is None
        assert routing.route_lead(lead=lead, now=NOW) == team.eve
        assert lead.owner == team.eve


def test_manual_strategy_gives_no_owner(team, as_org):
    with as_org(team.alpha):
        set_rule(team.alpha, strategy=RoutingSettings.Strategy.MANUAL)
        lead = mql(team.alpha)
        assert routing.route_lead(lead=lead, now=NOW) is None
        lead.refresh_from_db()
        assert lead.owner is None
        # A stale owner is cleared, so the lead shows as unassigned.
        stale = mql(team.alpha, owner=team.charlie)
        assert routing.route_lead(lead=stale, now=NOW) is None
        stale.refresh_from_db()
        assert stale.owner is None


def test_no_sales_rep_gives_no_owner(trio, as_org):
    with as_org(trio.charlie_org):
        assert routing.route_lead(lead=mql(trio.charlie_org), now=NOW) is None
    with as_org(trio.alpha):
        set_rep(trio.alpha, trio.bob, active=False)
        assert routing.route_lead(lead=mql(trio.alpha), now=NOW) is None


def test_routing_managers_are_the_sales_managers_else_the_admins(team, as_org):
    with as_org(team.alpha):
        assert routing.routing_managers(team.alpha) == [team.alice]
        manager = MembershipFactory(organization=team.alpha, role=Role.SALES_MANAGER)
        assert routing.routing_managers(team.alpha) == [manager.user]


# --- The compare-and-swap claim --------------------------------------------------------


def test_a_turn_taken_meanwhile_sends_the_lead_to_the_next_rep(team, as_org, monkeypatch):
    """Two routings read the same state; the other one claims bob first. Our claim of
    bob's turn updates nothing, so we read again and take dana's."""
    real_load = routing._load_pool
    calls = []

    with as_org(team.alpha):
        routing._ensure_rep_rows(team.alpha)
        stale = real_load(team.alpha)  # what both routings saw: bob is next
        assert stale[0].user_id == team.bob.pk
        first = mql(team.alpha)
        assert routing.route_lead(lead=first, now=NOW) == team.bob  # the other routing

        def load(org):
            calls.append(org)
            return stale if len(calls) == 1 else real_load(org)

        monkeypatch.setattr(routing, "_load_pool", load)
        second = mql(team.alpha)
        assert routing.route_lead(lead=second, now=NOW) == team.dana
        assert len(calls) == 2  # one refused claim, one retry
        assert rep_of(team.alpha, team.bob).assigned_count == 1
        assert rep_of(team.alpha, team.dana).assigned_count == 1


def test_the_claim_is_refused_when_the_turn_changed(team, as_org):
    with as_org(team.alpha):
        routing._ensure_rep_rows(team.alpha)
        bob = rep_of(team.alpha, team.bob)
        assert routing._claim(bob, seen=None, stamp=NOW, now=NOW)
        assert not routing._claim(bob, seen=None, stamp=NOW, now=NOW)  # seen is stale
        assert routing._claim(bob, seen=NOW, stamp=NOW + timedelta(seconds=1), now=NOW)


def test_routing_gives_up_after_a_few_refused_claims(team, as_org, monkeypatch):
    with as_org(team.alpha):
        monkeypatch.setattr(routing, "_claim", lambda *a, **k: False)
        lead = mql(team.alpha)
        assert routing.route_lead(lead=lead, now=NOW) is None
        lead.refresh_from_db()
        assert lead.owner is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_routings_never_take_the_same_turn(team, monkeypatch):
    """Two transactions on two connections read the pool at the same moment and both
    try bob's turn: PostgreSQL makes the second claim wait for the first commit, then
    re-checks its condition; it updates nothing and that routing takes dana."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks of PostgreSQL")
    with tenant_context(team.alpha.pk):
        routing._ensure_rep_rows(team.alpha)
        leads = [mql(team.alpha), mql(team.alpha)]
    real_load = routing._load_pool
    barrier = threading.Barrier(2, timeout=10)
    seen = threading.local()

    def load(org):
        pool = real_load(org)
        if not getattr(seen, "waited", False):
            seen.waited = True
            barrier.wait()  # both have read the same state
        return pool

    monkeypatch.setattr(routing, "_load_pool", load)
    owners, errors = {}, []

    def run(lead):
        try:
            with tenant_context(team.alpha.pk):
                owners[lead.pk] = routing.route_lead(lead=lead, now=NOW)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(lead,)) for lead in leads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(u.pk for u in owners.values()) == [team.bob.pk, team.dana.pk]
    with tenant_context(team.alpha.pk):
        assert rep_of(team.alpha, team.bob).assigned_count == 1
        assert rep_of(team.alpha, team.dana).assigned_count == 1


# --- Manual assignment -----------------------------------------------------------------


def test_a_manager_assigns_a_lead_to_a_member(team, as_org):
    with as_org(team.alpha):
        lead = mql(team.alpha)
        assert routing.assign_owner(actor=team.alice_membership, lead=lead, user=team.eve) == (
            team.eve
        )
        lead.refresh_from_db()
        assert lead.owner == team.eve
        manager = MembershipFactory(organization=team.alpha, role=Role.SALES_MANAGER)
        routing.assign_owner(actor=manager, lead=lead, user=team.dana)
        lead.refresh_from_db()
        assert lead.owner == team.dana
        # The round-robin turn is untouched.
        assert not RepRouting.objects.for_org(team.alpha).filter(assigned_count__gt=0).exists()


def test_assignment_to_a_non_member_is_refused(team, as_org):
    with as_org(team.alpha):
        lead = mql(team.alpha)
        with pytest.raises(LeadError) as refused:
            routing.assign_owner(actor=team.alice_membership, lead=lead, user=team.charlie)
        assert 400 <= refused.value.status < 500
        assert "owner" in refused.value.fields
        lead.refresh_from_db()
        assert lead.owner is None


def test_a_sales_rep_cannot_assign(team, as_org):
    with as_org(team.alpha):
        lead = mql(team.alpha)
        with pytest.raises(PermissionDenied):
            routing.assign_owner(actor=team.bob_membership, lead=lead, user=team.bob)
        lead.refresh_from_db()
        assert lead.owner is None


# --- Settings services -----------------------------------------------------------------


def test_countries_are_parsed_and_checked():
    assert routing.parse_countries("fr, be;CH  fr") == ["FR", "BE", "CH"]
    assert routing.parse_countries("") == []
    with pytest.raises(LeadError) as bad:
        routing.parse_countries("FR, XX, UK")
    assert len(bad.value.fields["countries"]) == 3  # XX, UK, and the hint that UK is GB


def test_a_non_sales_rep_membership_gets_no_routing_row(team, as_org):
    with as_org(team.alpha), pytest.raises(LeadError):
        routing.rep_routing_update(
            actor=team.alice_membership,
            membership=team.alice_membership,
            active=True,
            away_until=None,
            countries="",
            grades=[],
        )


# --- The settings page -----------------------------------------------------------------


def page_url(slug="alpha") -> str:
    return reverse("routing-settings", kwargs={"org_slug": slug})


def rep_url(membership, slug="alpha") -> str:
    return reverse("routing-rep", kwargs={"org_slug": slug, "membership_id": membership.pk})


REP_POST = {"active": "on", "away_until": "", "countries": "FR, BE", "grades": ["A", "B"]}


def test_the_outsider_gets_404(team, client_for):
    c = client_for(team.charlie)
    assert c.get(page_url()).status_code == 404
    assert c.post(page_url(), {"strategy": "manual"}).status_code == 404
    assert c.post(rep_url(team.dana_membership), REP_POST).status_code == 404


def test_alpha_ids_are_404_from_charlie(team, client_for):
    c = client_for(team.charlie)
    assert c.post(rep_url(team.dana_membership, "charlie"), REP_POST).status_code == 404


def test_anonymous_visitors_go_to_log_in(team, client):
    response = client.get(page_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


def test_a_sales_rep_reads_but_cannot_change(team, client_for, as_org):
    c = client_for(team.bob)
    response = c.get(page_url())
    assert response.status_code == 200
    assert b"Dana Leroy" in response.content
    assert b'name="countries"' not in response.content  # read-only table
    assert c.post(page_url(), {"strategy": "manual"}).status_code == 403
    assert c.post(rep_url(team.dana_membership), REP_POST).status_code == 403
    with as_org(team.alpha):
        assert not RoutingSettings.objects.for_org(team.alpha).exists()
        assert not RepRouting.objects.for_org(team.alpha).exists()


def test_the_owner_saves_the_rule(team, client_for, as_org):
    c = client_for(team.alice)
    response = c.post(page_url(), {"strategy": "round_robin", "by_territory": "on"})
    assert response.status_code == 302
    with as_org(team.alpha):
        rule = RoutingSettings.objects.for_org(team.alpha).get()
        assert (rule.strategy, rule.by_territory, rule.by_segment) == ("round_robin", True, False)
    assert c.get(page_url()).status_code == 200


def test_a_bad_strategy_is_a_form_error(team, client_for, as_org):
    response = client_for(team.alice).post(page_url(), {"strategy": "lottery"})
    assert response.status_code == 400
    assert response.context["settings_form"].errors["strategy"]
    with as_org(team.alpha):
        assert not RoutingSettings.objects.for_org(team.alpha).exists()


def test_a_sales_manager_saves_a_rep(team, client_for, as_org):
    manager = MembershipFactory(organization=team.alpha, role=Role.SALES_MANAGER)
    c = client_for(manager.user)
    post = {**REP_POST, "away_until": (timezone.localdate() + timedelta(days=3)).isoformat()}
    response = c.post(rep_url(team.dana_membership), post)
    assert response.status_code == 302
    assert response["Location"].endswith(f"#rep-{team.dana_membership.pk}")
    with as_org(team.alpha):
        rep = rep_of(team.alpha, team.dana)
        assert rep.active and rep.countries == ["FR", "BE"] and rep.grades == ["A", "B"]
        assert rep.away_until > timezone.now() + timedelta(days=2)
    # The page shows it back.
    body = c.get(page_url()).content.decode()
    assert 'value="FR, BE"' in body


def test_unchecking_receives_leads_pauses_the_rep(team, client_for, as_org):
    c = client_for(team.alice)
    response = c.post(rep_url(team.eve_membership), {"countries": "", "away_until": ""})
    assert response.status_code == 302
    with as_org(team.alpha):
        assert rep_of(team.alpha, team.eve).active is False


def test_htmx_gets_the_row_back(team, client_for, as_org):
    c = client_for(team.alice)
    response = c.post(rep_url(team.dana_membership), REP_POST, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="rep-{team.dana_membership.pk}"')
    assert "<html" not in body


@pytest.mark.parametrize(
    "field,value",
    [
        ("countries", "FR, XX"),
        ("countries", "France"),
        ("grades", ["E"]),
        ("away_until", "next tuesday"),
        ("away_until", "2001-01-01"),
    ],
)
def test_bad_rep_input_is_a_form_error_and_changes_nothing(team, client_for, as_org, field, value):
    c = client_for(team.alice)
    response = c.post(rep_url(team.dana_membership), {**REP_POST, field: value})
    assert response.status_code == 400
    assert b"field__error" in response.content
    assert response.context["items"]  # the whole page again, with the row's errors
    htmx = c.post(rep_url(team.dana_membership), {**REP_POST, field: value}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 422
    assert b"field__error" in htmx.content
    with as_org(team.alpha):
        assert not RepRouting.objects.for_org(team.alpha).exists()


def test_a_bad_country_names_the_code(team, client_for):
    response = client_for(team.alice).post(
        rep_url(team.dana_membership), {**REP_POST, "countries": "FR, XX"}
    )
    assert "XX is not an ISO country code." in response.content.decode()


def test_only_sales_rep_memberships_have_a_row_url(team, client_for):
    c = client_for(team.alice)
    assert c.post(rep_url(team.alice_membership), REP_POST).status_code == 404
    assert c.post(rep_url(team.charlie_membership), REP_POST).status_code == 404
    assert c.post("/o/alpha/settings/routing/reps/999999/", REP_POST).status_code == 404


def test_get_is_not_allowed_on_a_row(team, client_for):
    assert client_for(team.alice).get(rep_url(team.dana_membership)).status_code == 405


def test_the_page_runs_a_bounded_number_of_queries(
    team, client_for, as_org, django_assert_max_num_queries
):
    c = client_for(team.alice)
    with as_org(team.alpha):
        routing.route_lead(lead=mql(team.alpha))  # some rows exist, some do not
    c.get(page_url())  # the first visit also writes the session
    # 14 for the session, tenancy, base template and bell; 3 for this page.
    with django_assert_max_num_queries(17) as few:
        assert c.get(page_url()).status_code == 200
    for _i in range(10):
        MembershipFactory(organization=team.alpha, role=Role.SALES_REP)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = c.get(page_url())
    assert len(response.context["items"]) == 13


# --- In a browser ----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_edits_a_rep_row_in_place(team, page, live_server, screenshot):
    team.alice.language = "en"
    team.alice.save()
    with tenant_context(team.alpha.pk):
        for _ in range(4):
            routing.route_lead(lead=mql(team.alpha))
        set_rep(team.alpha, team.eve, away_until=timezone.now() + timedelta(days=5))
        set_rule(team.alpha, by_territory=True)
    client = Client()
    client.force_login(team.alice)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    page.goto(page_url())
    row = page.locator(f"#rep-{team.dana_membership.pk}")
    row.locator('input[name="countries"]').fill("fr, xx")
    row.get_by_role("button", name="Save").click()
    row.locator(".field__error").wait_for()
    assert "XX is not an ISO country code." in row.inner_text()
    screenshot("routing-settings-error")
    row.locator('input[name="countries"]').fill("fr, be")
    row.locator('label.grade:has-text("A")').click()
    row.get_by_role("button", name="Save").click()
    row.locator(".rep-row__saved").wait_for()
    assert row.locator('input[name="countries"]').input_value() == "FR, BE"
    with tenant_context(team.alpha.pk):
        rep = rep_of(team.alpha, team.dana)
        assert rep.countries == ["FR", "BE"] and rep.grades == ["A"]
    page.reload()
    screenshot("routing-settings")
