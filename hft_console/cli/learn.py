"""``hft-console evaluate`` and ``hft-console train``: the learned routers' training and their
comparison with every other router in the JAX environment.

The training and evaluation modules (``hft_console.learn``) import JAX, which takes seconds: they are
imported inside the two commands, so the other commands and ``--help`` start without it.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.cli.args import (
    COMPUTE_KEYS,
    Parser,
    UsageError,
    add_compute_flags,
    count,
    fail,
    settings_from,
    write_json_report,
)
from hft_console.compute.executor import Executor, ExecutorError, JobFailure, open_executor
from hft_console.routing.models import checkpoint
from hft_console.routing.models.layout import OBS_VERSION, obs_dim
from hft_console.settings import MODES, Settings, SettingsError

EVAL_STEPS = 200
# scenarios per regime: compiling each router dominates the wall time (200 took 240 s, 60 took 200-295 s
# on this 2-core VM), and the paired tests need them: with BH across ~40 comparisons, a learned router's
# edge of hundredths of a bp over the best fixed rule was significant at 200 where 60 left it at p 0.13
EVAL_SCENARIOS = 200
KEYS = {"session.mode": "mode", "session.seed": "seed", **COMPUTE_KEYS}  # settings key -> the argument that sets it


def _parser(prog: str, description: str) -> Parser:
    p = Parser(prog=prog, description=description)
    p.add_argument("--mode", choices=MODES, help="trading mode; picks config/<mode>.toml")
    p.add_argument("--config", metavar="PATH", help="config file, e.g. your own venue set (default: the mode's)")
    add_compute_flags(p)
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default: the session seed)")
    return p


def _bar(enabled: bool) -> Any:
    """``advance(name, done, total)`` for ``runs.evaluate``: a transient progress bar on a terminal."""
    if not (enabled and sys.stderr.isatty()):
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(TextColumn("evaluate {task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=Console(stderr=True), transient=True)  # fmt: skip
    task = progress.add_task("", total=None)
    progress.start()

    def advance(name: str, done: int, total: int) -> None:
        progress.update(task, completed=done, total=total, description=name)
        if done >= total:
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
    """``hft-console evaluate ARGV``; returns the exit status (2: bad input or an unwritable --json or --html)."""
    p = _parser("hft-console evaluate", "Compare every router, the oracle included, on calm, congested and degraded.")
    help_n = f"scenarios per regime (default: {EVAL_SCENARIOS})"
    p.add_argument("--scenarios", type=count, default=EVAL_SCENARIOS, metavar="N", help=help_n)
    p.add_argument("--steps", type=count, default=EVAL_STEPS, metavar="N", help="decisions per scenario")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON here")
    p.add_argument("--html", metavar="PATH", help="also write the report as one self-contained HTML page with plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no tables")
    try:
        args = p.parse_args(argv)
        settings = settings_from(args, KEYS)
    except (UsageError, SettingsError) as exc:
        return fail(exc, "evaluate")
    from hft_console.learn import runs  # imports JAX: only evaluate and train need it

    try:
        with executor(settings) as ex:
            seed = settings.session.seed
            report = runs.evaluate(settings, args.scenarios, args.steps, seed, ex, _bar(not args.quiet))
    except ExecutorError as exc:
        return fail(exc, "evaluate")
    except KeyboardInterrupt:
        print("hft-console evaluate: interrupted; no report written", file=sys.stderr)
        return 130
    if not args.quiet:
        print_evaluation(report)
    written = write_json_report(Path(args.json), report, "evaluate") if args.json else 0
    if args.html:
        from hft_console.cli.html_report import evaluation_html, write_html_report  # imports matplotlib

        page = evaluation_html(report, shlex.join(["hft-console", "evaluate", *argv]))
        written = write_html_report(Path(args.html), page, "evaluate") or written
    return written


def executor(settings: Settings) -> Executor:
    """Where ``evaluate``'s routers and ``train``'s seeds run: this process (``local``: as a user who never
    asks gets it), or Ray's workers (a local instance sized to the machine, or the cluster named)."""
    c = settings.compute
    return open_executor(c.executor, 1 if c.executor == "local" else 0, c.address)


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
    p.add_argument(
        "--sweep", action="store_true",
        help="instead of training: search DQN's hyperparameters with Ray Tune (ASHA stops poor trials early) and "
        "write the best configuration beside the checkpoint, as dqn.sweep.json (needs Ray)",
    )  # fmt: skip
    p.add_argument("--trials", type=count, default=8, metavar="N", help="configurations the sweep tries (default: 8)")
    try:
        args = p.parse_args(argv)
        settings = settings_from(args, KEYS)
    except (UsageError, SettingsError) as exc:
        return fail(exc, "train")
    out = Path(args.out) if args.out else checkpoint.trained_dir()
    if args.sweep:
        return _sweep(settings, args.trials, out)
    agents = ("latency", "dqn", "ppo") if args.agent == "all" else (args.agent,)
    if agents[0] != "latency" and not _forecaster_beside(out):
        return 2
    try:
        with executor(settings) as ex:
            return _train_all(ex, settings, args.seeds, agents, out)
    except ExecutorError as exc:
        return fail(exc, "train")
    except KeyboardInterrupt:
        print("hft-console train: interrupted; the seeds saved so far are kept", file=sys.stderr)
        return 130


