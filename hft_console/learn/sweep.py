"""``hft-console train --sweep``: a small hyperparameter search for the DQN router with Ray Tune, whose
ASHA scheduler (asynchronous successive halving, Li et al. 2018) stops a trial early when its training
cost at a rung is in the worse half of the trials that reached it. Each trial trains with one
configuration and the same seed; after its last chunk it is scored by what the router is for: its mean
regret against the oracle (``versus_oracle``, the three regimes) on the same evaluation worlds for
every trial. The best configuration, with every trial's result, is written beside the checkpoint
(``dqn.sweep.json``); the checkpoint itself is left as it was.

Ray (and its Tune library) is imported only here, inside ``run_sweep``: nothing else needs it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.learn import dqn
from hft_console.learn.env import params_from_settings
from hft_console.learn.evaluate import versus_oracle
from hft_console.settings import Settings

# the search space: what moved DQN's results while it was being built (learning rate, discount, network
# width, gradient steps per update); the rest of the configuration is the shipped one
SPACE: dict[str, tuple[Any, ...]] = {
    "lr": ("loguniform", 3e-4, 3e-3),
    "gamma": ("choice", 0.3, 0.5, 0.7),
    "hidden": ("choice", (64, 64), (128, 128)),
    "grad_steps": ("choice", 1, 2, 4),
}
EVAL_SCENARIOS = 40  # per regime, for the final score: the same worlds for every trial


def trial_config(base: dict[str, Any], chosen: dict[str, Any]) -> dqn.DQNConfig:
    """``base`` (a ``DQNConfig``'s fields) with a trial's choices; tuples stay tuples."""
    fields = {**base, **{k: tuple(v) if isinstance(v, list) else v for k, v in chosen.items()}}
    return dqn.DQNConfig(**fields)


def run_sweep(
    settings: Settings, trials: int, seed: int, predictor: Any, out: Path, address: str = "",
    base: dqn.DQNConfig = dqn.DEFAULT_CONFIG, steps: int = 200, eval_scenarios: int = EVAL_SCENARIOS,
) -> dict[str, Any]:  # fmt: skip
    """``trials`` configurations drawn from ``SPACE`` (seeded), trained on Ray (a local instance, or the
    cluster at ``address``/``RAY_ADDRESS``), one CPU each, ASHA stopping the poor ones; writes and
    returns ``{"best": config, "best_regret_bps", "trials": [...], "scheduler", "seed"}`` to
    ``out/dqn.sweep.json``. Raises ``ExecutorError`` when Ray is missing or unreachable, ``OSError``
    when ``out`` cannot be written."""
    from hft_console.compute.ray_executor import RayExecutor  # imports Ray: only the sweep needs it

    with RayExecutor(0, address):
        from ray import tune  # imports Ray Tune: only the sweep needs it
        from ray.tune.schedulers import ASHAScheduler  # imports Ray Tune: as above
        from ray.tune.search.basic_variant import BasicVariantGenerator  # imports Ray Tune: as above

        space = {
            k: tune.loguniform(v[1], v[2]) if v[0] == "loguniform" else tune.choice(list(v[1:]))
            for k, v in SPACE.items()
        }
        base_fields = base._asdict()
        world = params_from_settings(settings, predictor=predictor)

        def trainable(chosen: dict[str, Any]) -> None:
            cfg = trial_config(base_fields, chosen)
            last = [0.0]

            def chunk_done(chunk: int, cost: float) -> None:
                last[0] = cost
                tune.report({"train_cost_bps": cost, "chunk": chunk})

            params, _ = dqn.train(settings, cfg, seed=seed, predictor=predictor, report=chunk_done)
            scored = versus_oracle(world, dqn.eval_router(params), eval_scenarios, steps, seed)
            regret = float(np.mean([r["regret_bps"] for r in scored.values()]))
            tune.report({"train_cost_bps": last[0], "chunk": cfg.chunks, "regret_bps": regret, "scored": True})

        scheduler = ASHAScheduler(
            time_attr="training_iteration", max_t=base.chunks + 1, grace_period=max(1, base.chunks // 4),
            reduction_factor=2,
        )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="hft-sweep-") as storage:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric="train_cost_bps",
                    mode="min",
                    scheduler=scheduler,
                    num_samples=trials,
                    search_alg=BasicVariantGenerator(random_state=seed),
                ),
                run_config=tune.RunConfig(storage_path=storage, name="dqn", verbose=0),
            )
            grid = tuner.fit()
            rows: list[dict[str, Any]] = []
            for i in range(len(grid)):
                result = grid[i]
                m = result.metrics or {}
                rows.append({
                    "config": {k: list(v) if isinstance(v, tuple) else v for k, v in (result.config or {}).items()},
                    "regret_bps": round(m["regret_bps"], 4) if m.get("scored") else None,
                    "chunks_trained": min(int(m.get("chunk", 0)), base.chunks),
                    "stopped_early": not m.get("scored", False),
                    "error": None if result.error is None else f"{type(result.error).__name__}: {result.error}",
                })  # fmt: skip
    finished = [r for r in rows if r["regret_bps"] is not None]
    best = min(finished, key=lambda r: r["regret_bps"]) if finished else None
    summary = {
        "best": {**{k: list(v) if isinstance(v, tuple) else v for k, v in base_fields.items()}, **best["config"]}
        if best else None,
        "best_regret_bps": best["regret_bps"] if best else None,
        "metric": "mean regret against the oracle over calm, congested and degraded, bps",
        "trials": rows,
        "scheduler": f"ASHA (grace {max(1, base.chunks // 4)} chunks, reduction 2, of {base.chunks} + 1)",
        "seed": seed,
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "dqn.sweep.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
