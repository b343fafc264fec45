"""The demo's weekly meetings and rollout plan (``manage.py load_demo``; idempotent).

- an earlier meeting (the week before last), held and closed: two decisions, three
  action items, one done and two still open (so they carry over);
- this week's meeting, its pack generated for last week, scheduled for Monday 08:00,
  with one action item already noted: the team can run its meeting from it;
- the rollout plan: the funnel audit opened, and the active scoring model approved by
  the marketing and the sales managers (the week-2 workshop). The other steps tick
  themselves from what the other demo steps did (signed SLA, TV token, meetings).
"""

from __future__ import annotations

from datetime import timedelta

from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import Role

from . import services
from .models import ActionItem, MeetingDecision, ScoringApproval


def _membership(demo, role: Role) -> Membership:
    user = demo.users[role.value]
    membership = Membership.objects.for_org(demo.organization).get(user=user)
    membership.organization = demo.organization
    return membership


def load(demo) -> None:
    org = demo.organization
    owner = _membership(demo, Role.OWNER)
    this_week = services.week_start_at(org, demo.now)
    earlier_week = this_week - timedelta(days=7)
    earlier_at = services.scheduled_time(org, earlier_week)

    earlier, created = services.meeting_for_week(
        organization=org, week_start=earlier_week, by=owner.user, now=earlier_at
    )
    if created:
        rep = demo.users[Role.SALES_REP.value]
        marketer = demo.users[Role.MARKETER.value]
        services.meeting_open(actor=owner, meeting=earlier, now=earlier_at)
        for text in (
            "Les demandes de démo sont rappelées sous 2 heures ouvrées, sans exception.",
            "Les leads étudiants sont exclus du scoring (points négatifs sur l'ICP).",
        ):
            MeetingDecision.objects.create(
                organization=org, meeting=earlier, text=text, by=owner.user, created_at=earlier_at
            )
        items = [
            ("Rappeler les inscrits du webinar de jeudi", rep, True),
            ("Préparer le livre blanc « ROI du Smarketing » pour les commerciaux", marketer, False),
            ("Mettre à jour les motifs de rejet dans le CRM", rep, False),
        ]
        for title, who, done in items:
            ActionItem.objects.create(
                organization=org,
                meeting=earlier,
                title=title,
                owner=who,
                due_on=this_week - timedelta(days=3),
                done=done,
                done_at=earlier_at + timedelta(days=2) if done else None,
                created_by=owner.user,
                created_at=earlier_at + timedelta(minutes=20),
            )
        earlier.goals = "Passer le taux d'acceptation des MQL au-dessus de 60 %."
        earlier.save(update_fields=["goals"])
        services.meeting_close(actor=owner, meeting=earlier, now=earlier_at + timedelta(minutes=30))

    current, created = services.meeting_for_week(
        organization=org, week_start=this_week, by=owner.user, now=demo.now
    )
    if created:
        ActionItem.objects.create(
            organization=org,
            meeting=current,
            title="Analyser les rejets « mauvais timing » de la semaine",
            owner=demo.users[Role.SALES_MANAGER.value],
            due_on=this_week + timedelta(days=4),
            created_by=owner.user,
        )

    services.rollout_record(
        organization=org,
        step="funnel_viewed",
        by=demo.users[Role.MARKETING_MANAGER.value],
        now=earlier_at,
    )
    approved = 0
    for side, role in (("marketing", Role.MARKETING_MANAGER), ("sales", Role.SALES_MANAGER)):
        try:
            services.scoring_approve(actor=_membership(demo, role), organization=org, side=side)
            approved += 1
        except services.MeetingError:
            pass  # no active scoring model: the step stays open
    demo.stdout.write(
        f"  meetings: {earlier.week_start} closed, {current.week_start} ready "
        f"({ActionItem.objects.for_org(org).filter(done=False).count()} open actions), "
        f"{ScoringApproval.objects.for_org(org).count()} scoring approvals"
    )
