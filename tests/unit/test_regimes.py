"""The calm, congested and degraded worlds exist once (venues/regimes.py); the JAX environment's
``regime_params`` mirrors them on its parameter arrays. Held equal here, regime by regime and, for
degraded, venue by venue, on the shipped venues and on one pushed to the edges of each rule."""

from __future__ import annotations

import dataclasses
import inspect

import jax
import numpy as np
import pytest

from hft_console.domain import VenueSpec
from hft_console.learn.env import EnvParams, params_from_settings, regime_params
from hft_console.settings import Settings
from hft_console.venues.regimes import REGIMES, regime_venues
from tests.conftest import make_settings


def edge_venues(venues: list[VenueSpec]) -> list[VenueSpec]:
    """The first venue where each regime rule's other branch is taken: many short outages, spiky."""
    first = venues[0]
    lat = dataclasses.replace(
        first.latency, outage_per_hour=30.0, outage_mean_s=2.0, spike_prob=0.3, calm_to_congested_per_s=5.0
    )
    return [dataclasses.replace(first, reject_prob=0.2, latency=lat), *venues[1:]]


def env_of(settings: Settings, base: EnvParams) -> EnvParams:
    return params_from_settings(settings, predictor=base.predictor)


def assert_same(got: EnvParams, want: EnvParams) -> None:
    for name in inspect.signature(EnvParams).parameters:
        if name in ("predictor", "post_cost_bps"):  # the oracle's post table: from the base, by design
            continue
        pairs = zip(jax.tree.leaves(getattr(got, name)), jax.tree.leaves(getattr(want, name)), strict=True)
        for i, (a, b) in enumerate(pairs):
            # float32 rounding, nothing more
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=0, err_msg=f"{name}[{i}]")


@pytest.mark.parametrize("edge", [False, True], ids=["shipped", "edge"])
@pytest.mark.parametrize("regime", REGIMES)
def test_the_environment_regimes_are_the_venue_regimes(regime: str, edge: bool) -> None:
    s = make_settings()
    if edge:
        s = dataclasses.replace(s, venues=edge_venues(s.venues))
    base = params_from_settings(s)
    hit = range(len(s.venues)) if regime == "degraded" else [0]
    for i in hit:
        want = env_of(dataclasses.replace(s, venues=regime_venues(s.venues, regime, s.venues[i].name)), base)
        assert_same(regime_params(base, regime, i), want)


def test_calm_is_the_config_as_it_is() -> None:
    s = make_settings()
    assert regime_venues(s.venues, "calm") == s.venues
    base = params_from_settings(s)
    assert regime_params(base, "calm") is base


def test_degraded_touches_only_the_named_venue() -> None:
    s = make_settings()
    name = s.venues[2].name
    out = regime_venues(s.venues, "degraded", name)
    assert [v == w for v, w in zip(out, s.venues, strict=True)] == [v.name != name for v in s.venues]


def test_an_unknown_regime_is_refused_by_both() -> None:
    s = make_settings()
    with pytest.raises(ValueError, match="unknown regime 'stormy'"):
        regime_venues(s.venues, "stormy")
    with pytest.raises(ValueError, match="unknown regime 'stormy'"):
        regime_params(params_from_settings(s), "stormy")


def test_a_degraded_venue_is_five_times_slower_for_every_message() -> None:
    s = make_settings()
    for v in s.venues:
        for cancel in (0.0, 77.0):  # 0: as a new order, which is itself five times slower
            lat = dataclasses.replace(v.latency, cancel_median_us=cancel)
            (out,) = regime_venues([dataclasses.replace(v, latency=lat)], "degraded", v.name)
            assert out.latency.median_us == pytest.approx(5 * v.latency.median_us)
            assert out.latency.cancel_median_us == pytest.approx(5 * cancel)
            assert out.latency.replace_median_us == pytest.approx(5 * v.latency.replace_median_us)
            assert out.feed_delay_us == pytest.approx(3 * v.feed_delay_us)
            assert (out.kind, out.midpoint_share, out.hidden_liquidity_mean_shares) == (
                v.kind, v.midpoint_share, v.hidden_liquidity_mean_shares,
            )  # fmt: skip


def test_the_shipped_venues_cover_every_kind_the_parity_test_checks() -> None:
    """The parity test above runs on the shipped set: it must hold a dark and a midpoint venue, whose
    arrays (``dark``, ``midpoint_share``, ``hidden_*``) no regime changes."""
    kinds = {v.kind for v in make_settings().venues}
    assert {"dark", "speed-bump", "inverted", "lit"} <= kinds
