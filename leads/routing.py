"""Routing: who owns an MQL (DESIGN.md §4: "threshold crossed → stage MQL, owner routed").

The organization's rule lives in ``RoutingSettings`` (no row means the defaults:
round-robin, no territory, no segment). The pool is the organization's members with the
role *sales rep*; each has a ``RepRouting`` row, created on demand and active by
default, that says whether they receive leads, until when they are away, their
territory (countries) and segment (grades), and when they last got a lead.

Round-robin is "longest since served": the eligible rep with the oldest
``last_assigned_at`` (never served first, then by user id) gets the lead. The turn is
claimed with a compare-and-swap ``UPDATE … WHERE last_assigned_at IS NOT DISTINCT FROM
<what we read>``: two routings that read the same state cannot both take the same
rep's turn; the loser re-reads and takes the next rep.

Reads (for the settings page) and writes both live here; every write is atomic and
keyword-only, and checks its permission itself (``routing.manage``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import PermissionDenied, Role, has_perm, require_perm

from .models import Lead, RepRouting, RoutingSettings
from .services import LeadError

log = logging.getLogger(__name__)

# Members whose ownership of a lead routing respects; anyone else's is re-routed.
SALES_ROLES = frozenset({Role.SALES_REP, Role.SALES_MANAGER})
GRADES = ("A", "B", "C", "D")
CLAIM_ATTEMPTS = 5
# Strictly increasing turns even when two leads are routed at the same instant (a frozen
# clock, a batch with one ``now``): otherwise a claim would not change the row.
TICK = timedelta(microseconds=1)

# ISO 3166-1 alpha-2, officially assigned codes.
_ISO_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_COUNTRIES = frozenset(_ISO_CODES.split())


# --- Reads --------------------------------------------------------------------------


def routing_settings_for(organization: Organization) -> RoutingSettings:
    """The organization's rule; an unsaved default row when none was saved yet."""
    found = RoutingSettings.objects.for_org(organization).first()
    return found or RoutingSettings(organization=organization)


@dataclass
class RepRow:
    """One sales rep on the settings page: the member and their routing row (unsaved
    defaults when routing never saw them)."""

    membership: Membership
    rep: RepRouting

    def available(self, now: datetime) -> bool:
        return self.rep.active and self.membership.user.is_active and not is_away(self.rep, now)

    def away(self, now: datetime) -> bool:
        return is_away(self.rep, now)


def is_away(rep: RepRouting, now: datetime) -> bool:
    return rep.away_until is not None and rep.away_until > now


def _sales_rep_memberships(organization: Organization):
    return (
        Membership.objects.for_org(organization)
        .filter(role=Role.SALES_REP)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def rep_rows(organization: Organization) -> list[RepRow]:
    """The sales reps of the organization with their routing rows: two queries."""
    memberships = list(_sales_rep_memberships(organization))
    reps = {
        rep.user_id: rep
        for rep in RepRouting.objects.for_org(organization).filter(
            user_id__in=[m.user_id for m in memberships]
        )
    }
    return [
        RepRow(
            membership=m,
            rep=reps.get(m.user_id) or RepRouting(organization=organization, user=m.user),
        )
        for m in memberships
    ]


def next_in_line(rows: Iterable[RepRow], now: datetime | None = None) -> RepRow | None:
    """Who the next lead goes to when territory and segment do not narrow the pool."""
    now = now or timezone.now()
    available = [row for row in rows if row.available(now)]
    return min(available, key=lambda row: _turn_key(row.rep), default=None)


def routing_managers(organization: Organization) -> list:
    """Who assigns leads by hand (manual strategy, or no rep available): the sales
    managers, else the owners and administrators. For the caller's notification."""
    by_role: dict[str, list] = {}
    memberships = Membership.objects.for_org(organization).select_related("user")
    for m in memberships.filter(
        role__in=[Role.SALES_MANAGER, Role.OWNER, Role.ADMIN], user__is_active=True
    ):
        by_role.setdefault(m.role, []).append(m.user)
    return by_role.get(Role.SALES_MANAGER) or [
        *by_role.get(Role.OWNER, []),
        *by_role.get(Role.ADMIN, []),
    ]


def get_rep_membership_for_org(organization: Organization, membership_id) -> Membership:
    """A sales rep's membership of this organization, or 404."""
    try:
        return _sales_rep_memberships(organization).get(pk=int(membership_id))
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# --- Round-robin --------------------------------------------------------------------


def _turn_key(rep: RepRouting) -> tuple:
    # Never served first, then longest since served, then user id (stable ties).
    at = rep.last_assigned_at
    return (at is not None, at or datetime.min.replace(tzinfo=UTC), rep.user_id)


def _ensure_rep_rows(organization: Organization) -> None:
    """Give every sales rep member a routing row (active by default)."""
    user_ids = set(
        Membership.objects.for_org(organization)
        .filter(role=Role.SALES_REP)
        .values_list("user_id", flat=True)
    )
    known = set(
        RepRouting.objects.for_org(organization)
        .filter(user_id__in=user_ids)
        .values_list("user_id", flat=True)
    )
    missing = user_ids - known
    if missing:
        RepRouting.objects.bulk_create(
            [RepRouting(organization=organization, user_id=uid) for uid in sorted(missing)],
            ignore_conflicts=True,  # created concurrently by another routing: same row
        )


def _load_pool(organization: Organization) -> list[RepRouting]:
    """The routing rows of the sales reps whose account is active, in turn order."""
    return list(
        RepRouting.objects.for_org(organization)
        .filter(
            user__is_active=True,
            user__memberships__organization=organization,
            user__memberships__role=Role.SALES_REP,
        )
        .order_by(F("last_assigned_at").asc(nulls_first=True), "user_id")
    )


def _lead_country(lead: Lead) -> str:
    country = (lead.country or "").strip().upper()
    if not country and lead.company_id:
        country = (lead.company.country or "").strip().upper()
    return country


def _eligible(
    pool: list[RepRouting], *, lead: Lead, rule: RoutingSettings, now: datetime
) -> list[RepRouting]:
    """The reps who may take this lead, in turn order. Territory and segment narrow the
    pool only when someone covers the lead's country or grade; else the whole pool."""
    reps = [rep for rep in pool if rep.active and not is_away(rep, now)]
    if rule.by_territory:
        country = _lead_country(lead)
        covering = [rep for rep in reps if country and country in (rep.countries or [])]
        reps = covering or reps
    if rule.by_segment:
        grade = (lead.grade or "").upper()
        covering = [rep for rep in reps if grade and grade in (rep.grades or [])]
        reps = covering or reps
    return reps


def _claim(rep: RepRouting, *, seen: datetime | None, stamp: datetime, now: datetime) -> bool:
    """Take ``rep``'s turn if nobody took it since we read ``seen``.

    ``filter(last_assigned_at=None)`` is ``IS NULL``, so this is ``IS NOT DISTINCT FROM``.
    On PostgreSQL a concurrent claim of the same row waits for the other transaction,
    then re-checks the condition against the committed row: the loser updates 0 rows.
    """
    return bool(
        RepRouting.objects.for_org(rep.organization_id)
        .filter(pk=rep.pk, last_assigned_at=seen, active=True)
        .filter(Q(away_until=None) | Q(away_until__lte=now))
        .update(last_assigned_at=stamp, assigned_count=F("assigned_count") + 1)
    )


def _set_owner(lead: Lead, owner) -> None:
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk).update(
        owner=owner, updated_at=timezone.now()
    )
    lead.owner = owner


