"""Pipeline benchmark: ticks per second through normaliser -> strategy -> router -> risk -> venues ->
portfolio -> journal on the simulated clock, and decision latency (tick arrival to the order handed
to the venue, wall clock) per router.

    python benchmarks/pipeline.py [--duration 60] [--symbols AAPL,MSFT,GOOGL] [--mode production]
                                  [--strategy imbalance|market-maker]

The imbalance strategy exercises the taker path (IOC child orders); the market maker the resting path
(posts, replaces, cancels, queue estimates on every quote where it rests, trade prints).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from machine import machine

from hft_console.engine.engine import Engine
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import load_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--duration", type=float, default=60.0, help="simulated seconds per run")
    ap.add_argument("--symbols", default="AAPL,MSFT,GOOGL")
    ap.add_argument("--mode", default="production")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--routers", default=",".join(ROUTER_NAMES))
    ap.add_argument("--strategy", default="imbalance", choices=("imbalance", "market-maker"))
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"mode {args.mode}, {args.duration:g} s simulated, symbols {args.symbols}, seed {args.seed}, {args.strategy}")
    header = (
        f"{'router':<16}{'ticks':>10}{'ticks/s':>12}{'orders':>8}{'dec p50 µs':>12}{'p95':>8}{'p99':>8}{'inf p99':>9}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for router in args.routers.split(","):
            flags = {
                "session.mode": args.mode,
                "session.clock": "sim",
                "session.duration_s": args.duration,
                "session.symbols": args.symbols,
                "session.seed": args.seed,
                "session.router": router,
                "strategy.name": args.strategy,
            }
            settings = load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
            engine = Engine(settings, Path(tmp) / router)
            engine.run()
            s: dict[str, Any] = engine.summary or {}
            d, inf = s["decision_latency_us"], s["inference_us"]
            print(
                f"{router:<16}{s['ticks']:>10,}{s['ticks_per_s']:>12,.0f}{s['orders']:>8,}"
                f"{us(d['p50']):>12}{us(d['p95']):>8}{us(d['p99']):>8}{us(inf['p99']):>9}"
            )


def us(x: float | None) -> str:
    """A latency figure, or a dash where nothing was measured (the market maker asks no router)."""
    return "—" if x is None else f"{x:.1f}"


if __name__ == "__main__":
    main()