def _train_all(ex: Executor, settings: Settings, seeds: int, agents: tuple[str, ...], out: Path) -> int:
    """Each model of ``agents`` in order, each agent's ``seeds`` seeds on ``ex``; saved to ``out``."""
    from hft_console.learn import latency_train  # imports JAX: only evaluate and train need it
    from hft_console.routing.models import latency  # imports JAX: only evaluate and train need it
    from hft_console.routing.models.agents import seed_name, seed_names  # imports JAX: as above

    venues = [v.name for v in settings.venues]
    seed = settings.session.seed
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
        for stale in seed_names(out, agent) if out.is_dir() else []:  # an earlier training's extra seeds
            for suffix in (".msgpack", ".json"):
                (out / (stale + suffix)).unlink(missing_ok=True)
        trained = _train_seeds(ex, settings, agent, seed, seeds, predictor)
        for k, result in enumerate(trained):
            name = agent if k == 0 else seed_name(agent, seed + k)
            if isinstance(result, JobFailure):
                return fail(f"{name}: training failed: {result.error}", "train", 1)
            params, meta, evaluation = result
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


def _sweep(settings: Settings, trials: int, out: Path) -> int:
    """``train --sweep``: ``learn/sweep.py``'s search, its best configuration printed and written."""
    from hft_console.learn import sweep  # imports JAX (and, when it runs, Ray Tune): only train needs it
    from hft_console.routing.models import latency  # imports JAX: only evaluate and train need it

    if not _forecaster_beside(out):
        return 2
    try:
        result = sweep.run_sweep(settings, trials, settings.session.seed, latency.shared_weights(out), out,
                                 settings.compute.address)  # fmt: skip
    except ExecutorError as exc:
        return fail(exc, "train")
    except OSError as exc:
        return fail(f"--out: cannot write {str(out)!r}: {exc.strerror}", "train")
    except KeyboardInterrupt:
        print("hft-console train: sweep interrupted; nothing written", file=sys.stderr)
        return 130
    stopped = sum(t["stopped_early"] for t in result["trials"])
    print(
        f"sweep: {len(result['trials'])} trials, {stopped} stopped early by ASHA; written to {out / 'dqn.sweep.json'}"
    )
    if result["best"] is None:
        return fail("sweep: no trial finished", "train", 1)
    chosen = {k: result["best"][k] for k in sweep.SPACE}
    print(f"best: {chosen} · mean regret {result['best_regret_bps']:.4f} bps against the oracle")
    return 0


def _train_seeds(ex: Executor, settings: Settings, agent: str, seed: int, seeds: int, predictor: Any) -> list[Any]:
    """``(params, meta, evaluation)`` for seeds ``seed .. seed + seeds - 1`` (the first evaluated against
    best-price and the oracle, as its checkpoint records), or a ``JobFailure``: ``runs.train_one`` for
    each, in this process one after another with a progress bar, on Ray every seed at once as a task."""
    import jax  # imports JAX: only evaluate and train need it

    from hft_console.learn import runs  # imports JAX: only evaluate and train need it

    def job(k: int, weights: Any) -> tuple[Any, ...]:
        return (settings, agent, seed + k, weights, seed if k == 0 else None, EVAL_STEPS)

    if ex.kind == "local":
        trained: list[Any] = []
        for k in range(seeds):
            with _train_progress(agent if k == 0 else f"{agent} seed {seed + k}") as advance:
                trained.append(runs.train_one(job(k, predictor), advance))
        return trained
    # the forecaster's weights, as numpy, once in the object store: a remote node has no models directory
    shipped = ex.share(jax.tree.map(np.asarray, predictor))
    print(f"{agent}: training {seeds} seed(s) on {ex.kind} ({ex.describe()['cpus']} CPUs)")
    return ex.run(runs.train_one, [job(k, shipped) for k in range(seeds)])


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
