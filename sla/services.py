"""Writes of the sla app: the calendar, the contract and its signatures, clocks and the
scan that warns, breaches and escalates them, and the marketing pacing alerts.

Every service is keyword-only and atomic. Services acting for a member take ``actor``
(a Membership; ``None`` only for the system: the demo, signal receivers, the scan) and
check its permission themselves. ``SlaError`` is the one error type (→ 4xx).

Exactly once, whatever the concurrency:

- **one running clock per lead and commitment**: the partial unique index
  ``sla_one_running_clock``; clocks are inserted with ``ON CONFLICT DO NOTHING`` and only
  the rows actually inserted are returned.
- **each transition notifies once**: the scan moves clocks with compare-and-swap
  ``UPDATE … WHERE status = … RETURNING`` over the partial indexes (on PostgreSQL the
  candidate rows are claimed ``FOR UPDATE SKIP LOCKED``, so concurrent scanners split the
  work instead of queueing); only the scanner whose update returned a clock notifies for
  it, in the same transaction, with dedupe keys (``sla.warned:<clock id>``…) as a second
  wall should a transaction be retried.
- **signed terms never change**: every edit checks ``version.is_editable`` on a row
  locked ``FOR UPDATE``; a signature is recorded with a compare-and-swap on the empty
  signature column.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time as time_module
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Max
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from smarketing.errors import ServiceError
from smarketing.notifications.services import Event, notify, notify_many
from smarketing.tenancy.db import system_context, tenant_context
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role, has_perm, require_perm

from . import calendar as cal
from . import selectors, signals
from .models import (
    BusinessCalendar,
    Clock,
    Contract,
    ContractVersion,
    Holiday,
    MarketingCommitment,
    Metric,
    Period,
    SalesCommitment,
    Trigger,
)

log = logging.getLogger(__name__)

OPEN = (Clock.Status.RUNNING, Clock.Status.WARNED)
SIDES = ("marketing", "sales")
# Triggers older than this start no clock: a CSV import of last year's demo requests,
# or a full re-score that finds leads "hot since" last week, must not raise a thousand
# breaches at once; sales could not have answered them in time.
MAX_TRIGGER_AGE = timedelta(days=1)
# The scan claims at most this many clocks per statement and transaction; a backlog is
# worked through in several batches within one tick, up to the time budget.
SCAN_BATCH = 500
SCAN_BUDGET_SECONDS = 10.0
FRENCH_ZONES = frozenset({"Europe/Paris"})


class SlaError(ServiceError):
    pass


def _membership(organization: Organization, user) -> Membership | None:
    if user is None:
        return None
    return (
        Membership.objects.for_org(organization)
        .filter(user_id=getattr(user, "pk", user), user__is_active=True)
        .select_related("user")
        .first()
    )


def _require(actor, perm: str) -> None:
    if actor is not None:
        require_perm(actor, perm)


# --- the business calendar ----------------------------------------------------------


def _is_french(organization: Organization) -> bool:
    return organization.language == "fr" or (organization.time_zone or "") in FRENCH_ZONES


def _valid_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SlaError(
            _("Unknown time zone: %(zone)s") % {"zone": name},
            code="invalid_time_zone",
            fields={"time_zone": [_("Unknown time zone.")]},
        ) from None
    return name


def public_holidays(country: str, years: Iterable[int], language: str = "fr") -> list[tuple]:
    """``[(day, name)]`` of the country's public holidays (``holidays`` package)."""
    import holidays as holidays_lib

    try:
        found = holidays_lib.country_holidays(country, years=list(years), language=language)
    except (NotImplementedError, KeyError):
        return []
    return sorted((day, str(name)) for day, name in found.items())


def holidays_prefill(
    *, calendar: BusinessCalendar, country: str, years: Iterable[int], language: str = "fr"
) -> int:
    """Add the country's public holidays of ``years`` (existing days are kept as they
    are); return how many were added."""
    rows = [
        Holiday(
            organization_id=calendar.organization_id, calendar=calendar, day=day, name=name[:100]
        )
        for day, name in public_holidays(country, years, language)
    ]
    existing = set(
        Holiday.objects.for_org(calendar.organization_id)
        .filter(calendar=calendar, day__in=[r.day for r in rows])
        .values_list("day", flat=True)
    )
    new = [r for r in rows if r.day not in existing]
    Holiday.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


@transaction.atomic
def calendar_ensure(*, organization: Organization, now: datetime | None = None) -> BusinessCalendar:
    """The organization's calendar; created on first use: the organization's zone (else
    Europe/Paris), Monday–Friday 9:00–18:00, and for a French organization the French
    public holidays of this year and the next."""
    found = BusinessCalendar.objects.for_org(organization).first()
    if found is not None:
        return found
    now = now or timezone.now()
    zone = organization.time_zone or "Europe/Paris"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = "Europe/Paris"
    french = _is_french(organization)
    try:
        with transaction.atomic():
            calendar = BusinessCalendar.objects.create(
                organization=organization,
                name=str(_("Business hours")),
                time_zone=zone,
                weekly_hours=cal.DEFAULT_WEEKLY_HOURS,
                holiday_country="FR" if french else "",
            )
    except IntegrityError:  # created by a concurrent call
        return BusinessCalendar.objects.for_org(organization).get()
    if french:
        year = now.astimezone(zoneinfo.ZoneInfo(zone)).year
        holidays_prefill(
            calendar=calendar,
            country="FR",
            years=[year, year + 1],
            language="fr" if organization.language == "fr" else "en_US",
        )
    return calendar


# --- the draft's calendar -----------------------------------------------------------
#
# The hours and holidays are part of the signed terms: each version carries its own
# copy (``ContractVersion.calendar_*``), made from the live calendar with the draft.
# These services edit the draft's copy only (locked ``FOR UPDATE``, refused once a head
# has signed); ``_activate`` writes the copy into the live calendar with the second
# signature.


@dataclass(frozen=True)
class VersionCalendar:
    time_zone: str
    weekly_hours: dict
    holidays: list[dict]  # [{"day": "YYYY-MM-DD", "name": "…"}], sorted by day


