"""The three worlds a router is measured in, defined once on the venue type.

*calm* is the config as it is; *congested* puts every venue into its slow regime most of the time;
*degraded* puts one venue in trouble. The backtest's scenarios apply them to the session's venues;
the JAX environment (``learn/env.py`` ``regime_params``) mirrors them on its parameter arrays, and a
test holds the two equal for every regime.
"""

from __future__ import annotations

from dataclasses import replace

from hft_console.domain import VenueSpec

REGIMES = ("calm", "congested", "degraded")


def calm(v: VenueSpec) -> VenueSpec:
    """The venue as configured: its own congestion and outage rates, nothing added or removed."""
    return v


def congested(v: VenueSpec) -> VenueSpec:
    """Congestion most of the time: frequent switches into the slow regime, slow recovery, 3x spikes."""
    lat = v.latency
    return replace(
        v,
        latency=replace(
            lat,
            calm_to_congested_per_s=max(lat.calm_to_congested_per_s, 2.0),
            congested_to_calm_per_s=min(lat.congested_to_calm_per_s, 0.5),
            spike_prob=min(1.0, lat.spike_prob * 3),
        ),
    )


def degraded(v: VenueSpec) -> VenueSpec:
    """One venue in trouble: every message five times slower (new orders, cancels and replaces alike; a
    0 per-message median already follows ``median_us``), spiky, rejecting, its market data three times
    as late, and now and then out (at least 120 outages an hour, each as long as configured)."""
    lat = v.latency
    return replace(
        v,
        reject_prob=max(v.reject_prob, 0.05),
        feed_delay_us=v.feed_delay_us * 3,
        latency=replace(
            lat,
            median_us=lat.median_us * 5,
            cancel_median_us=lat.cancel_median_us * 5,
            replace_median_us=lat.replace_median_us * 5,
            spike_prob=min(1.0, max(lat.spike_prob * 5, 0.05)),
            outage_per_hour=max(lat.outage_per_hour * 20, 120.0),
        ),
    )


def regime_venues(venues: list[VenueSpec], regime: str, degraded_venue: str = "") -> list[VenueSpec]:
    """The venues of one world: ``calm`` and ``congested`` apply to every venue, ``degraded`` only to
    the one named ``degraded_venue`` (the others stay as configured). ValueError for an unknown regime."""
    if regime == "calm":
        return [calm(v) for v in venues]
    if regime == "congested":
        return [congested(v) for v in venues]
    if regime == "degraded":
        return [degraded(v) if v.name == degraded_venue else v for v in venues]
    raise ValueError(f"unknown regime {regime!r}: expected one of {REGIMES}")