def _keeps_owner(lead: Lead, owner_id: int | None) -> bool:
    if owner_id is None:
        return False
    return (
        Membership.objects.for_org(lead.organization_id)
        .filter(user_id=owner_id, user__is_active=True, role__in=SALES_ROLES)
        .exists()
    )


@transaction.atomic
def route_lead(*, lead: Lead, now: datetime | None = None):
    """Give ``lead`` (an MQL) an owner by the organization's rule; return the owner.

    - an owner who is still an active member with a sales role keeps the lead;
    - strategy *manual*: ``None`` (a sales manager assigns; see ``routing_managers``);
    - round-robin over the available sales reps, narrowed by territory and segment when
      the rule says so and someone covers the lead; ``None`` when nobody is available.

    A stale owner (left, deactivated, no longer in sales) is cleared when nobody takes
    over, so the lead shows as unassigned. Runs inside the lead's tenant.
    """
    now = now or timezone.now()
    org_id = lead.organization_id
    # Lock the lead: two routings of the same lead (a re-score racing another) queue
    # here and the second sees the first one's owner.
    current_owner_id = (
        Lead.objects.for_org(org_id)
        .select_for_update()
        .filter(pk=lead.pk)
        .values_list("owner_id", flat=True)
        .first()
    )
    if _keeps_owner(lead, current_owner_id):
        if lead.owner_id != current_owner_id:
            lead.owner = get_user_model().objects.get(pk=current_owner_id)
        return lead.owner

    organization = lead.organization
    rule = routing_settings_for(organization)
    owner = None
    if rule.strategy == RoutingSettings.Strategy.ROUND_ROBIN:
        owner = _round_robin(organization, lead=lead, rule=rule, now=now)
    if owner is not None or current_owner_id is not None:
        _set_owner(lead, owner)
    else:
        lead.owner = None
    return owner


def _round_robin(organization: Organization, *, lead: Lead, rule: RoutingSettings, now: datetime):
    _ensure_rep_rows(organization)
    for _attempt in range(CLAIM_ATTEMPTS):
        pool = _load_pool(organization)
        reps = _eligible(pool, lead=lead, rule=rule, now=now)
        if not reps:
            return None
        latest = max((r.last_assigned_at for r in pool if r.last_assigned_at), default=None)
        stamp = max(now, latest + TICK) if latest else now
        rep = reps[0]
        if _claim(rep, seen=rep.last_assigned_at, stamp=stamp, now=now):
            return get_user_model().objects.get(pk=rep.user_id)
        # Someone took this turn meanwhile: read again, take the next rep.
    log.warning(
        "routing: no turn claimed after %s attempts (organization %s, lead %s)",
        CLAIM_ATTEMPTS,
        organization.pk,
        lead.pk,
    )
    return None