def live_calendar_copy(organization: Organization) -> VersionCalendar:
    """The live calendar as a version stores it (the default one when none is saved)."""
    found = BusinessCalendar.objects.for_org(organization).first()
    if found is None:
        zone = organization.time_zone or "Europe/Paris"
        return VersionCalendar(zone, cal.DEFAULT_WEEKLY_HOURS, [])
    days = (
        Holiday.objects.for_org(organization)
        .filter(calendar=found)
        .order_by("day")
        .values_list("day", "name")
    )
    return VersionCalendar(
        found.time_zone,
        found.weekly_hours,
        [{"day": day.isoformat(), "name": name} for day, name in days],
    )


def version_calendar(version: ContractVersion) -> VersionCalendar:
    """The calendar a version's terms say: its own copy; the live calendar for a version
    made before calendars were versioned."""
    if version.calendar_hours is None:
        return live_calendar_copy(version.organization)
    return VersionCalendar(
        version.calendar_time_zone or "Europe/Paris",
        version.calendar_hours,
        sorted(version.calendar_holidays or [], key=lambda h: h["day"]),
    )


def _with_calendar(locked: ContractVersion) -> VersionCalendar:
    """The locked draft's calendar, its copy made first if it has none yet."""
    current = version_calendar(locked)
    if locked.calendar_hours is None:
        _store_calendar(locked, current)
    return current


def _store_calendar(locked: ContractVersion, value: VersionCalendar) -> None:
    locked.calendar_time_zone = value.time_zone
    locked.calendar_hours = value.weekly_hours
    locked.calendar_holidays = sorted(value.holidays, key=lambda h: h["day"])
    locked.save(update_fields=["calendar_time_zone", "calendar_hours", "calendar_holidays"])


@transaction.atomic
def calendar_update(
    *,
    actor,
    version: ContractVersion,
    time_zone: str | None = None,
    weekly_hours: dict | None = None,
) -> ContractVersion:
    """Change the draft's zone and/or weekly hours (``{"0": [["09:00", "18:00"]], …}``).
    Nothing changes for clocks until both heads sign; running clocks then keep the
    deadlines computed when they started."""
    _require(actor, "sla.manage")
    locked = _editable(version)
    current = _with_calendar(locked)
    zone = _valid_zone(time_zone.strip()) if time_zone is not None else current.time_zone
    hours = current.weekly_hours
    if weekly_hours is not None:
        try:
            week = cal.parse_weekly_hours(weekly_hours)
            cal.CalendarSpec(zone_name=zone, week=week)
        except cal.CalendarError as error:
            raise SlaError(
                _("Invalid working hours: %(error)s") % {"error": error},
                code="invalid_hours",
                fields={"weekly_hours": [str(error)]},
            ) from None
        hours = cal.weekly_hours_json(week)
    _store_calendar(locked, VersionCalendar(zone, hours, current.holidays))
    return locked


def _holiday_day(day) -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise SlaError(_("A holiday needs a date."), fields={"day": [_("Enter a date.")]})
    if not 2000 <= day.year <= 2100:
        raise SlaError(
            _("A holiday falls between 2000 and 2100."),
            fields={"day": [_("Between 2000 and 2100.")]},
        )
    return day


@transaction.atomic
def holiday_add(*, actor, version: ContractVersion, day: date, name: str = "") -> ContractVersion:
    """Add a day off to the draft's calendar (409 if it is one already)."""
    _require(actor, "sla.manage")
    day = _holiday_day(day)
    locked = _editable(version)
    current = _with_calendar(locked)
    if any(h["day"] == day.isoformat() for h in current.holidays):
        raise SlaError(
            _("%(day)s is already a holiday.") % {"day": formats.date_format(day)},
            code="duplicate_holiday",
            status=409,
            fields={"day": [_("Already a holiday.")]},
        )
    added = {"day": day.isoformat(), "name": (name or "").strip()[:100]}
    _store_calendar(
        locked, VersionCalendar(current.time_zone, current.weekly_hours, [*current.holidays, added])
    )
    return locked


@transaction.atomic
def holiday_remove(*, actor, version: ContractVersion, day: date) -> ContractVersion:
    """Remove a day off from the draft's calendar (404 if it is not one)."""
    _require(actor, "sla.manage")
    locked = _editable(version)
    current = _with_calendar(locked)
    kept = [h for h in current.holidays if h["day"] != day.isoformat()]
    if len(kept) == len(current.holidays):
        raise SlaError(_("No such holiday."), code="not_found", status=404)
    _store_calendar(locked, VersionCalendar(current.time_zone, current.weekly_hours, kept))
    return locked


@transaction.atomic
def holidays_add_public(
    *, actor, version: ContractVersion, country: str, years: Iterable[int]
) -> int:
    """The editor's "prefill the public holidays" button: the country's public holidays
    of ``years`` join the draft's calendar (days already there are kept as they are), all
    or nothing. Return how many were added."""
    _require(actor, "sla.manage")
    locked = _editable(version)
    current = _with_calendar(locked)
    country = (country or "").upper()[:2]
    language = "fr" if locked.organization.language == "fr" else "en_US"
    have = {h["day"] for h in current.holidays}
    new = []
    for day, name in public_holidays(country, [int(y) for y in years], language):
        if day.isoformat() not in have:
            have.add(day.isoformat())
            new.append({"day": day.isoformat(), "name": name[:100]})
    if new:
        _store_calendar(
            locked,
            VersionCalendar(current.time_zone, current.weekly_hours, [*current.holidays, *new]),
        )
    return len(new)


def _apply_calendar(version: ContractVersion) -> None:
    """The version now in force: its calendar becomes the live one (zone, hours and
    holiday rows) that clocks count with."""
    organization = version.organization
    value = version_calendar(version)
    live = calendar_ensure(organization=organization)
    live = BusinessCalendar.objects.for_org(organization).select_for_update().get(pk=live.pk)
    live.time_zone = value.time_zone
    live.weekly_hours = value.weekly_hours
    live.save(update_fields=["time_zone", "weekly_hours", "updated_at"])
    wanted = {date.fromisoformat(h["day"]): (h.get("name") or "")[:100] for h in value.holidays}
    rows = Holiday.objects.for_org(organization).filter(calendar=live)
    rows.exclude(day__in=list(wanted)).delete()
    existing = {h.day: h for h in rows.filter(day__in=list(wanted))}
    changed = []
    for day, name in wanted.items():
        if day in existing and existing[day].name != name:
            existing[day].name = name
            changed.append(existing[day])
    if changed:
        Holiday.objects.bulk_update(changed, ["name"])
    Holiday.objects.bulk_create(
        [
            Holiday(organization_id=organization.pk, calendar=live, day=day, name=name)
            for day, name in wanted.items()
            if day not in existing
        ]
    )


