"""The payout arithmetic against hand-computed examples."""

from __future__ import annotations

from decimal import Decimal

import pytest

from incentives.engine import compute_payout, parse_tiers

TIERS = parse_tiers(
    [
        {"from": "0", "rate": "0.01"},
        {"from": "50000", "rate": "0.02"},
        {"from": "100000", "rate": "0.03"},
    ],
    "rate",
)
SLA = parse_tiers(
    [
        {"from": "0", "multiplier": "0.8"},
        {"from": "90", "multiplier": "1.0"},
        {"from": "97", "multiplier": "1.1"},
    ],
    "multiplier",
)


def amounts(result):
    return [line.get("amount") for line in result.lines]


def test_marginal_tiers_with_accelerator():
    # 50 000 × 1 % = 500; 50 000 × 2 % = 1 000; 20 000 × 3 % = 600 → 2 100
    result = compute_payout(achievement=Decimal("120000"), tiers=TIERS)
    tiers = [line for line in result.lines if line["code"] == "tier"]
    assert [t["portion"] for t in tiers] == ["50000", "50000", "20000"]
    assert [t["amount"] for t in tiers] == ["500.00", "1000.00", "600.00"]
    assert result.subtotal == Decimal("2100.00")
    assert result.payout == Decimal("2100.00")
    assert result.lines[-1] == {"code": "payout", "amount": "2100.00"}


def test_achievement_below_the_second_threshold_pays_only_the_first_tier():
    result = compute_payout(achievement=Decimal("30000"), tiers=TIERS)
    assert [line["amount"] for line in result.lines if line["code"] == "tier"] == [
        "300.00",
        "0.00",
        "0.00",
    ]
    assert result.payout == Decimal("300.00")


@pytest.mark.parametrize(
    ("compliance", "multiplier", "payout"),
    [
        (0.95, "1.0", "2100.00"),
        (0.98, "1.1", "2310.00"),
        (0.5, "0.8", "1680.00"),
        (0.9, "1.0", "2100.00"),
    ],
)
def test_sla_multiplier_tiers(compliance, multiplier, payout):
    result = compute_payout(
        achievement=Decimal("120000"), tiers=TIERS, sla_tiers=SLA, compliance=compliance
    )
    assert result.multiplier == Decimal(multiplier)
    assert result.payout == Decimal(payout)


def test_no_deadline_due_means_multiplier_one_said_on_the_line():
    result = compute_payout(
        achievement=Decimal("120000"), tiers=TIERS, sla_tiers=SLA, compliance=None
    )
    line = next(line for line in result.lines if line["code"] == "multiplier")
    assert line["compliance"] is None and line["multiplier"] == "1"
    assert result.payout == Decimal("2100.00")


def test_cap_applies_after_the_multiplier():
    # 2 100 × 1.1 = 2 310, capped at 2 000
    result = compute_payout(
        achievement=Decimal("120000"),
        tiers=TIERS,
        sla_tiers=SLA,
        compliance=0.99,
        cap=Decimal("2000"),
    )
    assert result.capped
    assert result.payout == Decimal("2000.00")
    assert [line["code"] for line in result.lines] == [
        "achievement",
        "tier",
        "tier",
        "tier",
        "subtotal",
        "multiplier",
        "cap",
        "payout",
    ]


def test_cap_not_reached_adds_no_line():
    result = compute_payout(achievement=Decimal("1000"), rate=Decimal("0.1"), cap=Decimal("500"))
    assert not result.capped and result.payout == Decimal("100.00")
    assert "cap" not in [line["code"] for line in result.lines]


def test_flat_rate_per_sql():
    result = compute_payout(achievement=Decimal(7), rate=Decimal("50"))
    assert result.payout == Decimal("350.00")


def test_rounding_half_up_per_line():
    # 333.33 × 1.5 % = 4.99995 → 5.00; × 0.8 = 4.00
    result = compute_payout(
        achievement=Decimal("333.33"), rate=Decimal("0.015"), sla_tiers=SLA, compliance=0.1
    )
    assert amounts(result)[1] == "5.00"
    assert result.payout == Decimal("4.00")


def test_lines_add_up_as_printed():
    result = compute_payout(achievement=Decimal("123456.78"), tiers=TIERS)
    tiers = [Decimal(line["amount"]) for line in result.lines if line["code"] == "tier"]
    assert sum(tiers) == result.subtotal == result.payout


@pytest.mark.parametrize(
    "raw",
    [
        [{"from": "0"}],
        [{"from": "-1", "rate": "1"}],
        [{"from": "x", "rate": "1"}],
        [{"from": "0", "rate": "1"}, {"from": "0", "rate": "2"}],
    ],
)
def test_malformed_tiers_are_refused(raw):
    with pytest.raises(ValueError):
        parse_tiers(raw, "rate")
