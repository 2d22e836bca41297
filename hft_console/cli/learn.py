"""``hft-console evaluate`` and ``hft-console train``: the learned routers' training and their
comparison with every other router in the JAX environment.

The training and evaluation modules (``hft_console.learn``) import JAX, which takes seconds: they are
imported inside the two commands, so the other commands and ``--help`` start without it.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.cli.args import Parser, UsageError, count, fail, settings_from, write_json_report
from hft_console.routing.bandits import BANDIT_NAMES, DEFAULT_CONFIG, same_as
from hft_console.routing.dark_router import NAME as DARK_KM
from hft_console.routing.models import checkpoint
from hft_console.routing.models.layout import OBS_VERSION, obs_dim
from hft_console.routing.registry import BASELINE_NAMES
from hft_console.settings import MODES, Settings, SettingsError
from hft_console.venues.regimes import REGIMES

EVAL_STEPS = 200
# scenarios per regime: compiling each router dominates the wall time (200 took 240 s, 60 took 200-295 s
# on this 2-core VM), and the paired tests need them: with BH across ~40 comparisons, a learned router's
# edge of hundredths of a bp over the best fixed rule was significant at 200 where 60 left it at p 0.13
EVAL_SCENARIOS = 200
KEYS = {"session.mode": "mode", "session.seed": "seed"}  # settings key -> the argument that sets it


def _parser(prog: str, description: str) -> Parser:
    p = Parser(prog=prog, description=description)
    p.add_argument("--mode", choices=MODES, help="trading mode; picks config/<mode>.toml")
    p.add_argument("--config", metavar="PATH", help="config file, e.g. your own venue set (default: the mode's)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default: the session seed)")
    return p


def eval_routers(settings: Settings, steps: int = EVAL_STEPS) -> tuple[dict[str, Any], list[str], list[str]]:
    """Every router the evaluation compares, as environment routers; warnings for those missing, and
    notes for those left out because over ``steps`` decisions they would decide exactly as another."""

    from hft_console.learn import dqn, ppo  # imports JAX: only evaluate and train need it
    from hft_console.learn.evaluate import (  # imports JAX: as above
        POST_RULES,
        SeedSet,
        bandit_router,
        baseline,
        dark_km_router,
    )
    from hft_console.routing.models.agents import load_agent, same_shapes, seed_names, stack  # imports JAX: as above
    from hft_console.routing.models.dqn import q_values_np  # imports JAX: only evaluate and train need it
    from hft_console.routing.models.ppo import logits_np  # imports JAX: only evaluate and train need it

    routers: dict[str, Any] = {name: baseline(name) for name in (*BASELINE_NAMES, *POST_RULES)}
    venues = [v.name for v in settings.venues]
    notes: list[str] = []
    for name in BANDIT_NAMES:
        twin = same_as(name, steps)
        if twin is None:
            routers[name] = bandit_router(name, len(venues))
        else:
            window = DEFAULT_CONFIG.window
            notes.append(
                f"{name} not evaluated: a scenario of {steps} decisions never fills its {window}-update window, "
                f"so it would decide exactly as {twin} (--steps {window + 1} or more compares them)"
            )
    routers[DARK_KM] = dark_km_router(np.array([v.kind == "dark" for v in settings.venues]))
    warnings: list[str] = []
    directory = checkpoint.models_dir()
    for agent in ("dqn", "ppo"):
        forward = q_values_np if agent == "dqn" else logits_np
        make = dqn.eval_router if agent == "dqn" else ppo.eval_router
        found: list[tuple[int, Any]] = []
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
            found.append((int(meta.get("seed", -1)), params))
        if len(found) == 1:
            routers[agent] = make(found[0][1])
        elif found:
            routers[agent] = SeedSet(make, stack([p for _, p in found]), [s for s, _ in found])
    routers["oracle"] = baseline("oracle")
    return routers, warnings, notes


def evaluate(settings: Settings, scenarios: int, steps: int, seed: int, progress: bool) -> dict[str, Any]:
    """Every router (``eval_routers``) over ``scenarios`` worlds of ``steps`` decisions per regime, the
    same worlds for all; the report ``print_evaluation`` prints (costs in bps, regret against the oracle)."""
    from hft_console.learn import env  # imports JAX: only evaluate and train need it
    from hft_console.learn.evaluate import (  # imports JAX: as above
        SeedSet,
        bandit_router,
        make_rollout,
        make_seed_rollout,
        make_switch_rollout,
        pool_seeds,
        regime_worlds,
        regret_after_switch,
        seed_spread,
        summarise,
        switch_worlds,
    )  # fmt: skip
    from hft_console.learn.significance import significance  # imports SciPy: only evaluate needs it
    from hft_console.routing.models.agents import agent_seed  # imports JAX: as above

    routers, warnings, notes = eval_routers(settings, steps)
    base = env.params_from_settings(settings)
    worlds = regime_worlds(base, scenarios, seed)
    before, after, switch_keys, switch_start = switch_worlds(base, scenarios, seed)
    switch_steps = SWITCH_STEPS_PER_STEP * steps
    switch_at = switch_steps // 2
    switched: dict[str, Any] = {}
    # the switch family's scenarios are long enough for every bandit to differ, ucb-window included
    switch_routers = dict(routers)
    for name in BANDIT_NAMES:
        if name not in switch_routers and same_as(name, switch_steps) is None:
            switch_routers[name] = bandit_router(name, len(settings.venues))
    results: dict[str, dict[str, Any]] = {r: {} for r in REGIMES}
    rollouts: dict[str, dict[str, Any]] = {r: {} for r in REGIMES}
    started = time.perf_counter()
    bar = _bar(len(routers), progress)
    seeds: dict[str, dict[str, Any]] = {r: {} for r in REGIMES}  # learned agents: their seeds' spread
    for name, router in routers.items():
        if isinstance(router, SeedSet):  # every training seed on the same worlds; a scenario's cost is their mean
            run = make_seed_rollout(router, steps)
            for regime, (params, keys, start) in worlds.items():
                r = run(params, keys, start)
                seeds[regime][name] = {"seeds": router.seeds, "cost_bps_seed_sd": round(seed_spread(r), 4)}
                rollouts[regime][name] = pool_seeds(r)
            sw = make_seed_rollout(router, switch_steps, switch_at)(before, after, switch_keys, switch_start)
            switched[name] = sw._replace(cost_bps=sw.cost_bps.mean(axis=0))  # regret per decision, seeds' mean
        else:
            run = make_rollout(router, steps)
            for regime, (params, keys, start) in worlds.items():
                rollouts[regime][name] = run(params, keys, start)
                if name in ("dqn", "ppo"):
                    seeds[regime][name] = {
                        "seeds": [agent_seed(checkpoint.models_dir(), name)],
                        "cost_bps_seed_sd": None,
                    }
            switch_run = make_switch_rollout(router, switch_steps, switch_at)
            switched[name] = switch_run(before, after, switch_keys, switch_start)
        bar(name)
    for name, router in switch_routers.items():
        if name not in switched:
            switched[name] = make_switch_rollout(router, switch_steps, switch_at)(
                before, after, switch_keys, switch_start
            )
    for regime in REGIMES:
        oracle = rollouts[regime]["oracle"]
        for name, r in rollouts[regime].items():
            results[regime][name] = {**summarise(r, oracle), **seeds[regime].get(name, {})}
    per_scenario = {
        regime: {name: np.asarray(r.cost_bps, dtype=np.float64).mean(axis=1) for name, r in rolled.items()}
        for regime, rolled in rollouts.items()
    }
    tested = significance(per_scenario, seed)
    for regime, rows in tested["rows"].items():
        for name, figures in rows.items():
            results[regime][name].update(figures)
    edge = {
        regime: round(results[regime]["best-price"]["cost_bps"] - results[regime]["oracle"]["cost_bps"], 4)
        for regime in REGIMES
    }
    return {
        "regimes": results,
        "oracle_edge_bps": edge,
        "best_fixed": tested["best_fixed"],
        "switch": {
            "venue": settings.venues[int(np.argmin(np.asarray(base.taker_fee)))].name,
            "steps": switch_steps,
            "switch_at": switch_at,
            "routers": {name: regret_after_switch(r, switched["oracle"], switch_at) for name, r in switched.items()},
        },
        "scenarios": scenarios,
        "steps": steps,
        "seed": seed,
        "venues": [v.name for v in settings.venues],
        "wall_s": round(time.perf_counter() - started, 2),
        "warnings": warnings,
        "notes": notes,
    }


SWITCH_STEPS_PER_STEP = 4  # the switch family's scenarios: 4x the regimes' decisions, the switch halfway
# (800 with the default 200: long enough for ucb-window's 200-update window to matter on both sides)


def _bar(total: int, enabled: bool) -> Any:
    if not (enabled and sys.stderr.isatty()):
        return lambda name: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(TextColumn("evaluate {task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=Console(stderr=True), transient=True)  # fmt: skip
    task = progress.add_task("", total=total)
    progress.start()
    done = {"n": 0}

    def advance(name: str) -> None:
        done["n"] += 1
        progress.update(task, advance=1, description=name)
        if done["n"] >= total:
            progress.stop()

    return advance


def print_evaluation(report: dict[str, Any], console: Any = None) -> None:
    """A table per regime, cheapest first; it fits 80 columns with nothing cut (a figure folds, never "…")."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(
        f"[bold]evaluate[/] {report['scenarios']} scenarios x {report['steps']} decisions per regime, the same for "
        f"every router · venues {', '.join(report['venues'])} · {report['wall_s']:.1f} s"
    )
    for regime, table in report["regimes"].items():
        fixed = report.get("best_fixed", {}).get(regime, "")
        t = Table(
            title=f"{regime}: the oracle beats best-price by {report['oracle_edge_bps'][regime]:.3f} bps",
            title_justify="left",
            caption=f"p: one-sided paired Wilcoxon against {fixed}, the best fixed rule here, BH-adjusted",
            caption_justify="left",
        )
        t.add_column("router", overflow="fold")
        for col in ("cost\nbps", "± 95%", "fill\nrate", "posted", "regret\nbps", "p vs\nfixed"):
            t.add_column(col, justify="right", overflow="fold")  # narrow headers, whole figures
        for name, row in sorted(table.items(), key=lambda kv: kv[1]["cost_bps"]):
            p = row.get("p_vs_best_fixed")
            t.add_row(
                name, f"{row['cost_bps']:.4f}", f"{row['cost_bps_ci95']:.4f}", f"{row['fill_rate']:.1%}",
                f"{row['post_share']:.0%}", f"{row['regret_bps']:+.4f}",
                "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}"),
            )  # fmt: skip
        console.print(t)
    switch = report.get("switch")
    if switch:
        t = Table(
            title=f"switch: {switch['venue']} degrades at decision {switch['switch_at']} of {switch['steps']}",
            title_justify="left",
            caption="regret per decision against the oracle, bps; rise = after - before, paired by scenario",
            caption_justify="left",
        )
        t.add_column("router", overflow="fold")
        for col in ("regret\nbefore", "regret\nafter", "± 95%", "rise"):
            t.add_column(col, justify="right", overflow="fold")
        for name, row in sorted(switch["routers"].items(), key=lambda kv: kv[1]["regret_after_bps"]):
            t.add_row(name, f"{row['regret_before_bps']:+.4f}", f"{row['regret_after_bps']:+.4f}",
                      f"{row['regret_after_bps_ci95']:.4f}", f"{row['regret_rise_bps']:+.4f}")  # fmt: skip
        console.print(t)
    for note in report.get("notes", []):
        console.print(f"note: {note}")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def evaluate_main(argv: list[str]) -> int:
    """``hft-console evaluate ARGV``; returns the exit status (2: bad input or an unwritable --json)."""
    p = _parser("hft-console evaluate", "Compare every router, the oracle included, on calm, congested and degraded.")
    help_n = f"scenarios per regime (default: {EVAL_SCENARIOS})"
    p.add_argument("--scenarios", type=count, default=EVAL_SCENARIOS, metavar="N", help=help_n)
    p.add_argument("--steps", type=count, default=EVAL_STEPS, metavar="N", help="decisions per scenario")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no tables")
    try:
        args = p.parse_args(argv)
        settings = settings_from(args, KEYS)
    except (UsageError, SettingsError) as exc:
        return fail(exc, "evaluate")
    seed = settings.session.seed
    report = evaluate(settings, args.scenarios, args.steps, seed, not args.quiet)
    if not args.quiet:
        print_evaluation(report)
    if args.json:
        return write_json_report(Path(args.json), report, "evaluate")
    return 0


