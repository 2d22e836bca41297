"""``evaluate`` and ``train`` as executor jobs (``compute/``): one job per router evaluated, one per
training seed, each a pure function of its argument. A job carries what a remote node may not have
(the agents' checkpoints, the latency forecaster's weights) and returns small results: per scenario
one mean cost (and the switch family's two halves), never a rollout; a trained network's parameters.
The same jobs give the same report in this process, on local processes or on Ray (a test holds them
to it): every world is drawn from the seed, and each router meets the same worlds wherever it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from hft_console.compute.executor import Executor, JobFailure, fetch
from hft_console.learn import dqn, env, ppo
from hft_console.learn.evaluate import (
    POST_RULES,
    EvalRouter,
    SeedSet,
    bandit_router,
    baseline,
    dark_km_router,
    make_rollout,
    make_seed_rollout,
    make_switch_rollout,
    per_scenario_cost,
    pool_seeds,
    regime_worlds,
    regret_after_switch,
    regret_figures,
    seed_spread,
    summarise,
    switch_halves,
    switch_worlds,
    versus_oracle,
)
from hft_console.learn.significance import significance
from hft_console.routing.bandits import BANDIT_NAMES, DEFAULT_CONFIG, same_as
from hft_console.routing.dark_router import NAME as DARK_KM
from hft_console.routing.models import checkpoint
from hft_console.routing.models.agents import load_agent, same_shapes, seed_names, stack
from hft_console.routing.models.checkpoint import Params
from hft_console.routing.models.dqn import q_values_np
from hft_console.routing.models.layout import obs_dim
from hft_console.routing.models.ppo import logits_np
from hft_console.routing.registry import BASELINE_NAMES
from hft_console.settings import Settings
from hft_console.venues.regimes import REGIMES

SWITCH_STEPS_PER_STEP = 4  # the switch family's scenarios: 4x the regimes' decisions, the switch halfway
# (800 with the default 200: long enough for ucb-window's 200-update window to matter on both sides)
Agents = dict[str, list[tuple[int, Params]]]  # agent -> (seed, parameters), the shipped seed first


def load_agents(settings: Settings) -> tuple[Agents, list[str]]:
    """Every seed of each agent in the models directory that fits this venue set and its network, and a
    warning for each checkpoint left out."""
    venues = [v.name for v in settings.venues]
    directory = checkpoint.models_dir()
    agents: Agents = {}
    warnings: list[str] = []
    for agent in ("dqn", "ppo"):
        forward = q_values_np if agent == "dqn" else logits_np
        found: list[tuple[int, Params]] = []
        for name in (agent, *seed_names(directory, agent)):  # the shipped seed first, then the extra ones
            try:
                params, meta = load_agent(directory, name, venues)
                # parameters that do not fit the network are a bad checkpoint, not a crash
                forward(params, np.zeros(obs_dim(len(venues)), dtype=np.float32))
            except checkpoint.CheckpointError as exc:
                warnings.append(f"{name}: {exc}")
                continue
            except Exception as exc:  # any failure here means the parameters do not fit the network
                warnings.append(f"{name}: parameters do not fit the {agent} network ({type(exc).__name__})")
                continue
            if found and not same_shapes(found[0][1], params):
                warnings.append(f"{name}: a network unlike {agent}'s, left out of its seeds")
                continue
            found.append((int(meta.get("seed", -1)), jax.tree.map(np.asarray, params)))
        if found:
            agents[agent] = found
    return agents, warnings


def router_names(settings: Settings, agents: Agents, steps: int) -> tuple[list[str], list[str]]:
    """The routers compared over ``steps``-decision scenarios, the oracle last, and a note for each bandit
    left out because over ``steps`` decisions it would decide exactly as another."""
    names = [*BASELINE_NAMES, *POST_RULES]
    notes: list[str] = []
    for name in BANDIT_NAMES:
        twin = same_as(name, steps)
        if twin is None:
            names.append(name)
        else:
            window = DEFAULT_CONFIG.window
            notes.append(
                f"{name} not evaluated: a scenario of {steps} decisions never fills its {window}-update window, "
                f"so it would decide exactly as {twin} (--steps {window + 1} or more compares them)"
            )
    return [*names, DARK_KM, *agents, "oracle"], notes


def build_router(name: str, settings: Settings, agents: Agents) -> EvalRouter | SeedSet:
    """The environment router ``name`` (a baseline, a posting rule, a bandit, dark-km, an agent over its
    seeds, the oracle)."""
    if name in ("dqn", "ppo"):
        make = dqn.eval_router if name == "dqn" else ppo.eval_router
        found = agents[name]
        if len(found) == 1:
            return make(found[0][1])
        return SeedSet(make, stack([p for _, p in found]), [s for s, _ in found])
    if name == DARK_KM:
        return dark_km_router(np.array([v.kind == "dark" for v in settings.venues]))
    if name in BANDIT_NAMES:
        return bandit_router(name, len(settings.venues))
    return baseline(name)


def eval_routers(settings: Settings, steps: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """Every router the evaluation compares, built here; warnings for checkpoints left out and notes for
    routers left out (``router_names``)."""
    agents, warnings = load_agents(settings)
    names, notes = router_names(settings, agents, steps)
    return {name: build_router(name, settings, agents) for name in names}, warnings, notes


def evaluate_one(job: tuple[Any, ...]) -> dict[str, Any]:
    """One router over every regime's worlds and the switch family's (``regimes`` False: the switch
    family only). ``job``: (settings, name, agents, scenarios, steps, seed, regimes). Returns per regime
    the figures ``summarise`` gives without the oracle, the per-scenario costs and, for an agent, its
    seeds and their spread; the switch family's per-scenario halves."""
    settings, name, shared, scenarios, steps, seed, regimes = job
    agents: Agents = fetch(shared) or {}
    router = build_router(name, settings, agents)
    base = env.params_from_settings(settings)
    switch_steps = SWITCH_STEPS_PER_STEP * steps
    switch_at = switch_steps // 2
    before, after, switch_keys, switch_start = switch_worlds(base, scenarios, seed)
    out: dict[str, Any] = {"name": name, "regimes": {}}
    worlds = regime_worlds(base, scenarios, seed) if regimes else {}
    if isinstance(router, SeedSet):  # every training seed on the same worlds; a scenario's cost is their mean
        run = make_seed_rollout(router, steps)
        for regime, (params, keys, start) in worlds.items():
            r = run(params, keys, start)
            pooled = pool_seeds(r)
            out["regimes"][regime] = {
                "figures": summarise(pooled), "per_scenario": per_scenario_cost(pooled),
                "seeds": {"seeds": router.seeds, "cost_bps_seed_sd": round(seed_spread(r), 4)},
            }  # fmt: skip
        sw = make_seed_rollout(router, switch_steps, switch_at)(before, after, switch_keys, switch_start)
        out["switch"] = switch_halves(sw._replace(cost_bps=sw.cost_bps.mean(axis=0)), switch_at)
        return out
    run = make_rollout(router, steps)
    for regime, (params, keys, start) in worlds.items():
        r = run(params, keys, start)
        seeds = {"seeds": [agents[name][0][0]], "cost_bps_seed_sd": None} if name in ("dqn", "ppo") else {}
        out["regimes"][regime] = {"figures": summarise(r), "per_scenario": per_scenario_cost(r), "seeds": seeds}
    out["switch"] = switch_halves(make_switch_rollout(router, switch_steps, switch_at)(
        before, after, switch_keys, switch_start
    ), switch_at)  # fmt: skip
    return out


