"""Whether a router's lower cost is real: paired tests over the same scenarios, corrected for how many
comparisons are made, and bootstrap intervals — the statistics RL-Exec (Duflot and Robineau, 2025)
reports for execution agents (see ``shared/reference/anchors-2026-11.md``).

Per regime, every router's mean cost per scenario (bps) is compared with best-price's and with the
**best fixed rule** of that regime (the baseline — best-price, lowest-latency, lowest-fee, round-robin,
random, or a posting rule: post-best-rebate, post-shortest-queue — with the lowest mean cost there) by
a one-sided Wilcoxon signed-rank test on the paired per-scenario differences (H1: the router costs
less). Scenarios are the units: each is one world met
by every router, so the pairs are independent of each other while each pair shares its world. The
p-values of each family (against best-price, against the best fixed rule) are adjusted together
across regimes and routers with Benjamini–Hochberg. The 95% interval of each mean cost is a
percentile bootstrap over scenarios. The tests and the correction are SciPy's (``scipy.stats``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

FIXED_RULES = ("best-price", "lowest-latency", "lowest-fee", "round-robin", "random", "post-best-rebate",
               "post-shortest-queue")  # fmt: skip
BOOTSTRAP_RESAMPLES = 2000


def paired_p(cost: np.ndarray, against: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value that ``cost`` is lower than ``against`` (paired arrays of
    per-scenario costs); 1.0 when they never differ (nothing to test)."""
    diff = cost - against
    if not np.any(diff != 0) or diff.size < 2:
        return 1.0
    return float(stats.wilcoxon(diff, alternative="less").pvalue)


def bootstrap_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values`` (the same seed, the same interval)."""
    if values.size < 2 or np.all(values == values[0]):
        m = float(values.mean()) if values.size else 0.0
        return m, m
    res = stats.bootstrap(
        (values,), np.mean, confidence_level=0.95, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def significance(per_scenario: dict[str, dict[str, np.ndarray]], seed: int) -> dict[str, Any]:
    """``per_scenario[regime][router]``: mean cost (bps) of each scenario, the same scenarios for every
    router. Returns ``{"best_fixed": {regime: router}, "rows": {regime: {router: {"p_vs_best_price",
    "p_vs_best_fixed", "cost_bps_boot95"}}}}``; p-values BH-adjusted per family, ``None`` where the
    comparison is the router with itself (or the oracle, which is not a router one can run)."""
    best_fixed: dict[str, str] = {}
    raw: dict[str, list[tuple[str, str, float]]] = {"p_vs_best_price": [], "p_vs_best_fixed": []}
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for regime, costs in per_scenario.items():
        fixed = [r for r in FIXED_RULES if r in costs]
        best_fixed[regime] = min(fixed, key=lambda r: float(costs[r].mean()))
        rows[regime] = {}
        for i, (router, cost) in enumerate(costs.items()):
            lo, hi = bootstrap_ci(cost, seed + i)
            rows[regime][router] = {"cost_bps_boot95": [round(lo, 4), round(hi, 4)]}
            for key, other in (("p_vs_best_price", "best-price"), ("p_vs_best_fixed", best_fixed[regime])):
                rows[regime][router][key] = None
                if router not in (other, "oracle") and other in costs:
                    raw[key].append((regime, router, paired_p(cost, costs[other])))
    for key, tests in raw.items():
        if not tests:
            continue
        adjusted = stats.false_discovery_control([p for _, _, p in tests], method="bh")
        for (regime, router, _), p in zip(tests, adjusted, strict=True):
            rows[regime][router][key] = float(f"{float(p):.3g}")  # three significant figures, however small
    return {"best_fixed": best_fixed, "rows": rows}
