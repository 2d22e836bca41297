"""The venue sets the README's figures come from load as a user's ``--config`` would, and describe what
they say they describe."""

from __future__ import annotations

from pathlib import Path

from hft_console.learn import env
from hft_console.settings import load_settings

SIX = Path(__file__).resolve().parents[2] / "benchmarks" / "configs" / "six-venues.toml"


def test_the_six_venue_set_loads_with_every_venue_kind_and_a_liquid_dark_pool() -> None:
    s = load_settings({"config": str(SIX)}, environ={}, dotenv_path=None)
    names = [v.name for v in s.venues]
    assert names == ["MEMX", "CHX", "PEARL", "EDGA", "LTSE", "MIDX"]
    kinds = {v.name: v.kind for v in s.venues}
    assert kinds["EDGA"] == "inverted" and kinds["LTSE"] == "speed-bump" and kinds["MIDX"] == "dark"
    default = load_settings({}, environ={}, dotenv_path=None)
    pool = next(v for v in s.venues if v.kind == "dark")
    shipped = next(v for v in default.venues if v.kind == "dark")
    assert pool.hidden_liquidity_zero_prob < shipped.hidden_liquidity_zero_prob
    p = env.params_from_settings(s)  # the environment reads it: train --config / evaluate --config
    assert p.median_us.shape == (6,) and float(p.dark.sum()) == 1.0
