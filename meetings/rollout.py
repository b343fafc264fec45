"""The guide's 30-day plan as a checklist each organization works through. Every step
links to its page and ticks itself when the platform sees it done:

- week 1, funnel audit: the funnel audit page was opened from the plan (recorded as a
  ``RolloutEvent``), or a manager ticked it done;
- week 2, ICP and MQL workshop: a scoring model is active and both heads approved that
  version (``ScoringApproval``, marketing and sales);
- week 3, the SLA: a contract version was drafted; a version is signed by both heads
  and in force; its alerts are configured (the version in force has a sales
  commitment, whose warnings, breaches and escalations notify in the app and by e-mail;
  the Slack/Teams channel of smarketing.notifications is optional on top);
- week 4: a TV kiosk token was used (the dashboard is on the open-space screen), and a
  first meeting was held (closed).

``home_panel`` is what the organization home shows (registered in apps.py, so the
tenancy app never imports this one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import KioskToken, Organization

from .models import Meeting, RolloutEvent, ScoringApproval


@dataclass
class Step:
    code: str
    week: int
    label: Any
    hint: Any
    done: bool
    url: str


def _url(name: str, organization: Organization) -> str:
    try:
        return reverse(name, kwargs={"org_slug": organization.slug})
    except NoReverseMatch:
        return reverse("meetings-rollout", kwargs={"org_slug": organization.slug})


def _active_scoring_model(organization: Organization):
    from scoring.models import ScoringModel

    return (
        ScoringModel.objects.for_org(organization).filter(status=ScoringModel.Status.ACTIVE).first()
    )


def scoring_approvals(organization: Organization) -> dict[str, ScoringApproval | None]:
    model = _active_scoring_model(organization)
    found: dict[str, ScoringApproval | None] = {"marketing": None, "sales": None, "model": model}
    if model is not None:
        for approval in (
            ScoringApproval.objects.for_org(organization)
            .filter(scoring_model=model)
            .select_related("by")
        ):
            found[approval.side] = approval
    return found


def _sla_state(organization: Organization) -> tuple[bool, bool, bool]:
    """(drafted, signed and in force, alerts configured)."""
    from sla import models as sla_models
    from sla import selectors as sla_selectors

    drafted = sla_models.ContractVersion.objects.for_org(organization).exists()
    active = sla_selectors.active_version(organization)
    signed = active is not None and bool(active.marketing_signed_at and active.sales_signed_at)
    alerts = (
        active is not None
        and sla_models.SalesCommitment.objects.for_org(organization).filter(version=active).exists()
    )
    return drafted, signed, alerts


def steps(organization: Organization) -> list[Step]:
    events = set(RolloutEvent.objects.for_org(organization).values_list("step", flat=True))
    approvals = scoring_approvals(organization)
    drafted, signed, alerts = _sla_state(organization)
    go = reverse(
        "meetings-rollout-go", kwargs={"org_slug": organization.slug, "step": "funnel_audit"}
    )
    return [
        Step(
            "funnel_audit",
            1,
            _("Audit the funnel"),
            _("Where are prospects lost? Open the funnel audit with both teams."),
            bool(events & {"funnel_viewed", "funnel_audited"}),
            go,
        ),
        Step(
            "icp_mql",
            2,
            _("Agree on the ICP and the MQL criteria"),
            _("A scoring model in force, approved by the heads of marketing and sales."),
            approvals["model"] is not None
            and bool(approvals["marketing"])
            and bool(approvals["sales"]),
            _url("meetings-rollout", organization),
        ),
        Step(
            "sla_drafted",
            3,
            _("Draft the SLA"),
            _("Marketing's volume commitments, sales' response times."),
            drafted,
            _url("sla-home", organization),
        ),
        Step(
            "sla_signed",
            3,
            _("Sign the SLA"),
            _("Signed by one marketing manager and one sales manager."),
            signed,
            _url("sla-home", organization),
        ),
        Step(
            "sla_alerts",
            3,
            _("Configure the alerts"),
            _("Response-time commitments warn, breach and escalate."),
            alerts,
            _url("sla-home", organization),
        ),
        Step(
            "tv_dashboard",
            4,
            _("Put the dashboard on the TV"),
            _("A kiosk token used by the open-space screen."),
            KioskToken.objects.for_org(organization).filter(last_used_at__isnull=False).exists(),
            _url("org-kiosk-tokens", organization),
        ),
        Step(
            "first_meeting",
            4,
            _("Hold the first Smarketing meeting"),
            _("Short, on last week's numbers and next week's goals."),
            Meeting.objects.for_org(organization).filter(status=Meeting.Status.CLOSED).exists(),
            _url("meetings-list", organization),
        ),
    ]


WEEK_TITLES = {
    1: _("Week 1 · Funnel audit"),
    2: _("Week 2 · ICP and MQL workshop"),
    3: _("Week 3 · The SLA contract"),
    4: _("Week 4 · First dashboard and first meeting"),
}


def progress(organization: Organization) -> dict[str, Any]:
    all_steps = steps(organization)
    done = sum(1 for step in all_steps if step.done)
    return {
        "weeks": [
            {
                "number": week,
                "title": title,
                "steps": [step for step in all_steps if step.week == week],
            }
            for week, title in WEEK_TITLES.items()
        ],
        "steps": all_steps,
        "done": done,
        "total": len(all_steps),
        "percent": round(100 * done / len(all_steps)),
        "url": _url("meetings-rollout", organization),
    }


def step_url(organization: Organization, step: str) -> str | None:
    if step == "funnel_audit":
        try:
            return reverse("dashboards-funnel", kwargs={"org_slug": organization.slug})
        except NoReverseMatch:
            return None
    return None


def home_panel(request) -> dict[str, Any] | None:
    """The rollout progress card of the organization home (tenancy's HOME_PANELS)."""
    organization = getattr(request, "organization", None)
    if organization is None:
        return None
    return {"template": "meetings/_home_rollout.html", "rollout": progress(organization)}