# --- the contract -------------------------------------------------------------------


def contract_ensure(*, organization: Organization) -> Contract:
    found = Contract.objects.for_org(organization).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Contract.objects.create(organization=organization, name=str(_("Smarketing SLA")))
    except IntegrityError:
        return Contract.objects.for_org(organization).get()


def _locked(version: ContractVersion) -> ContractVersion:
    return (
        ContractVersion.objects.for_org(version.organization_id)
        .select_for_update()
        .get(pk=version.pk)
    )


def _editable(version: ContractVersion) -> ContractVersion:
    """The version, locked, if it may still change; else ``SlaError`` (409)."""
    locked = _locked(version)
    if not locked.is_editable:
        raise SlaError(
            _("This version is signed: its terms can no longer change. Edit a new draft."),
            code="signed",
            status=409,
        )
    return locked


def _copy_commitments(source: ContractVersion, target: ContractVersion) -> None:
    org = target.organization_id
    MarketingCommitment.objects.bulk_create(
        [
            MarketingCommitment(
                organization_id=org,
                version=target,
                metric=c.metric,
                target=c.target,
                period=c.period,
                grade=c.grade,
                source=c.source,
                position=c.position,
            )
            for c in MarketingCommitment.objects.for_org(org).filter(version=source)
        ]
    )
    SalesCommitment.objects.bulk_create(
        [
            SalesCommitment(
                organization_id=org,
                version=target,
                label=c.label,
                trigger=c.trigger,
                event_type=c.event_type,
                response_minutes=c.response_minutes,
                business_time=c.business_time,
                warn_percent=c.warn_percent,
                escalation_minutes=c.escalation_minutes,
                position=c.position,
            )
            for c in SalesCommitment.objects.for_org(org).filter(version=source)
        ]
    )


@transaction.atomic
def draft_create(
    *, actor, organization: Organization, title: str = "", now: datetime | None = None
) -> ContractVersion:
    """The contract's draft: the existing one, else a new version that copies the one in
    force (its text and commitments), else an empty first version."""
    _require(actor, "sla.manage")
    contract = contract_ensure(organization=organization)
    # Serialize draft creation on the contract row.
    Contract.objects.for_org(organization).select_for_update().filter(pk=contract.pk).first()
    existing = (
        ContractVersion.objects.for_org(organization)
        .filter(contract=contract, status=ContractVersion.Status.DRAFT)
        .first()
    )
    if existing is not None:
        return existing
    calendar_ensure(organization=organization)
    # The draft's own calendar starts as the live one (the one in force).
    calendar = live_calendar_copy(organization)
    active = (
        ContractVersion.objects.for_org(organization)
        .filter(contract=contract, status=ContractVersion.Status.ACTIVE)
        .first()
    )
    number = (
        ContractVersion.objects.for_org(organization)
        .filter(contract=contract)
        .aggregate(n=Max("number"))["n"]
        or 0
    ) + 1
    version = ContractVersion.objects.create(
        organization=organization,
        contract=contract,
        number=number,
        status=ContractVersion.Status.DRAFT,
        title=(title or (active.title if active else "") or str(_("Smarketing SLA")))[:200],
        preamble=active.preamble if active else "",
        created_by=getattr(actor, "user", None),
        created_at=now or timezone.now(),
        calendar_time_zone=calendar.time_zone,
        calendar_hours=calendar.weekly_hours,
        calendar_holidays=calendar.holidays,
    )
    if active is not None:
        _copy_commitments(active, version)
    return version


@transaction.atomic
def draft_discard(*, actor, version: ContractVersion) -> None:
    """Drop a draft nobody signed yet."""
    _require(actor, "sla.manage")
    locked = _editable(version)
    MarketingCommitment.objects.for_org(locked.organization_id).filter(version=locked).delete()
    SalesCommitment.objects.for_org(locked.organization_id).filter(version=locked).delete()
    locked.delete()


@transaction.atomic
def version_update(
    *, actor, version: ContractVersion, title: str | None = None, preamble: str | None = None
) -> ContractVersion:
    _require(actor, "sla.manage")
    locked = _editable(version)
    if title is not None:
        if not title.strip():
            raise SlaError(_("The title cannot be empty."), fields={"title": [_("Required.")]})
        locked.title = title.strip()[:200]
    if preamble is not None:
        locked.preamble = preamble
    locked.save(update_fields=["title", "preamble"])
    return locked


def _positive(value, name: str, *, minimum: int = 1, maximum: int = 10**7) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not minimum <= number <= maximum:
        raise SlaError(
            _("%(field)s must be a whole number from %(min)s to %(max)s.")
            % {"field": name, "min": minimum, "max": maximum},
            code="invalid",
            fields={name: [_("Between %(min)s and %(max)s.") % {"min": minimum, "max": maximum}]},
        )
    return number


def _clean_marketing(data: dict[str, Any]) -> dict[str, Any]:
    metric = data.get("metric")
    if metric not in Metric.values:
        raise SlaError(_("Choose a metric."), fields={"metric": [_("Unknown metric.")]})
    period = data.get("period")
    if period not in Period.values:
        raise SlaError(_("Choose a period."), fields={"period": [_("Unknown period.")]})
    grade = (data.get("grade") or "").strip().upper()
    if grade and grade not in ("A", "B", "C", "D"):
        raise SlaError(_("Unknown grade."), fields={"grade": [_("A, B, C or D.")]})
    return {
        "metric": metric,
        "period": period,
        "target": _positive(data.get("target"), "target"),
        "grade": grade,
        "source": (data.get("source") or "").strip()[:20],
    }