# --- Manual assignment --------------------------------------------------------------


@transaction.atomic
def assign_owner(*, actor, lead: Lead, user):
    """A sales manager gives ``lead`` to ``user`` (a member of the organization).

    Does not spend the rep's round-robin turn: a manager's choice is on top of the
    rotation, not part of it.
    """
    if not (has_perm(actor, "routing.manage") or has_perm(actor, "leads.move_any")):
        raise PermissionDenied("routing.manage")
    if lead.organization_id != actor.organization_id:
        raise LeadError(_("Not found."), status=404, code="not_found")
    is_member = (
        user is not None
        and getattr(user, "pk", None) is not None
        and Membership.objects.for_org(lead.organization_id)
        .filter(user_id=user.pk, user__is_active=True)
        .exists()
    )
    if not is_member:
        raise LeadError(
            _("The owner must be a member of the organization."),
            fields={"owner": [_("Not a member of this organization.")]},
        )
    if lead.owner_id != user.pk:
        _set_owner(lead, user)
    return user


# --- Settings -----------------------------------------------------------------------


@transaction.atomic
def routing_settings_update(
    *, actor, strategy: str, by_territory: bool, by_segment: bool
) -> RoutingSettings:
    require_perm(actor, "routing.manage")
    if strategy not in RoutingSettings.Strategy.values:
        raise LeadError(_("Choose a strategy."), fields={"strategy": [_("Choose a strategy.")]})
    rule, _created = RoutingSettings.objects.for_org(actor.organization_id).update_or_create(
        organization_id=actor.organization_id,
        defaults={
            "strategy": strategy,
            "by_territory": bool(by_territory),
            "by_segment": bool(by_segment),
        },
    )
    return rule


COUNTRY_SPLIT = re.compile(r"[\s,;]+")


def parse_countries(value: str | Iterable[str]) -> list[str]:
    """``"fr, be;CH"`` → ``["FR", "BE", "CH"]``; unknown codes raise ``LeadError``."""
    items = COUNTRY_SPLIT.split(value) if isinstance(value, str) else list(value)
    codes: list[str] = []
    bad: list[str] = []
    for item in items:
        code = str(item).strip().upper()
        if not code:
            continue
        if code not in ISO_COUNTRIES:
            bad.append(code)
        elif code not in codes:
            codes.append(code)
    if bad:
        messages = [
            _("%(code)s is not an ISO country code.") % {"code": code[:10]} for code in bad[:5]
        ]
        if "UK" in bad:
            messages.append(_("The United Kingdom is GB."))
        raise LeadError(_("Unknown country codes."), fields={"countries": messages})
    return codes


def parse_grades(values: Iterable[str]) -> list[str]:
    grades = [str(g).strip().upper() for g in values if str(g).strip()]
    bad = [g for g in grades if g not in GRADES]
    if bad:
        raise LeadError(
            _("Grades are A, B, C or D."), fields={"grades": [_("Grades are A, B, C or D.")]}
        )
    return [g for g in GRADES if g in grades]


def away_until_from_date(organization: Organization, day: date | None) -> datetime | None:
    """Away *through* ``day``: until the end of that day in the organization's zone."""
    if day is None:
        return None
    return datetime.combine(day, time.max, tzinfo=organization.zone)


def away_date(organization: Organization, rep: RepRouting, now: datetime) -> date | None:
    """The last day away, as the settings page shows it; None once the rep is back."""
    if not is_away(rep, now):
        return None
    return rep.away_until.astimezone(organization.zone).date()


@transaction.atomic
def rep_routing_update(
    *,
    actor,
    membership: Membership,
    active: bool,
    away_until: datetime | None,
    countries: str | Iterable[str],
    grades: Iterable[str],
    now: datetime | None = None,
) -> RepRouting:
    """Save one sales rep's routing: receives leads, away, territory, segment."""
    require_perm(actor, "routing.manage")
    now = now or timezone.now()
    if membership.organization_id != actor.organization_id:
        raise LeadError(_("Not found."), status=404, code="not_found")
    if membership.role != Role.SALES_REP:
        raise LeadError(
            _("Only sales reps are routed leads."),
            fields={"membership": [_("Only sales reps are routed leads.")]},
        )
    errors: dict[str, list[str]] = {}
    try:
        country_codes = parse_countries(countries)
    except LeadError as error:
        errors.update(error.fields)
    try:
        grade_codes = parse_grades(grades)
    except LeadError as error:
        errors.update(error.fields)
    if away_until is not None and away_until <= now:
        errors["away_until"] = [_("Choose today or a later date, or leave it empty.")]
    if errors:
        raise LeadError(_("Check the highlighted fields."), fields=errors)
    rep, _created = RepRouting.objects.for_org(actor.organization_id).update_or_create(
        organization_id=actor.organization_id,
        user_id=membership.user_id,
        defaults={
            "active": bool(active),
            "away_until": away_until,
            "countries": country_codes,
            "grades": grade_codes,
        },
    )
    return rep