def evaluate(
    settings: Settings, scenarios: int, steps: int, seed: int, ex: Executor,
    on_done: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Every router over ``scenarios`` worlds of ``steps`` decisions per regime, the same worlds for all,
    one job per router on ``ex`` (``on_done(name, done, total)`` after each); the report
    ``cli.learn.print_evaluation`` prints (costs in bps, regret against the oracle, the executor).
    Raises RuntimeError naming the routers whose job failed."""
    agents, warnings = load_agents(settings)
    names, notes = router_names(settings, agents, steps)
    switch_steps = SWITCH_STEPS_PER_STEP * steps
    # the switch family's scenarios are long enough for every bandit to differ, ucb-window included
    switch_only = [n for n in BANDIT_NAMES if n not in names and same_as(n, switch_steps) is None]
    shared = ex.share(agents)
    jobs = [(settings, n, shared if n in agents else None, scenarios, steps, seed, True) for n in names]
    jobs += [(settings, n, None, scenarios, steps, seed, False) for n in switch_only]
    started = time.perf_counter()
    done = (lambda k: on_done(jobs[k - 1][1], k, len(jobs))) if on_done is not None else None
    results = ex.run(evaluate_one, jobs, done)
    failed = [f"{jobs[r.index][1]} ({r.error})" for r in results if isinstance(r, JobFailure)]
    if failed:
        raise RuntimeError("evaluation failed for " + "; ".join(failed))
    by_name = {r["name"]: r for r in results}
    oracle = by_name["oracle"]
    table: dict[str, dict[str, Any]] = {regime: {} for regime in REGIMES}
    for name in names:
        for regime, row in by_name[name]["regimes"].items():
            regret = regret_figures(row["per_scenario"], oracle["regimes"][regime]["per_scenario"])
            table[regime][name] = {**row["figures"], **regret, **row["seeds"]}
    per_scenario = {regime: {n: by_name[n]["regimes"][regime]["per_scenario"] for n in names} for regime in REGIMES}
    tested = significance(per_scenario, seed)
    for regime, rows in tested["rows"].items():
        for name, figures in rows.items():
            table[regime][name].update(figures)
    edge = {regime: round(table[regime]["best-price"]["cost_bps"] - table[regime]["oracle"]["cost_bps"], 4)
            for regime in REGIMES}  # fmt: skip
    base = env.params_from_settings(settings)
    return {
        "regimes": table,
        "oracle_edge_bps": edge,
        "best_fixed": tested["best_fixed"],
        "switch": {
            "venue": settings.venues[int(np.argmin(np.asarray(base.taker_fee)))].name,
            "steps": switch_steps,
            "switch_at": switch_steps // 2,
            "routers": {r["name"]: regret_after_switch(r["switch"], oracle["switch"]) for r in results},
        },
        "scenarios": scenarios,
        "steps": steps,
        "seed": seed,
        "venues": [v.name for v in settings.venues],
        "wall_s": round(time.perf_counter() - started, 2),
        "executor": ex.describe(),
        "warnings": warnings,
        "notes": notes,
    }


def agent_evaluation(
    settings: Settings, agent_router: Any, scenarios: int, steps: int, seed: int = 0, predictor: Any = None
) -> dict[str, Any]:
    """The trained agent against best-price and the oracle per regime: what the checkpoint records."""
    world = env.params_from_settings(settings, predictor=predictor)
    return versus_oracle(world, agent_router, scenarios, steps, seed)


def train_one(
    job: tuple[Any, ...], progress: Callable[[float], None] | None = None
) -> tuple[Params, dict[str, Any], dict[str, Any]]:
    """One agent trained with one seed. ``job``: (settings, agent, seed, predictor weights, evaluation
    seed or None, evaluation steps[, training config]); ``progress`` (in this process only): the
    training's share done. Returns its parameters (numpy), the training's metadata and, when asked for,
    its evaluation against best-price and the oracle (``agent_evaluation``, 60 scenarios)."""
    settings, agent, seed, shared, eval_seed, steps = job[:6]
    predictor = fetch(shared)
    module: Any = dqn if agent == "dqn" else ppo
    if len(job) > 6:
        params, meta = module.train(settings, job[6], seed=seed, progress=progress, predictor=predictor)
    else:
        params, meta = module.train(settings, seed=seed, progress=progress, predictor=predictor)
    evaluation = {}
    if eval_seed is not None:
        evaluation = agent_evaluation(settings, module.eval_router(params), 60, steps, eval_seed, predictor)
    return params, meta, evaluation
