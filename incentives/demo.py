"""The demo's bonus plans (``manage.py load_demo``; idempotent):

- sales reps on their own revenue won, monthly, marginal tiers (5 % up to 20 000,
  8 % to 50 000, 10 % above: the accelerators), SLA compliance multiplier
  (×0.8 under 80 %, ×1 from 80 %, ×1.1 from 95 %), capped at 8 000;
- marketers on the whole organization's revenue won (the guide: index the marketers'
  bonus on the revenue sales brought in), quarterly, 0.5 %, capped at 3 000;
- last month closed for the sales plan, so frozen statements exist next to the live
  ones of the running month.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import Role

from . import selectors, services
from .models import BonusPlan, PeriodClose


def load(demo) -> None:
    org = demo.organization
    owner = Membership.objects.for_org(org).get(user=demo.users[Role.OWNER.value])
    owner.organization = org
    plans = {
        "Commerciaux · chiffre d'affaires signé": {
            "period_kind": "month",
            "basis": "revenue_won",
            "measure": "own",
            "team_role": Role.SALES_REP.value,
            "rate": None,
            "tiers": [
                {"from": "0", "rate": "0.05"},
                {"from": "20000", "rate": "0.08"},
                {"from": "50000", "rate": "0.10"},
            ],
            "sla_tiers": [
                {"from": "0", "multiplier": "0.8"},
                {"from": "80", "multiplier": "1.0"},
                {"from": "95", "multiplier": "1.1"},
            ],
            "cap": Decimal("8000"),
        },
        "Marketing · indexé sur le CA": {
            "period_kind": "quarter",
            "basis": "revenue_won",
            "measure": "organization",
            "team_role": Role.MARKETER.value,
            "rate": Decimal("0.005"),
            "cap": Decimal("3000"),
        },
    }
    for name, data in plans.items():
        if not BonusPlan.objects.for_org(org).filter(name=name).exists():
            services.plan_save(actor=owner, organization=org, data={"name": name, **data})
    sales = BonusPlan.objects.for_org(org).get(name="Commerciaux · chiffre d'affaires signé")
    running = selectors.plan_period(sales, org, now=demo.now)
    last_month = selectors.plan_period(sales, org, running.first_day - timedelta(days=1))
    if selectors.period_close_of(sales, last_month) is None:
        services.period_close(
            actor=owner,
            organization=org,
            plan=sales,
            first_day=last_month.first_day,
            now=demo.now,
        )
    closed = PeriodClose.objects.for_org(org).count()
    demo.stdout.write(f"  incentives: {len(plans)} plans, {closed} closed period(s)")
