"""Paired tests, their correction and bootstrap intervals for ``evaluate`` (learn/significance.py)."""

from __future__ import annotations

import numpy as np

from hft_console.learn.significance import bootstrap_ci, paired_p, significance


def worlds(seed: int = 3, n: int = 60) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.5, 0.05, n)  # each scenario's own difficulty, shared by every router
    return {
        "oracle": base - 0.10,
        "best-price": base + rng.normal(0, 0.005, n),
        "lowest-fee": base - 0.04 + rng.normal(0, 0.005, n),
        "learned": base - 0.06 + rng.normal(0, 0.005, n),  # consistently cheaper than the best fixed rule
        "twin": base - 0.04 + rng.normal(0, 0.005, n),  # no better than it
    }


def test_a_consistently_cheaper_router_is_significant_and_a_twin_is_not() -> None:
    out = significance({"calm": worlds(), "congested": worlds(4)}, seed=1)
    assert out["best_fixed"] == {"calm": "lowest-fee", "congested": "lowest-fee"}
    for regime in ("calm", "congested"):
        rows = out["rows"][regime]
        assert rows["learned"]["p_vs_best_fixed"] < 0.01 and rows["learned"]["p_vs_best_price"] < 0.01
        assert rows["twin"]["p_vs_best_fixed"] > 0.05
        assert rows["lowest-fee"]["p_vs_best_fixed"] is None and rows["best-price"]["p_vs_best_price"] is None
        assert rows["oracle"]["p_vs_best_fixed"] is None  # not a router one can run
        lo, hi = rows["learned"]["cost_bps_boot95"]
        assert lo < float(worlds(3 if regime == "calm" else 4)["learned"].mean()) < hi


def test_the_correction_never_lowers_a_p_value_and_ties_test_nothing() -> None:
    w = worlds()
    raw = paired_p(w["twin"], w["lowest-fee"])
    adjusted = significance({"calm": w}, seed=1)["rows"]["calm"]["twin"]["p_vs_best_fixed"]
    assert adjusted >= raw
    assert paired_p(w["learned"], w["learned"]) == 1.0
    assert bootstrap_ci(np.array([0.3, 0.3, 0.3]), 1) == (0.3, 0.3)
    assert bootstrap_ci(w["learned"], 5) == bootstrap_ci(w["learned"], 5)  # seeded: the same interval
