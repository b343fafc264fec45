"""The payout arithmetic, pure and in ``Decimal`` (no database, no KPI layer).

Order of the computation (each step is one line of the statement):

1. **achievement**: the basis measured for the period (money, or a count of SQLs);
2. **rate** (flat): achievement × rate; or **tiers** (marginal): each tier's rate
   applies to the part of the achievement between its threshold and the next one's —
   a higher rate in a higher tier is an accelerator, and nobody loses money by
   crossing a threshold;
3. **subtotal**: the sum of the rounded amounts of step 2;
4. **SLA multiplier** (optional): the tier whose threshold (compliance, in %) is the
   highest one not above the participant's compliance; no clock due in the period
   (compliance unknown) → ×1, said so on the line;
5. **cap** (optional): the payout never exceeds it (applied last, after the multiplier);
6. **payout**.

Rounding: every money amount on a line is rounded to the cent, half up
(``ROUND_HALF_UP``), when the line is made; the next line starts from the rounded
value, so the lines of a statement always add up exactly as printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ONE = Decimal("1")
# A number as a person types it: digits, an optional decimal part (no sign, no
# exponent, no NaN/Infinity).
PLAIN_NUMBER = re.compile(r"\d{1,15}(\.\d{1,10})?")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValueError(f"not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return result


@dataclass(frozen=True)
class Tier:
    start: Decimal  # threshold: the tier applies above it
    value: Decimal  # a rate (payout tiers) or a multiplier (SLA tiers)


def parse_tiers(raw: list[dict] | None, key: str) -> list[Tier]:
    """``[{"from": "0", key: "0.01"}, ...]`` → sorted tiers; ValueError if malformed."""
    tiers = []
    for item in raw or []:
        if not isinstance(item, dict) or "from" not in item or key not in item:
            raise ValueError(f"each tier needs 'from' and '{key}'")
        start, value = to_decimal(item["from"]), to_decimal(item[key])
        if start < 0 or value < 0:
            raise ValueError("tiers cannot be negative")
        tiers.append(Tier(start, value))
    tiers.sort(key=lambda tier: tier.start)
    starts = [tier.start for tier in tiers]
    if len(set(starts)) != len(starts):
        raise ValueError("two tiers start at the same threshold")
    return tiers


@dataclass
class Computation:
    achievement: Decimal
    subtotal: Decimal
    multiplier: Decimal
    compliance: float | None
    payout: Decimal
    capped: bool
    lines: list[dict] = field(default_factory=list)


def compute_payout(
    *,
    achievement: Decimal,
    rate: Decimal | None = None,
    tiers: list[Tier] | None = None,
    sla_tiers: list[Tier] | None = None,
    compliance: float | None = None,
    cap: Decimal | None = None,
) -> Computation:
    """The statement's lines for one achievement (see the module docstring)."""
    achievement = to_decimal(achievement)
    lines: list[dict] = [{"code": "achievement", "value": str(achievement)}]
    amounts: list[Decimal] = []
    if tiers:
        for index, tier in enumerate(tiers):
            upper = tiers[index + 1].start if index + 1 < len(tiers) else None
            top = achievement if upper is None else min(achievement, upper)
            portion = max(top - tier.start, Decimal(0))
            amount = cents(portion * tier.value)
            amounts.append(amount)
            lines.append(
                {
                    "code": "tier",
                    "index": index + 1,
                    "from": str(tier.start),
                    "to": None if upper is None else str(upper),
                    "portion": str(portion),
                    "rate": str(tier.value),
                    "amount": str(amount),
                }
            )
    elif rate is not None:
        amount = cents(achievement * to_decimal(rate))
        amounts.append(amount)
        lines.append(
            {"code": "rate", "base": str(achievement), "rate": str(rate), "amount": str(amount)}
        )
    subtotal = sum(amounts, Decimal("0.00"))
    lines.append({"code": "subtotal", "amount": str(subtotal)})
    multiplier = ONE
    total = subtotal
    if sla_tiers:
        if compliance is None:
            lines.append(
                {"code": "multiplier", "compliance": None, "multiplier": "1", "amount": str(total)}
            )
        else:
            percent = to_decimal(compliance) * 100
            chosen = [tier for tier in sla_tiers if tier.start <= percent]
            # Below the lowest threshold: the lowest tier's multiplier applies.
            multiplier = (chosen[-1] if chosen else sla_tiers[0]).value
            total = cents(subtotal * multiplier)
            lines.append(
                {
                    "code": "multiplier",
                    "compliance": str(cents(percent)),
                    "multiplier": str(multiplier),
                    "amount": str(total),
                }
            )
    capped = False
    if cap is not None and total > cap:
        capped = True
        total = cents(to_decimal(cap))
        lines.append({"code": "cap", "cap": str(total), "amount": str(total)})
    lines.append({"code": "payout", "amount": str(total)})
    return Computation(
        achievement=achievement,
        subtotal=subtotal,
        multiplier=multiplier,
        compliance=compliance,
        payout=total,
        capped=capped,
        lines=lines,
    )