def _clean_sales(data: dict[str, Any]) -> dict[str, Any]:
    trigger = data.get("trigger")
    if trigger not in Trigger.values:
        raise SlaError(_("Choose a trigger."), fields={"trigger": [_("Unknown trigger.")]})
    event_type = (data.get("event_type") or "").strip()
    if trigger == Trigger.EVENT:
        from leads.models import EventType

        if not (event_type in EventType.values or event_type.startswith("custom:")):
            raise SlaError(
                _("Choose the event type that starts the clock."),
                fields={"event_type": [_("Unknown event type.")]},
            )
    else:
        event_type = ""
    return {
        "trigger": trigger,
        "event_type": event_type[:64],
        "label": (data.get("label") or "").strip()[:150],
        "response_minutes": _positive(data.get("response_minutes"), "response_minutes"),
        "business_time": bool(data.get("business_time", True)),
        "warn_percent": _positive(
            data.get("warn_percent", 75), "warn_percent", minimum=1, maximum=99
        ),
        "escalation_minutes": _positive(
            data.get("escalation_minutes", 60), "escalation_minutes", minimum=0
        ),
    }


def _next_position(model, version: ContractVersion) -> int:
    last = (
        model.objects.for_org(version.organization_id)
        .filter(version=version)
        .aggregate(p=Max("position"))["p"]
    )
    return 0 if last is None else last + 1


@transaction.atomic
def marketing_commitment_add(
    *, actor, version: ContractVersion, data: dict[str, Any]
) -> MarketingCommitment:
    _require(actor, "sla.manage")
    locked = _editable(version)
    return MarketingCommitment.objects.create(
        organization_id=locked.organization_id,
        version=locked,
        position=_next_position(MarketingCommitment, locked),
        **_clean_marketing(data),
    )


@transaction.atomic
def marketing_commitment_update(
    *, actor, commitment: MarketingCommitment, data: dict[str, Any]
) -> MarketingCommitment:
    _require(actor, "sla.manage")
    _editable(commitment.version)
    for name, value in _clean_marketing(data).items():
        setattr(commitment, name, value)
    commitment.save()
    return commitment


@transaction.atomic
def marketing_commitment_remove(*, actor, commitment: MarketingCommitment) -> None:
    _require(actor, "sla.manage")
    _editable(commitment.version)
    MarketingCommitment.objects.for_org(commitment.organization_id).filter(
        pk=commitment.pk
    ).delete()


@transaction.atomic
def sales_commitment_add(
    *, actor, version: ContractVersion, data: dict[str, Any]
) -> SalesCommitment:
    _require(actor, "sla.manage")
    locked = _editable(version)
    return SalesCommitment.objects.create(
        organization_id=locked.organization_id,
        version=locked,
        position=_next_position(SalesCommitment, locked),
        **_clean_sales(data),
    )


@transaction.atomic
def sales_commitment_update(
    *, actor, commitment: SalesCommitment, data: dict[str, Any]
) -> SalesCommitment:
    _require(actor, "sla.manage")
    _editable(commitment.version)
    for name, value in _clean_sales(data).items():
        setattr(commitment, name, value)
    commitment.save()
    return commitment


@transaction.atomic
def sales_commitment_remove(*, actor, commitment: SalesCommitment) -> None:
    _require(actor, "sla.manage")
    _editable(commitment.version)
    SalesCommitment.objects.for_org(commitment.organization_id).filter(pk=commitment.pk).delete()


# --- signing ------------------------------------------------------------------------