def agent_evaluation(
    settings: Settings, agent_router: Any, scenarios: int = 60, seed: int = 0, predictor: Any = None
) -> dict[str, Any]:
    """The trained agent against best-price and the oracle per regime: what the checkpoint records."""
    from hft_console.learn import env  # imports JAX: only evaluate and train need it
    from hft_console.learn.evaluate import versus_oracle  # imports JAX: only evaluate and train need it

    world = env.params_from_settings(settings, predictor=predictor)
    return versus_oracle(world, agent_router, scenarios, EVAL_STEPS, seed)


def train_main(argv: list[str]) -> int:
    """``hft-console train ARGV``: train, evaluate and save each model asked for, the latency forecaster
    first (the agents observe its forecasts). Exit status: 0, or 2 for bad input or an unwritable --out."""
    p = _parser("hft-console train", "Train the DQN and PPO routers on the JAX environment, under jit; save them.")
    p.add_argument(
        "--agent", choices=("latency", "dqn", "ppo", "all"), default="all",
        help="which model: the latency forecaster, an agent, or all three in that order (default: all)",
    )  # fmt: skip
    p.add_argument(
        "--seeds", type=count, default=1, metavar="N",
        help="train each agent with N seeds (--seed, --seed + 1, ...): the first is the one sessions run, "
        "evaluate reports the mean over all of them and their spread (default: 1)",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="DIR",
        help="where checkpoints go (default: $HFT_MODELS_DIR, else $XDG_DATA_HOME/hft-console/models, i.e. "
        "~/.local/share/hft-console/models; the shipped ones are never overwritten unless --out names them)",
    )  # fmt: skip
    try:
        args = p.parse_args(argv)
        settings = settings_from(args, KEYS)
    except (UsageError, SettingsError) as exc:
        return fail(exc, "train")
    from hft_console.learn import dqn, latency_train, ppo  # imports JAX: only evaluate and train need it
    from hft_console.routing.models import latency  # imports JAX: only evaluate and train need it
    from hft_console.routing.models.agents import seed_name, seed_names  # imports JAX: as above

    out = Path(args.out) if args.out else checkpoint.trained_dir()
    venues = [v.name for v in settings.venues]
    seed = settings.session.seed
    agents = ("latency", "dqn", "ppo") if args.agent == "all" else (args.agent,)
    if agents[0] != "latency" and not _forecaster_beside(out):
        return 2
    for agent in agents:
        stamp = {"venues": venues, "mode": settings.session.mode, "seed": seed,
                 "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        if agent == "latency":
            with _train_progress(agent) as advance:
                params, meta = latency_train.pretrain(settings, seed=seed, progress=advance)
            if (path := _save(out, agent, params, {**meta, **stamp})) is None:
                return 2
            print(f"latency: saved {path} · {meta['examples']:,} answers · {_forecast_errors(meta['evaluation'])}")
            continue
        predictor = latency.shared_weights(out)  # the forecaster the agent will run beside
        module = dqn if agent == "dqn" else ppo
        for stale in seed_names(out, agent) if out.is_dir() else []:  # an earlier training's extra seeds
            for suffix in (".msgpack", ".json"):
                (out / (stale + suffix)).unlink(missing_ok=True)
        for k in range(args.seeds):
            name = agent if k == 0 else seed_name(agent, seed + k)
            with _train_progress(name) as advance:
                params, meta = module.train(settings, seed=seed + k, progress=advance, predictor=predictor)
            # the extra seeds are evaluated together by ``hft-console evaluate``; each checkpoint of the
            # first seed records its own evaluation
            evaluation = (
                agent_evaluation(settings, module.eval_router(params), seed=seed, predictor=predictor) if k == 0 else {}
            )
            meta = {**meta, **stamp, "seed": seed + k, "obs_dim": obs_dim(len(venues)), "evaluation": evaluation}
            if (path := _save(out, name, params, meta)) is None:
                return 2
            captured = ", ".join(
                f"{r} {v['cost_bps']:.4f} bps (best-price {v['best_price_cost_bps']:.4f}, "
                f"oracle {v['oracle_cost_bps']:.4f})"
                for r, v in evaluation.items()
            )
            print(
                f"{name}: saved {path} · {meta.get('env_steps', 0):,} env steps"
                + (f" · {captured}" if captured else "")
            )
    if out.resolve() != checkpoint.models_dir().resolve():
        print(f"sessions, backtests and evaluate load these with: HFT_MODELS_DIR={out} hft-console ...")
    return 0


def _forecaster_beside(out: Path) -> bool:
    """An agent trains beside the latency forecaster in ``out``. Into a directory without one, the one
    sessions load now (the shipped one, or ``HFT_MODELS_DIR``'s) is copied first, so the agent is
    trained as before and the directory is whole: ``load`` refuses an agent beside another forecaster."""
    source = checkpoint.models_dir()
    if (out / "latency.msgpack").is_file() or not (source / "latency.msgpack").is_file():
        return True
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("latency.json", "latency.msgpack"):
            shutil.copyfile(source / name, out / name)
    except OSError as exc:
        fail(f"--out: cannot write {str(out)!r}: {exc.strerror}", "train")
        return False
    print(f"latency: copied {source / 'latency.msgpack'} to {out} (the forecaster the agent trains beside)")
    return True


def _save(out: Path, agent: str, params: Any, meta: dict[str, Any]) -> Path | None:
    try:
        return checkpoint.save(out, agent, params, meta, OBS_VERSION)
    except OSError as exc:
        fail(f"--out: cannot write {str(out)!r}: {exc.strerror}", "train")
        return None


def _forecast_errors(report: dict[str, Any]) -> str:
    """Mean absolute error per regime, forecaster against the EWMA, in µs."""
    return ", ".join(
        f"{regime} MAE {r['forecaster']['mae_us']:.0f} µs (EWMA {r['ewma']['mae_us']:.0f})"
        for regime, r in report.items()
    )


class _train_progress:
    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.progress: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn(f"train {self.agent}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TimeElapsedColumn(), console=Console(stderr=True))  # fmt: skip
        task = self.progress.add_task("", total=1.0)
        self.progress.start()
        return lambda fraction: self.progress.update(task, completed=fraction)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
