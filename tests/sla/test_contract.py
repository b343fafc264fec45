"""The contract: drafts, the two signatures, signed terms that never change, the calendar."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from django.db import connections

from sla import selectors, services
from sla.models import BusinessCalendar, ContractVersion, Holiday, SalesCommitment
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import PermissionDenied, Role
from tests.factories import MembershipFactory, UserFactory

from .conftest import make_draft, paris, sign_both

pytestmark = pytest.mark.django_db


def _kinds(org, kind):
    with tenant_context(org.pk):
        return sorted(
            Notification.objects.for_org(org)
            .filter(kind=kind)
            .values_list("recipient_id", flat=True)
        )


def test_signing_by_both_heads_activates_the_version(trio, heads, draft):
    at = paris(2026, 1, 5, 10)
    with tenant_context(trio.alpha.pk):
        services.sign(version=draft, user=heads.mia, side="marketing", at=at)
    assert _kinds(trio.alpha, "sla.signature") == sorted([heads.mia.pk, heads.sam.pk])
    with tenant_context(trio.alpha.pk):
        version = services.sign(version=draft, user=heads.sam, side="sales", at=at)
        active = selectors.active_version(trio.alpha)
    assert active.pk == draft.pk and version.status == ContractVersion.Status.ACTIVE
    assert (
        version.marketing_signed_by_id == heads.mia.pk
        and version.sales_signed_by_id == heads.sam.pk
    )
    assert version.activated_at == at and len(version.terms_hash) == 64
    assert "120" in version.signed_text and "Monday: 09:00–18:00" in version.signed_text
    with tenant_context(trio.alpha.pk):
        assert services.verify_terms(version)
    assert _kinds(trio.alpha, "sla.contract_signed") == sorted([heads.mia.pk, heads.sam.pk])


def test_contract_signed_is_sent_once(trio, heads, draft):
    from sla import signals

    received = []

    def receiver(sender, organization, version, **kwargs):
        received.append((organization.pk, version.pk))

    signals.contract_signed.connect(receiver)
    try:
        sign_both(draft, heads)
    finally:
        signals.contract_signed.disconnect(receiver)
    assert received == [(trio.alpha.pk, draft.pk)]


def test_a_new_version_copies_the_active_one_and_supersedes_it(trio, heads, signed):
    with tenant_context(trio.alpha.pk):
        v2 = services.draft_create(actor=heads.sam_membership, organization=trio.alpha)
        assert services.draft_create(actor=heads.sam_membership, organization=trio.alpha) == v2
        assert v2.number == 2 and v2.status == ContractVersion.Status.DRAFT
        sales = list(SalesCommitment.objects.for_org(trio.alpha).filter(version=v2))
        assert [c.response_minutes for c in sales] == [240, 120, 60]
        services.sales_commitment_update(
            actor=heads.sam_membership,
            commitment=sales[1],
            data={"trigger": "event", "event_type": "demo_request", "response_minutes": 60},
        )
    sign_both(v2, heads, at=paris(2026, 2, 1, 9))
    with tenant_context(trio.alpha.pk):
        v1 = ContractVersion.objects.for_org(trio.alpha).get(pk=signed.pk)
        assert v1.status == ContractVersion.Status.SUPERSEDED and v1.superseded_at
        assert selectors.active_version(trio.alpha).pk == v2.pk
        # v1's terms are untouched.
        assert [c.response_minutes for c in v1.sales_commitments.order_by("position")] == [
            240,
            120,
            60,
        ]


def test_signed_terms_never_change(trio, heads, signed):
    with tenant_context(trio.alpha.pk):
        commitment = signed.sales_commitments.first()
        marketing = signed.marketing_commitments.first()
    attempts = [
        lambda: services.version_update(actor=heads.sam_membership, version=signed, title="x"),
        lambda: services.sales_commitment_add(
            actor=heads.sam_membership,
            version=signed,
            data={"trigger": "became_hot", "response_minutes": 5},
        ),
        lambda: services.sales_commitment_update(
            actor=heads.sam_membership,
            commitment=commitment,
            data={"trigger": "became_mql", "response_minutes": 1},
        ),
        lambda: services.sales_commitment_remove(actor=heads.sam_membership, commitment=commitment),
        lambda: services.marketing_commitment_update(
            actor=heads.mia_membership,
            commitment=marketing,
            data={"metric": "mql", "target": 1, "period": "week"},
        ),
        lambda: services.marketing_commitment_remove(
            actor=heads.mia_membership, commitment=marketing
        ),
        lambda: services.draft_discard(actor=heads.mia_membership, version=signed),
    ]
    for attempt in attempts:
        with tenant_context(trio.alpha.pk), pytest.raises(services.SlaError) as error:
            attempt()
        assert error.value.status == 409 and error.value.code == "signed"
    with tenant_context(trio.alpha.pk):
        assert services.verify_terms(ContractVersion.objects.for_org(trio.alpha).get(pk=signed.pk))


def test_a_half_signed_draft_is_frozen(trio, heads, draft):
    with tenant_context(trio.alpha.pk):
        services.sign(version=draft, user=heads.mia, side="marketing")
        with pytest.raises(services.SlaError) as error:
            services.version_update(actor=heads.mia_membership, version=draft, title="changed")
    assert error.value.status == 409


def test_signing_roles(trio, heads, draft):
    with tenant_context(trio.alpha.pk):
        for user, side in (
            (heads.sam, "marketing"),
            (heads.mia, "sales"),
            (trio.alice, "marketing"),  # the owner is not a head of a team
            (trio.bob, "sales"),
            (trio.charlie, "sales"),  # not even a member
        ):
            with pytest.raises(services.SlaError) as error:
                services.sign(version=draft, user=user, side=side)
            assert error.value.status == 403
        with pytest.raises(services.SlaError):
            services.sign(version=draft, user=heads.mia, side="legal")
        services.sign(version=draft, user=heads.mia, side="marketing")
        with pytest.raises(services.SlaError) as error:
            services.sign(version=draft, user=heads.mia, side="marketing")
        assert error.value.code == "already_signed"


def test_one_person_cannot_sign_for_both_teams(trio, heads, draft):
    """Even if a role change lets the same person hold the other signing role later."""
    with tenant_context(trio.alpha.pk):
        services.sign(version=draft, user=heads.mia, side="marketing")
        type(heads.mia_membership).objects.for_org(trio.alpha).filter(user=heads.mia).update(
            role=Role.SALES_MANAGER
        )
        with pytest.raises(services.SlaError) as error:
            services.sign(version=draft, user=heads.mia, side="sales")
    assert error.value.code == "same_signer"


def test_an_empty_draft_cannot_be_signed(trio, heads):
    version = make_draft(trio.alpha, trio.alice_membership, marketing=[], sales=[])
    with tenant_context(trio.alpha.pk), pytest.raises(services.SlaError) as error:
        services.sign(version=version, user=heads.mia, side="marketing")
    assert error.value.code == "empty"


def test_editing_needs_sla_manage(trio, draft):
    with tenant_context(trio.alpha.pk), pytest.raises(PermissionDenied):
        services.version_update(actor=trio.bob_membership, version=draft, title="mine")


def test_commitments_are_validated(trio, draft):
    bad = [
        {"metric": "leads", "target": 10, "period": "month"},
        {"metric": "mql", "target": 0, "period": "month"},
        {"metric": "mql", "target": 10, "period": "year"},
    ]
    with tenant_context(trio.alpha.pk):
        for data in bad:
            with pytest.raises(services.SlaError):
                services.marketing_commitment_add(
                    actor=trio.alice_membership, version=draft, data=data
                )
        for data in (
            {"trigger": "event", "event_type": "nope", "response_minutes": 60},
            {"trigger": "became_mql", "response_minutes": -1},
            {"trigger": "became_mql", "response_minutes": 60, "warn_percent": 100},
        ):
            with pytest.raises(services.SlaError):
                services.sales_commitment_add(actor=trio.alice_membership, version=draft, data=data)


# --- the calendar ---------------------------------------------------------------------


def test_a_french_organization_gets_french_holidays_for_two_years(trio):
    with tenant_context(trio.alpha.pk):
        calendar = services.calendar_ensure(organization=trio.alpha, now=paris(2026, 3, 1))
        days = set(Holiday.objects.for_org(trio.alpha).values_list("day", flat=True))
    assert calendar.time_zone == "Europe/Paris" and calendar.holiday_country == "FR"
    assert {date(2026, 5, 1), date(2026, 7, 14), date(2027, 5, 1), date(2027, 12, 25)} <= days
    assert len(days) == 22  # 11 a year


def test_another_organization_gets_no_holidays(trio):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory(slug="nyc", time_zone="America/New_York", language="en")
    with tenant_context(org.pk):
        calendar = services.calendar_ensure(organization=org)
        assert calendar.time_zone == "America/New_York" and calendar.holiday_country == ""
        assert not Holiday.objects.for_org(org).exists()


def test_the_drafts_calendar_is_editable(trio, heads, draft):
    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        services.calendar_update(
            actor=actor,
            version=draft,
            weekly_hours={"0": [["08:00", "12:00"], ["14:00", "17:00"]], "5": [["10:00", "12:00"]]},
        )
        services.holiday_add(actor=actor, version=draft, day=date(2026, 8, 14), name="Pont")
        with pytest.raises(services.SlaError) as duplicate:
            services.holiday_add(actor=actor, version=draft, day=date(2026, 8, 14))
        assert duplicate.value.status == 409
        with pytest.raises(services.SlaError):
            services.holiday_add(actor=actor, version=draft, day=date(1, 1, 1))
        version = ContractVersion.objects.for_org(trio.alpha).get(pk=draft.pk)
        assert version.calendar_hours["0"] == [["08:00", "12:00"], ["14:00", "17:00"]]
        assert {"day": "2026-08-14", "name": "Pont"} in version.calendar_holidays
        calendar = services.terms(version)["calendar"]
        assert calendar["weekly_hours"]["1"] == [] and "2026-08-14" in calendar["holidays"]
        # The live calendar (the clocks') has not changed.
        spec = selectors.calendar_spec(trio.alpha)
        assert spec.week[0] == ((540, 1080),) and date(2026, 8, 14) not in spec.holidays
        services.holiday_remove(actor=actor, version=draft, day=date(2026, 8, 14))
        version.refresh_from_db()
        assert "2026-08-14" not in [h["day"] for h in version.calendar_holidays]
        with pytest.raises(services.SlaError) as missing:
            services.holiday_remove(actor=actor, version=draft, day=date(2026, 8, 14))
        assert missing.value.status == 404
        for bad in ({"0": [["18:00", "09:00"]]}, {"0": [["9", "10"]]}, {}):
            with pytest.raises(services.SlaError):
                services.calendar_update(actor=actor, version=draft, weekly_hours=bad)
        with pytest.raises(services.SlaError):
            services.calendar_update(actor=actor, version=draft, time_zone="Mars/Base")
        with pytest.raises(PermissionDenied):
            services.calendar_update(actor=trio.bob_membership, version=draft, time_zone="UTC")
        assert BusinessCalendar.objects.for_org(trio.alpha).count() == 1


def test_the_calendar_changes_only_with_both_signatures(trio, heads, signed):
    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        v1 = ContractVersion.objects.for_org(trio.alpha).get(pk=signed.pk)
        v2 = services.draft_create(actor=actor, organization=trio.alpha)
        assert v2.calendar_hours == v1.calendar_hours
        assert v2.calendar_holidays == v1.calendar_holidays
        services.calendar_update(
            actor=actor,
            version=v2,
            time_zone="Europe/Brussels",
            weekly_hours={"0": [["10:00", "16:00"]]},
        )
        services.holiday_add(actor=actor, version=v2, day=date(2026, 8, 14), name="Pont")
        # The contract in force still says, and the clocks still count, the old hours.
        assert services.verify_terms(v1)
        spec = selectors.calendar_spec(trio.alpha)
        assert spec.zone_name == "Europe/Paris" and spec.week[0] == ((540, 1080),)
        services.sign(version=v2, user=heads.mia, side="marketing")
        # Signed on one side: the calendar is locked.
        with pytest.raises(services.SlaError) as locked:
            services.holiday_add(actor=actor, version=v2, day=date(2026, 8, 17))
        assert locked.value.status == 409
        assert selectors.calendar_spec(trio.alpha).week[0] == ((540, 1080),)
        services.sign(version=v2, user=heads.sam, side="sales")
        spec = selectors.calendar_spec(trio.alpha)
        assert spec.zone_name == "Europe/Brussels" and spec.week[0] == ((600, 960),)
        assert spec.week[1] == () and date(2026, 8, 14) in spec.holidays
        assert Holiday.objects.for_org(trio.alpha).get(day=date(2026, 8, 14)).name == "Pont"
        # Both versions still verify: each keeps the calendar it was signed with.
        v1.refresh_from_db()
        v2.refresh_from_db()
        assert services.verify_terms(v1) and services.verify_terms(v2)
        assert "Europe/Brussels" in v2.signed_text and "Europe/Paris" in v1.signed_text


def test_a_version_without_its_own_calendar_reads_the_live_one(trio, heads, signed):
    """Versions made before calendars were versioned keep verifying, and keep their
    calendar when a new version changes the live one."""
    with tenant_context(trio.alpha.pk):
        ContractVersion.objects.for_org(trio.alpha).filter(pk=signed.pk).update(
            calendar_hours=None, calendar_holidays=[], calendar_time_zone=""
        )
        v1 = ContractVersion.objects.for_org(trio.alpha).get(pk=signed.pk)
        assert services.verify_terms(v1)
        v2 = services.draft_create(actor=None, organization=trio.alpha)
        services.calendar_update(actor=None, version=v2, weekly_hours={"0": [["10:00", "16:00"]]})
        sign_both(v2, heads)
        v1.refresh_from_db()
        assert v1.calendar_hours["0"] == [["09:00", "18:00"]] and services.verify_terms(v1)


def test_public_holidays_join_the_draft_all_at_once(trio, heads, draft):
    with tenant_context(trio.alpha.pk):
        version = ContractVersion.objects.for_org(trio.alpha).get(pk=draft.pk)
        version.calendar_holidays = []
        version.save()
        added = services.holidays_add_public(
            actor=None, version=version, country="FR", years=[2030, 2031]
        )
        assert added == 22
        assert (
            services.holidays_add_public(actor=None, version=version, country="FR", years=[2030])
            == 0
        )
        version.refresh_from_db()
        assert "2030-07-14" in [h["day"] for h in version.calendar_holidays]


def test_an_edit_between_reading_and_signing_refuses_the_signature(trio, heads, draft):
    with tenant_context(trio.alpha.pk):
        read = services.terms_hash(services.terms(draft))
        services.holiday_add(actor=None, version=draft, day=date(2026, 8, 14))
        with pytest.raises(services.SlaError) as refused:
            services.sign(version=draft, user=heads.mia, side="marketing", expected_hash=read)
        assert refused.value.status == 409 and refused.value.code == "terms_changed"
        assert (
            ContractVersion.objects.for_org(trio.alpha).get(pk=draft.pk).marketing_signed_at is None
        )
        draft.refresh_from_db()
        fresh = services.terms_hash(services.terms(draft))
        signed = services.sign(version=draft, user=heads.mia, side="marketing", expected_hash=fresh)
        assert signed.marketing_signed_by_id == heads.mia.pk


def test_the_terms_hash_is_the_sha256_of_canonical_terms(trio, heads, signed):
    import hashlib
    import json

    with tenant_context(trio.alpha.pk):
        version = ContractVersion.objects.for_org(trio.alpha).get(pk=signed.pk)
        data = services.terms(version)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert version.terms_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert [c["response_minutes"] for c in data["sales"]] == [240, 120, 60]


def test_a_second_marketing_head_may_sign_a_later_version(trio, heads, signed):
    other = UserFactory(email="max@alpha.test")
    MembershipFactory(organization=trio.alpha, user=other, role=Role.MARKETING_MANAGER)
    with tenant_context(trio.alpha.pk):
        v2 = services.draft_create(actor=heads.mia_membership, organization=trio.alpha)
        services.sign(version=v2, user=other, side="marketing")
        version = services.sign(version=v2, user=heads.sam, side="sales")
    assert version.status == ContractVersion.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_a_signature_waits_for_an_edit_in_progress_and_sees_it(trio, heads):
    """The hash check runs under the version's row lock, which every edit takes: a
    signature racing an edit either signs before it (the edit is then refused) or sees
    it (409)."""
    draft = make_draft(trio.alpha, trio.alice_membership)
    with tenant_context(trio.alpha.pk):
        read = services.terms_hash(services.terms(draft))
    editing = threading.Event()
    outcome: dict = {}

    def edit():
        try:
            with tenant_context(trio.alpha.pk):
                services.holiday_add(actor=None, version=draft, day=date(2026, 8, 14))
                editing.set()
                time.sleep(0.6)  # the signer is now waiting on the row lock
        finally:
            editing.set()
            connections.close_all()

    def sign():
        editing.wait(10)
        try:
            with tenant_context(trio.alpha.pk):
                services.sign(version=draft, user=heads.mia, side="marketing", expected_hash=read)
            outcome["signed"] = True
        except services.SlaError as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=edit), threading.Thread(target=sign)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "signed" not in outcome
    assert outcome["error"].status == 409 and outcome["error"].code == "terms_changed"
    with tenant_context(trio.alpha.pk):
        version = ContractVersion.objects.for_org(trio.alpha).get(pk=draft.pk)
    assert version.marketing_signed_at is None
    assert [h["day"] for h in version.calendar_holidays if h["day"] == "2026-08-14"]