def terms(version: ContractVersion) -> dict[str, Any]:
    """The canonical terms of a version: what the signatures cover (its commitments and
    its own calendar)."""
    org = version.organization_id
    calendar = version_calendar(version)
    return {
        "contract": version.contract_id,
        "version": version.number,
        "title": version.title,
        "preamble": version.preamble,
        "marketing": [
            {
                "metric": c.metric,
                "target": c.target,
                "period": c.period,
                "grade": c.grade,
                "source": c.source,
            }
            for c in MarketingCommitment.objects.for_org(org)
            .filter(version=version)
            .order_by("position", "id")
        ],
        "sales": [
            {
                "label": c.label,
                "trigger": c.trigger,
                "event_type": c.event_type,
                "response_minutes": c.response_minutes,
                "business_time": c.business_time,
                "warn_percent": c.warn_percent,
                "escalation_minutes": c.escalation_minutes,
            }
            for c in SalesCommitment.objects.for_org(org)
            .filter(version=version)
            .order_by("position", "id")
        ],
        "calendar": {
            "time_zone": calendar.time_zone,
            "weekly_hours": calendar.weekly_hours,
            "holidays": [h["day"] for h in calendar.holidays],
        },
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def terms_hash(value: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def _duration_text(minutes: int, business: bool) -> str:
    hours, rest = divmod(int(minutes), 60)
    if hours and rest:
        amount = _("%(h)s h %(m)s min") % {"h": hours, "m": rest}
    elif hours:
        amount = _("%(h)s h") % {"h": hours}
    else:
        amount = _("%(m)s min") % {"m": rest}
    return (
        _("%(amount)s of business hours") % {"amount": amount}
        if business
        else _("%(amount)s (around the clock)") % {"amount": amount}
    )


def trigger_text(trigger: str, event_type: str = "") -> str:
    if trigger == Trigger.BECAME_MQL:
        return _("a lead becomes MQL")
    if trigger == Trigger.BECAME_HOT:
        return _("a lead becomes hot")
    from leads.models import EventType

    label = EventType(event_type).label if event_type in EventType.values else event_type
    return _("a lead does: %(event)s") % {"event": label}


def render_terms_text(version: ContractVersion, data: dict[str, Any], language: str) -> str:
    """The signed text both heads saw, in the organization's language."""
    with translation.override(language):
        weekday_names = [
            _("Monday"),
            _("Tuesday"),
            _("Wednesday"),
            _("Thursday"),
            _("Friday"),
            _("Saturday"),
            _("Sunday"),
        ]
        lines = [f"{data['title']} — v{data['version']}", ""]
        if data["preamble"]:
            lines += [data["preamble"].strip(), ""]
        lines.append(_("Marketing commits to deliver:"))
        for c in data["marketing"]:
            segment = []
            if c["grade"]:
                segment.append(_("grade %(grade)s") % {"grade": c["grade"]})
            if c["source"]:
                segment.append(_("source %(source)s") % {"source": c["source"]})
            lines.append(
                "- "
                + _("%(target)s %(metric)s %(period)s")
                % {
                    "target": c["target"],
                    "metric": Metric(c["metric"]).label,
                    "period": Period(c["period"]).label,
                }
                + (f" ({', '.join(segment)})" if segment else "")
            )
        if not data["marketing"]:
            lines.append("- " + _("no volume commitment"))
        lines += ["", _("Sales commits to follow up:")]
        for c in data["sales"]:
            lines.append(
                "- "
                + _(
                    "when %(trigger)s: within %(duration)s; warning at %(warn)s %%; "
                    "escalated to the sales managers %(escalation)s min after a miss"
                )
                % {
                    "trigger": trigger_text(c["trigger"], c["event_type"]),
                    "duration": _duration_text(c["response_minutes"], c["business_time"]),
                    "warn": c["warn_percent"],
                    "escalation": c["escalation_minutes"],
                }
                + (f" — {c['label']}" if c["label"] else "")
            )
        if not data["sales"]:
            lines.append("- " + _("no response-time commitment"))
        calendar = data["calendar"]
        lines += ["", _("Business hours (%(zone)s):") % {"zone": calendar["time_zone"]}]
        for day, name in enumerate(weekday_names):
            spans = calendar["weekly_hours"].get(str(day)) or []
            text = ", ".join(f"{a}–{b}" for a, b in spans) if spans else _("closed")
            lines.append(f"- {name}: {text}")
        if calendar["holidays"]:
            lines.append(_("Holidays: %(days)s") % {"days": ", ".join(calendar["holidays"])})
    return "\n".join(lines) + "\n"


def _heads(organization: Organization) -> list[int]:
    """The marketing and sales managers (else the owners): who signs and who hears of it."""
    qs = Membership.objects.for_org(organization).filter(user__is_active=True)
    heads = list(
        qs.filter(role__in=[Role.MARKETING_MANAGER, Role.SALES_MANAGER]).values_list(
            "user_id", flat=True
        )
    )
    return heads or list(qs.filter(role=Role.OWNER).values_list("user_id", flat=True))


def _sales_managers(organization: Organization) -> list:
    from leads.routing import routing_managers

    return routing_managers(organization)


def _url(name: str, organization: Organization, **kwargs) -> str:
    try:
        return reverse(name, kwargs={"org_slug": organization.slug, **kwargs})
    except NoReverseMatch:
        return ""


def _version_url(organization: Organization, version: ContractVersion) -> str:
    return _url("sla-version", organization, version_id=version.pk) or _url(
        "sla-home", organization
    )


@transaction.atomic
def sign(
    *,
    version: ContractVersion,
    user,
    side: str,
    at: datetime | None = None,
    expected_hash: str | None = None,
) -> ContractVersion:
    """``user`` signs ``version`` for ``side`` (``marketing`` or ``sales``).

    ``expected_hash`` is the ``terms_hash`` of the terms the signer read: it is compared
    with the terms recomputed after the version row is locked (every edit locks it too),
    so an edit that lands between reading and signing refuses the signature (409,
    ``terms_changed``) instead of being signed unseen.

    The role decides (``sla.sign_marketing`` / ``sla.sign_sales``); one person cannot
    sign for both teams; a side signs once. The first signature freezes the terms; when
    both are there the version is rendered (``signed_text``), hashed (``terms_hash``),
    activated, the previous one superseded, and ``contract_signed`` sent.
    """
    if side not in SIDES:
        raise SlaError(_("Sign for marketing or for sales."), fields={"side": [_("Unknown.")]})
    organization = version.organization
    membership = _membership(organization, user)
    if membership is None or not has_perm(membership, f"sla.sign_{side}"):
        raise SlaError(
            _("Only a %(role)s can sign for %(team)s.")
            % {
                "role": Role.MARKETING_MANAGER.label
                if side == "marketing"
                else Role.SALES_MANAGER.label,
                "team": _("marketing") if side == "marketing" else _("sales"),
            },
            code="not_allowed",
            status=403,
        )
    at = at or timezone.now()
    locked = _locked(version)
    if locked.status != ContractVersion.Status.DRAFT:
        raise SlaError(
            _("This version is already in force or superseded."), code="signed", status=409
        )
    other = "sales" if side == "marketing" else "marketing"
    if getattr(locked, f"{side}_signed_at") is not None:
        raise SlaError(_("This side has already signed."), code="already_signed", status=409)
    if expected_hash is not None and terms_hash(terms(locked)) != expected_hash:
        raise SlaError(
            _("The terms changed since you read them. Read them again below, then sign."),
            code="terms_changed",
            status=409,
        )
    if getattr(locked, f"{other}_signed_by_id") == membership.user_id:
        raise SlaError(
            _("The same person cannot sign for both teams."), code="same_signer", status=409
        )
    if not (
        MarketingCommitment.objects.for_org(organization).filter(version=locked).exists()
        or SalesCommitment.objects.for_org(organization).filter(version=locked).exists()
    ):
        raise SlaError(_("A contract needs at least one commitment."), code="empty", status=409)
    updated = (
        ContractVersion.objects.for_org(organization)
        .filter(pk=locked.pk, status=ContractVersion.Status.DRAFT, **{f"{side}_signed_at": None})
        .update(**{f"{side}_signed_by_id": membership.user_id, f"{side}_signed_at": at})
    )
    if not updated:  # pragma: no cover - the row lock makes this unreachable
        raise SlaError(_("This side has already signed."), code="already_signed", status=409)
    locked.refresh_from_db()
    url = _version_url(organization, locked)
    if getattr(locked, f"{other}_signed_at") is None:
        signer = str(membership.user)
        notify(
            organization=organization,
            recipients=_heads(organization),
            kind="sla.signature",
            title=format_lazy(
                _lazy(
                    "{signer} signed the SLA v{number} for {team}: the other signature is awaited"
                ),
                signer=signer,
                number=locked.number,
                team=_lazy("marketing") if side == "marketing" else _lazy("sales"),
            ),
            url=url,
            dedupe_key=f"sla.signature:{locked.pk}:{side}",
        )
        return locked
    return _activate(locked, at=at)


def _activate(version: ContractVersion, *, at: datetime) -> ContractVersion:
    organization = version.organization
    data = terms(version)
    previous = list(
        ContractVersion.objects.for_org(organization)
        .select_for_update()
        .filter(contract_id=version.contract_id, status=ContractVersion.Status.ACTIVE)
    )
    for old in previous:
        if old.calendar_hours is None:
            # Made before calendars were versioned: keep the calendar it was signed
            # with before the live one changes.
            _store_calendar(old, version_calendar(old))
    ContractVersion.objects.for_org(organization).filter(pk__in=[p.pk for p in previous]).update(
        status=ContractVersion.Status.SUPERSEDED, superseded_at=at
    )
    if version.calendar_hours is None:
        _store_calendar(version, version_calendar(version))
    _apply_calendar(version)
    version.signed_text = render_terms_text(version, data, organization.language or "fr")
    version.terms_hash = terms_hash(data)
    version.status = ContractVersion.Status.ACTIVE
    version.activated_at = at
    version.save(update_fields=["signed_text", "terms_hash", "status", "activated_at"])
    signals.contract_signed.send(sender=ContractVersion, organization=organization, version=version)
    notify(
        organization=organization,
        recipients=_heads(organization),
        kind="sla.contract_signed",
        title=format_lazy(
            _lazy("The SLA v{number} is signed by both teams and in force"), number=version.number
        ),
        url=_version_url(organization, version),
        dedupe_key=f"sla.contract_signed:{version.pk}",
    )
    return version


def verify_terms(version: ContractVersion) -> bool:
    """Whether the version's terms (commitments, text, its own calendar) still hash to
    what was signed. No service changes a signed version; this shows tampering."""
    return bool(version.terms_hash) and terms_hash(terms(version)) == version.terms_hash


# --- clocks -------------------------------------------------------------------------


def _insert_clocks(rows: list[Clock]) -> list[int]:
    """INSERT the clocks, skipping those that would make a second running clock for the
    same lead and commitment (``ON CONFLICT DO NOTHING`` on the partial unique index);
    return the ids of the rows inserted."""
    if not rows:
        return []
    using = router.db_for_write(Clock)
    connection = connections[using]
    meta = Clock._meta
    qn = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    params: list[Any] = []
    for obj in rows:
        for f in fields:
            params.append(f.get_db_prep_save(f.pre_save(obj, add=True), connection))
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    table = qn(meta.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    pk = qn(meta.pk.column)
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    sql = "INSERT INTO " + table + " (" + columns + ") VALUES " + values  # noqa: S608
    sql += " ON CONFLICT DO NOTHING RETURNING " + pk
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _spec_for(organization: Organization) -> cal.CalendarSpec:
    try:
        return selectors.calendar_spec(organization)
    except cal.CalendarError:
        log.warning("organization %s: calendar unusable, counting wall-clock", organization.pk)
        return cal.WALL_CLOCK


@dataclass
class Occurrence:
    """One trigger occurrence: the lead, when, what (for ``started_by``)."""

    lead_id: int
    owner_id: int | None
    at: datetime
    ref: str = ""


def _clock_rows(
    organization: Organization,
    commitments: Sequence[SalesCommitment],
    occurrences: Iterable[Occurrence],
    spec: cal.CalendarSpec,
    now: datetime,
) -> list[Clock]:
    rows = []
    for occurrence in occurrences:
        for commitment in commitments:
            used = spec if commitment.business_time else cal.WALL_CLOCK
            warn_at, due_at = cal.deadlines(
                used, occurrence.at, commitment.response_minutes, commitment.warn_percent
            )
            rows.append(
                Clock(
                    organization_id=organization.pk,
                    lead_id=occurrence.lead_id,
                    commitment_id=commitment.pk,
                    owner_id=occurrence.owner_id,
                    status=Clock.Status.RUNNING,
                    started_at=occurrence.at,
                    started_by=occurrence.ref[:40],
                    warn_at=warn_at,
                    due_at=due_at,
                    escalate_at=cal.add_working_minutes(
                        used, due_at, commitment.escalation_minutes
                    ),
                    created_at=now,
                )
            )
    return rows


def start_clocks(
    organization: Organization,
    lead,
    trigger: str,
    at: datetime | None = None,
    ref: str = "",
    *,
    event_type: str = "",
    now: datetime | None = None,
) -> list[Clock]:
    """Start a clock for ``lead`` under each sales commitment in force for ``trigger``
    (and ``event_type`` for event triggers), unless one is already running for that
    lead and commitment. Return the clocks started."""
    now = now or timezone.now()
    at = min(at or now, now)
    if at < now - MAX_TRIGGER_AGE:
        return []
    commitments = [
        c
        for c in selectors.active_sales_commitments(organization, trigger=trigger)
        if trigger != Trigger.EVENT or c.event_type == event_type
    ]
    if not commitments:
        return []
    with tenant_context(organization.pk):
        rows = _clock_rows(
            organization,
            commitments,
            [Occurrence(lead_id=lead.pk, owner_id=lead.owner_id, at=at, ref=ref)],
            _spec_for(organization),
            now,
        )
        ids = _insert_clocks(rows)
        return list(Clock.objects.for_org(organization).filter(pk__in=ids).order_by("pk"))


def start_event_clocks(
    organization: Organization,
    events: Iterable[tuple],
    *,
    now: datetime | None = None,
) -> list[int]:
    """The ``events_ingested`` receiver's work: ``events`` are ``(lead_id, type,
    occurred_at)`` of one committed batch; start a clock per lead for the first event
    of each trigger type (within ``MAX_TRIGGER_AGE``, one day). Return the clock ids started."""
    now = now or timezone.now()
    by_type: dict[str, list[SalesCommitment]] = {}
    for commitment in selectors.active_sales_commitments(organization, trigger=Trigger.EVENT):
        by_type.setdefault(commitment.event_type, []).append(commitment)
    if not by_type:
        return []
    first: dict[tuple[int, str], datetime] = {}
    for lead_id, event_type, occurred_at in events:
        if lead_id is None or event_type not in by_type:
            continue
        if occurred_at is None or occurred_at < now - MAX_TRIGGER_AGE:
            continue
        key = (int(lead_id), event_type)
        if key not in first or occurred_at < first[key]:
            first[key] = occurred_at
    if not first:
        return []
    from leads.models import Lead

    with tenant_context(organization.pk):
        owners = dict(
            Lead.objects.for_org(organization)
            .filter(pk__in={lead_id for lead_id, _t in first})
            .values_list("pk", "owner_id")
        )
        spec = _spec_for(organization)
        rows = []
        for (lead_id, event_type), occurred_at in sorted(first.items()):
            if lead_id not in owners:
                continue
            rows += _clock_rows(
                organization,
                by_type[event_type],
                [
                    Occurrence(
                        lead_id=lead_id,
                        owner_id=owners[lead_id],
                        at=min(occurred_at, now),
                        ref=f"event:{event_type}",
                    )
                ],
                spec,
                now,
            )
        return _insert_clocks(rows)


@transaction.atomic
def stop_clocks_on_touch(
    organization: Organization, lead, at: datetime | None = None, kind: str = ""
) -> dict[str, int]:
    """The lead's touch at ``at`` stops its clocks started before it: an open clock is
    ``met`` when the touch is by its due time, else ``breached`` (the scan had not come
    by yet; no breach alert then: the lead was just handled); a breached clock records
    its first touch (and will not be escalated any more). Return the counts."""
    at = at or timezone.now()
    lead_id = getattr(lead, "pk", lead)
    owner_id = getattr(lead, "owner_id", None)
    clocks = Clock.objects.for_org(organization).filter(lead_id=lead_id, started_at__lte=at)
    extra = {"owner_id": owner_id} if owner_id else {}
    met = clocks.filter(status__in=OPEN, due_at__gte=at).update(
        status=Clock.Status.MET, touched_at=at, touch_kind=kind[:20], **extra
    )
    late = clocks.filter(status__in=OPEN, due_at__lt=at).update(
        status=Clock.Status.BREACHED,
        breached_at=at,
        touched_at=at,
        touch_kind=kind[:20],
        escalate_at=None,
        **extra,
    )
    recorded = clocks.filter(status=Clock.Status.BREACHED, touched_at=None).update(
        touched_at=at, touch_kind=kind[:20], escalate_at=None
    )
    return {"met": met, "late": late, "recorded": recorded}


def sync_owner(organization: Organization, lead) -> int:
    """The lead's owner changed: its open clocks count for the new owner."""
    if not getattr(lead, "owner_id", None):
        return 0
    return (
        Clock.objects.for_org(organization)
        .filter(lead_id=lead.pk, status__in=OPEN)
        .exclude(owner_id=lead.owner_id)
        .update(owner_id=lead.owner_id)
    )


# --- the scan -----------------------------------------------------------------------


@dataclass
class ScanResult:
    warned: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    notified: int = 0
    batches: int = 0

    @property
    def total(self) -> int:
        return len(self.warned) + len(self.breached) + len(self.escalated)


def _claim_sql(vendor: str, kind: str) -> str:
    """One compare-and-swap statement: claim up to ``limit`` due clocks on the scan's
    partial index, move them, return ``(id, organization_id)``. The owner follows the
    lead's current owner (routing may have happened after the clock started). Its
    parameters: ``now`` (the new timestamp), ``now`` (the cut-off; twice for warnings),
    ``limit``."""
    lock = " FOR UPDATE SKIP LOCKED" if vendor == "postgresql" else ""
    owner = (
        "owner_id = COALESCE((SELECT l.owner_id FROM leads_lead l "
        "WHERE l.id = sla_clock.lead_id), owner_id)"
    )
    if kind == "warn":
        update = "status = 'warned', warned_at = %s, " + owner
        # Only clocks not yet due: one already due goes straight to breached.
        candidates = (
            "SELECT id FROM sla_clock WHERE status = 'running' AND warn_at <= %s "
            "AND due_at > %s ORDER BY warn_at LIMIT %s"
        )
        still = "status = 'running'"
    elif kind == "breach":
        update = "status = 'breached', breached_at = %s, " + owner
        candidates = (
            "SELECT id FROM sla_clock WHERE status IN ('running', 'warned') "
            "AND due_at <= %s ORDER BY due_at LIMIT %s"
        )
        still = "status IN ('running', 'warned')"
    else:
        update = "escalated_at = %s, " + owner
        candidates = (
            "SELECT id FROM sla_clock WHERE status = 'breached' AND escalated_at IS NULL "
            "AND escalate_at <= %s ORDER BY escalate_at LIMIT %s"
        )
        still = "status = 'breached' AND escalated_at IS NULL AND touched_at IS NULL"
    # Fixed text, values are parameters.
    return (
        "UPDATE sla_clock SET "  # noqa: S608
        + update
        + " WHERE id IN ("
        + candidates
        + lock
        + ") AND "
        + still
        + " RETURNING id, organization_id"
    )


def _claim(kind: str, now: datetime, limit: int) -> list[tuple[int, int]]:
    connection = connections[router.db_for_write(Clock)]
    sql = _claim_sql(connection.vendor, kind)
    params = [now, now, now, limit] if kind == "warn" else [now, now, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


def _format_due(organization: Organization, moment: datetime) -> str:
    return moment.astimezone(organization.zone).strftime("%d/%m %H:%M")


def _lead_name(lead) -> str:
    return lead.full_name or lead.email or f"#{lead.pk}"


def _clock_event(organization: Organization, clock: Clock, kind: str, managers) -> Event:
    """The one notification of one transition (owner; escalation: the sales managers)."""
    lead = clock.lead
    name = _lead_name(lead)
    due = _format_due(organization, clock.due_at)
    what = str(clock.commitment)
    url = _url("leads-detail", organization, lead_id=lead.pk)
    owner = (clock.owner_id,) if clock.owner_id else tuple(managers())
    if kind == "warn":
        return Event(
            recipients=owner,
            kind="sla.warned",
            title=format_lazy(_lazy("Follow up {name} before {due}"), name=name, due=due),
            body=what,
            url=url,
            dedupe_key=f"sla.warned:{clock.pk}",
        )
    if kind == "breach":
        return Event(
            recipients=owner,
            kind="sla.breached",
            title=format_lazy(
                _lazy("Follow-up deadline missed: {name} (due {due})"), name=name, due=due
            ),
            body=what,
            url=url,
            dedupe_key=f"sla.breached:{clock.pk}",
        )
    owner_label = str(clock.owner) if clock.owner_id else _lazy("nobody")
    return Event(
        recipients=tuple(managers()),
        kind="sla.escalated",
        title=format_lazy(
            _lazy("Escalation: {name} still not followed up (due {due}, owner {owner})"),
            name=name,
            due=due,
            owner=owner_label,
        ),
        body=what,
        url=url,
        dedupe_key=f"sla.escalated:{clock.pk}",
    )


SIGNALS = {
    "warn": signals.clock_warned,
    "breach": signals.clock_breached,
    "escalate": signals.clock_escalated,
}


def _notify_claimed(kind: str, claimed: list[tuple[int, int]]) -> int:
    """Notify and signal the clocks this scanner moved: per organization, one batch of
    notifications (a few queries for the whole batch), then one signal per clock."""
    by_org: dict[int, list[int]] = {}
    for clock_id, org_id in claimed:
        by_org.setdefault(org_id, []).append(clock_id)
    notified = 0
    for organization in Organization.objects.filter(pk__in=list(by_org)).order_by("pk"):
        with tenant_context(organization.pk):
            clocks = list(
                Clock.objects.for_org(organization)
                .filter(pk__in=by_org[organization.pk])
                .select_related("lead", "owner", "commitment")
                .order_by("pk")
            )
            cached: list = []

            def managers(organization=organization, cached=cached):
                if not cached:
                    cached.append([u.pk for u in _sales_managers(organization)])
                return cached[0]

            # Not caught: if the notifications cannot be written, the batch's transaction
            # rolls back with its claims and the next tick claims the clocks again (the
            # dedupe keys keep that exactly-once). Alerts are never traded for progress.
            notified += len(
                notify_many(
                    organization=organization,
                    events=[_clock_event(organization, c, kind, managers) for c in clocks],
                )
            )
            for clock in clocks:
                # A receiver that fails (integrations) must not undo the transitions.
                try:
                    with transaction.atomic():
                        SIGNALS[kind].send(sender=Clock, organization=organization, clock=clock)
                except Exception:
                    log.exception("sla scan: a %s receiver failed for clock %s", kind, clock.pk)
    return notified


def scan(
    now: datetime | None = None,
    *,
    batch: int = SCAN_BATCH,
    budget_seconds: float = SCAN_BUDGET_SECONDS,
) -> ScanResult:
    """One tick: warn, breach and escalate every due clock of every organization.

    Each batch is one transaction in the audited system context: the compare-and-swap
    updates claim clocks, and the notifications for exactly those clocks are written
    before the commit (a crash rolls both back; the next tick redoes them)."""
    now = now or timezone.now()
    result = ScanResult()
    deadline = time_module.monotonic() + budget_seconds
    for kind in ("warn", "breach", "escalate"):
        while True:
            with system_context("sla scan: warn, breach, escalate clocks", routine=True):
                claimed = _claim(kind, now, batch)
                if claimed:
                    result.notified += _notify_claimed(kind, claimed)
            result.batches += 1
            ids = [clock_id for clock_id, _org in claimed]
            {"warn": result.warned, "breach": result.breached, "escalate": result.escalated}[
                kind
            ].extend(ids)
            if len(claimed) < batch or time_module.monotonic() > deadline:
                break
    if result.total:
        log.info(
            "sla scan: %s warned, %s breached, %s escalated",
            len(result.warned),
            len(result.breached),
            len(result.escalated),
        )
    return result


# --- marketing pacing alerts --------------------------------------------------------


def _checkpoints(organization: Organization, commitment: MarketingCommitment, now: datetime):
    """The checkpoints that have passed: mid-period of the current period, and the end
    of the previous one: ``[(name, period_start, period_end, at)]``."""
    start, end = selectors.period_bounds(organization, commitment.period, now)
    out = []
    mid = start + (end - start) / 2
    if now >= mid:
        out.append(("mid", start, end, mid))
    prev_start, prev_end = selectors.period_bounds(
        organization, commitment.period, start - timedelta(seconds=1)
    )
    out.append(("end", prev_start, prev_end, prev_end))
    return out


def pacing_check(*, organization: Organization, now: datetime | None = None) -> int:
    """Tell both heads when a marketing commitment is behind at mid-period or missed
    its target at the period's end; once per commitment, period and checkpoint (and only
    for checkpoints the version was already in force at). Return notifications sent."""
    now = now or timezone.now()
    version = selectors.active_version(organization)
    if version is None or version.activated_at is None:
        return 0
    sent = 0
    heads = None
    for commitment in version.marketing_commitments.all():
        for name, period_start, _period_end, at in _checkpoints(organization, commitment, now):
            if at < version.activated_at:
                continue
            paced = selectors.commitment_pacing(
                organization, commitment, at=at - timedelta(microseconds=1) if name == "end" else at
            )
            if paced.status != "behind":
                continue
            heads = heads if heads is not None else _heads(organization)
            metric = Metric(commitment.metric).label
            if name == "mid":
                title = format_lazy(
                    _lazy("Mid-period: {actual} {metric} of {target} — behind pace ({expected})"),
                    actual=paced.actual,
                    metric=metric,
                    target=paced.target,
                    expected=round(paced.expected),
                )
            else:
                title = format_lazy(
                    _lazy("Period closed: {actual} {metric} of {target} — target missed"),
                    actual=paced.actual,
                    metric=metric,
                    target=paced.target,
                )
            sent += len(
                notify(
                    organization=organization,
                    recipients=heads,
                    kind="marketing.behind",
                    title=title,
                    body=str(commitment),
                    url=_url("sla-home", organization),
                    dedupe_key=(
                        f"marketing.behind:{commitment.pk}:{period_start.date().isoformat()}:{name}"
                    ),
                )
            )
    return sent


def organizations_with_active_contract() -> list[int]:
    with system_context("sla: organizations with a contract in force", routine=True):
        return list(
            ContractVersion.unscoped.filter(status=ContractVersion.Status.ACTIVE)
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )


def organization_by_pk(pk: int) -> Organization | None:
    return Organization.objects.filter(pk=pk).first()
