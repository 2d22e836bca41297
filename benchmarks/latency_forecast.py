"""Latency forecaster benchmark: its error against the EWMA and a plain moving average, per regime,
and what its pretraining costs.

    python benchmarks/latency_forecast.py [--scenarios 64] [--steps 400]

The forecaster runs as the routing environment runs it: learning online (one SGD step per answer)
from the shipped pretrained weights, and — to show what pretraining adds — from untrained weights
(which start as the EWMA). Every answer in fresh worlds (a router picking uniformly among the venues
at the touch) is scored against the forecast made just before it; timeouts are answers too.
"""

from __future__ import annotations

import argparse
import time

from machine import machine

from hft_console.learn import env
from hft_console.learn.latency_train import MA_WINDOW, error_report, pretrain
from hft_console.routing.models import latency
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import load_settings
from hft_console.venues.regimes import REGIMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--scenarios", type=int, default=64, help="worlds per regime")
    ap.add_argument("--steps", type=int, default=400, help="answers per world")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    s = load_settings({}, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)
    worlds = {
        "pretrained": env.params_from_settings(s),
        "untrained": env.params_from_settings(s, predictor=latency.untrained()),
    }
    runs = {name: error_report(world, args.scenarios, args.steps, args.seed) for name, world in worlds.items()}
    print(f"round-trip forecast error, {args.scenarios} worlds x {args.steps} answers per regime")
    print(f"  {'regime':<10} {'predictor':<22} {'MAE µs':>8} {'MAE log':>8}")
    for regime in REGIMES:
        pre, raw = runs["pretrained"][regime], runs["untrained"][regime]
        rows = [
            ("forecaster, pretrained", pre["forecaster"]),
            ("forecaster, untrained", raw["forecaster"]),
            ("EWMA (10%)", pre["ewma"]),
            (f"moving average {MA_WINDOW}", pre[f"moving_average_{MA_WINDOW}"]),
        ]
        for name, r in rows:
            print(f"  {regime:<10} {name:<22} {r['mae_us']:>8.1f} {r['mae_log']:>8.4f}")
        change = pre["forecaster"]["mae_us"] / pre["ewma"]["mae_us"] - 1
        print(f"  {regime:<10} {'pretrained vs EWMA':<22} {change:>+8.1%} (MAE µs)")
    started = time.perf_counter()
    _, meta = pretrain(s, seed=42)
    wall = time.perf_counter() - started
    print(
        f"pretraining: {meta['examples']:,} answers, fit {meta['train_s']} s, with its error report {wall:.1f} s wall"
    )


if __name__ == "__main__":
    main()
