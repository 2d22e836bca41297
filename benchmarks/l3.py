"""L3 benchmark: LOBSTER messages through the whole pipeline, beside hftbacktest's own L3 replay of them.

    python benchmarks/l3.py [--messages 1000000] [--seconds 540] [--seed 7] [--repeat 3] [--data DIR]
                            [--venv benchmarks/.venv-hftbacktest] [--no-hftbacktest] [--no-command] [--quick]

Data: ``--messages`` LOBSTER messages for one symbol (TEST, $0.01 tick, around $100) from a seeded
generator with a per-order book, starting empty: submits near the touch, a few inside the spread
(~42%), partial cancels (~8%) and deletes (~33%) of random resting orders, visible executions of the
best level's first order in time priority (~14%, the takers leaning to one side for stretches so prices
trend), hidden executions at the touch (~3%); spread evenly over ``--seconds`` of market time (inside
the default session's 600 s); and the level-1 orderbook file that book writes. Written to a temporary
folder, or kept in ``--data DIR`` and reused while its parameters match.

Measured in this process, best of ``--repeat``: (a) load: the market source built as a session builds
it (parse, rebuild, row-by-row book checks), messages/s; (b) engine-side: an ``Engine`` on the default
session settings (sim clock, production mode, the default imbalance strategy, whose IOC orders walk the
real levels) over the pre-built market, rewound for each run: messages/s = messages / ``engine.run()``
wall, with the quotes and prints the engine saw and its orders and fills; the same with ``--strategy
market-maker``, whose resting orders sit in the real FIFO queue (venues/l3.py). (c) The whole command
(``hft-console --no-ui --clock sim ... --data lobster:PATH``) as a subprocess, wall time, once.

hftbacktest: a virtual environment of its own (``--venv``, made on first use with ``pip install
hftbacktest==2.4.4``: it pins numpy < 2.3 and numba, which stay out of the project's environment) runs
l3_hftbacktest.py on the same message file: the messages as hftbacktest's L3 market-by-order events,
replayed with the L3 FIFO queue model and a near no-op loop in steps of the engine's batch (best of 3,
conversion and numba compile excluded). Where the environment cannot be made (no registry), that is
printed and the rest stands. ``--quick``: 100k messages over 54 s, one repeat, and hftbacktest only
where its environment already exists.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine

from hft_console.engine.engine import Engine
from hft_console.market.lobster import LobsterMarket
from hft_console.market.open import open_source
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SYMBOL, DATE = "TEST", "2024-01-02"
STEM = f"{SYMBOL}_{DATE}_34200000_57600000"
MESSAGE_FILE, BOOK_FILE = f"{STEM}_message_1.csv", f"{STEM}_orderbook_1.csv"
PARAMS_FILE = "l3_benchmark.json"  # not a LOBSTER name: the reader ignores it
TICK = 100  # $0.01 in LOBSTER's price unit (dollars x 10000)
START_S = 34_201.0  # the first message: 09:30:01 New York
ASK_EMPTY, BID_EMPTY = 9_999_999_999, -9_999_999_999
MAX_LIVE = 500  # past this many resting orders a submit becomes a delete: the book stays a day's size
HBT_VERSION = "2.4.4"
GOAL_RATE, GOAL_RATIO = 1_000_000, 2.0


# -- the data ---------------------------------------------------------------------------------------
def generate(n: int, seed: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` LOBSTER messages from an empty book: (messages (n, 6) int64 as time ns after midnight,
    type, order id, size, price, direction; orderbook (n, 4) int64 level 1 after each message)."""
    rng = np.random.default_rng(seed)
    kind = rng.random(n)
    buy = (rng.random(n) < 0.5).tolist()
    # order-flow pressure: takers lean to one side for a stretch (~2,000 messages), so prices trend and
    # the touch sizes tilt (what the default strategy's imbalance signal reads)
    lean = np.repeat(rng.choice([-0.3, 0.0, 0.3], n // 2000 + 1), 2000)[:n]
    hit_ask = (rng.random(n) < 0.5 + lean).tolist()
    off = (rng.geometric(0.2, n) - 1).tolist()  # ticks behind the touch a submit joins at
    lots = np.where(rng.random(n) < 0.8, rng.integers(1, 6, n) * 100, rng.integers(1, 400, n)).tolist()
    pick, frac = rng.random(n).tolist(), rng.random(n).tolist()
    gaps = rng.exponential(seconds / n, n)
    t_ns = (START_S * 1e9 + np.cumsum(gaps) * 1e9).astype(np.int64)
    # the mix: submit, partial cancel, delete, visible execution, hidden execution
    what = np.searchsorted(np.cumsum([0.47, 0.08, 0.28, 0.14, 0.03]), kind, side="right").tolist()
    orders: dict[int, list[int]] = {}  # id -> [side, price, shares]
    live: list[int] = []
    where: dict[int, int] = {}  # id -> its place in ``live`` (O(1) random pick and removal)
    queues: dict[tuple[int, int], deque[int]] = {}  # (side, price) -> ids in time priority (lazy removal)
    size: list[dict[int, int]] = [{}, {}]  # [bids, asks]: price -> shares
    best = [0, 0]  # best bid, best ask; 0: the side is empty
    mid0 = 1_000_000  # $100.00
    rows: list[tuple[int, int, int, int, int]] = []  # type, id, size, price, direction
    tops: list[tuple[int, int, int, int]] = []  # ask, ask size, bid, bid size
    next_id = 1

    def drop(oid: int) -> None:
        i = where.pop(oid)
        last = live.pop()
        if last != oid:
            live[i], where[last] = last, i
        del orders[oid]

    def take(side: int, price: int, shares: int) -> None:
        lv = size[side]
        lv[price] -= shares
        if lv[price] == 0:
            del lv[price]
            if best[side] == price:
                best[side] = (max(lv) if side == 0 else min(lv)) if lv else 0

    for i in range(n):
        w = what[i]
        if w == 0 and len(live) >= MAX_LIVE:
            w = 2
        if w in (1, 2) and not live:
            w = 0
        side = 1 if hit_ask[i] else 0
        if w in (3, 4) and not best[side]:
            w = 0
        if w == 0:  # submit: behind the touch, sometimes inside the spread; never crossing
            side = 0 if buy[i] else 1
            bb, ba = best
            sgn = 1 if side == 0 else -1
            ref = best[side] or (best[1 - side] + sgn * TICK if best[1 - side] else mid0 - sgn * TICK)
            price = ref - sgn * off[i] * TICK
            if bb and ba and ba - bb > TICK and pick[i] < 0.15:
                price = ref + sgn * TICK
            if side == 0 and ba:
                price = min(price, ba - TICK)
            elif side == 1 and bb:
                price = max(price, bb + TICK)
            oid, next_id = next_id, next_id + 1
            q = lots[i]
            orders[oid] = [side, price, q]
            where[oid] = len(live)
            live.append(oid)
            queues.setdefault((side, price), deque()).append(oid)
            lv = size[side]
            lv[price] = lv.get(price, 0) + q
            if not best[side] or (price > best[side] if side == 0 else price < best[side]):
                best[side] = price
            rows.append((1, oid, q, price, 1 - 2 * side))
        elif w in (1, 2):  # partial cancel or delete of a random resting order
            oid = live[int(pick[i] * len(live))]
            side, price, q = orders[oid]
            part = w == 1 and q > 1
            cut = 1 + int(frac[i] * (q - 1)) if part else q
            if part:
                orders[oid][2] -= cut
            else:
                drop(oid)
            take(side, price, cut)
            rows.append((2 if part else 3, oid, cut, price, 1 - 2 * side))
        elif w == 3:  # visible execution of the best level's first order in time priority
            price = best[side]
            queue = queues[(side, price)]
            while queue[0] not in orders:
                queue.popleft()
            oid = queue[0]
            q = orders[oid][2]
            cut = q if frac[i] < 0.6 or q == 1 else 1 + int(pick[i] * (q - 1))
            if cut == q:
                queue.popleft()
                drop(oid)
            else:
                orders[oid][2] -= cut
            take(side, price, cut)
            rows.append((4, oid, cut, price, 1 - 2 * side))
        else:  # hidden execution at the touch: the book does not change
            rows.append((5, 0, lots[i], best[side], 1 - 2 * side))
        bb, ba = best
        tops.append((ba or ASK_EMPTY, size[1][ba] if ba else 0, bb or BID_EMPTY, size[0][bb] if bb else 0))
    out = np.column_stack([t_ns, np.array(rows, dtype=np.int64)])
    return out, np.array(tops, dtype=np.int64)


def write_files(folder: Path, msgs: np.ndarray, book: np.ndarray) -> Path:
    """The message and orderbook files in ``folder``; the message file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    cols = np.column_stack([msgs[:, 0] // 1_000_000_000, msgs[:, 0] % 1_000_000_000, msgs[:, 1:]])
    path = folder / MESSAGE_FILE
    np.savetxt(path, cols, fmt="%d.%09d,%d,%d,%d,%d,%d")
    np.savetxt(folder / BOOK_FILE, book, fmt="%d", delimiter=",")
    return path


def data_for(folder: Path, n: int, seed: int, seconds: float) -> tuple[Path, float]:
    """The message file for these parameters in ``folder`` (written unless already there); seconds spent."""
    params = {"messages": n, "seed": seed, "seconds": seconds, "version": 1}
    stamp = folder / PARAMS_FILE
    path = folder / MESSAGE_FILE
    have = path.exists() and (folder / BOOK_FILE).exists() and stamp.exists()
    if have and json.loads(stamp.read_text()) == params:
        return path, 0.0
    t0 = time.perf_counter()
    msgs, book = generate(n, seed, seconds)
    write_files(folder, msgs, book)
    stamp.write_text(json.dumps(params))
    return path, time.perf_counter() - t0


# -- this project ------------------------------------------------------------------------------------
def settings_for(path: Path, strategy: str | None, batch_ms: float | None = None) -> Settings:
    """The default session settings on the simulated clock over ``path`` (what the command builds)."""
    flags: dict[str, object] = {
        "session.clock": "sim",
        "session.symbols": SYMBOL,
        "session.skip_backtest": True,
        "session.duration_s": 86_400,  # the session ends with the data
        "data.source": f"lobster:{path}",
    }
    if strategy is not None:
        flags["strategy.name"] = strategy
    if batch_ms is not None:
        flags["market.batch_ms"] = batch_ms
    return load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)


@dataclass
class EngineRun:
    wall_s: float
    quotes: int
    prints: int
    orders: int
    fills: int


def load(path: Path, repeat: int) -> tuple[LobsterMarket, float]:
    """The market source as a session opens it, and the best construction time of ``repeat``."""
    s = settings_for(path, None)
    best, market = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        market = open_source(s, s.session.seed)
        best = min(best, time.perf_counter() - t0)
    assert isinstance(market, LobsterMarket)
    return market, best


def engine_runs(
    path: Path,
    market: LobsterMarket,
    strategy: str | None,
    repeat: int,
    skip_idle: bool = True,
    batch_ms: float | None = None,
) -> EngineRun:
    """Best of ``repeat`` engine runs over the rewound market (in-memory journal, nothing on disk);
    ``skip_idle`` False: every 20 ms batch is stepped through, empty or not."""
    s = settings_for(path, strategy, batch_ms)
    best: EngineRun | None = None
    for _ in range(repeat):
        engine = Engine(s, None, market=market.rewound())
        engine.skip_idle = skip_idle
        t0 = time.perf_counter()
        engine.run()
        wall = time.perf_counter() - t0
        run = EngineRun(wall, engine.ticks, engine.trades_seen, engine.flow.orders, engine.flow.fills)
        if best is None or wall < best.wall_s:
            best = run
        stats = engine.market.data_stats  # type: ignore[attr-defined]
        assert stats["messages"] == market.n_messages, stats
    assert best is not None
    return best


def whole_command(path: Path) -> tuple[float, int, dict[str, Any]]:
    """``hft-console`` as a user runs it on ``path``: (wall s, exit code, summary.json ``data``)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "hft_console", "--no-ui", "--clock", "sim", "--skip-backtest", "--log-level",
               "quiet", "--symbols", SYMBOL, "--data", f"lobster:{path}", "--run-dir", str(run_dir)]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        summary = run_dir / "summary.json"
        data = json.loads(summary.read_text()).get("data", {}) if summary.exists() else {}
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
        return wall, done.returncode, data


# -- hftbacktest, in its own environment ---------------------------------------------------------------
def hbt_python(venv: Path) -> Path | None:
    """The venv's python with hftbacktest HBT_VERSION importable, made on first use; None (said why)
    where it cannot be made (no registry, no wheel for this Python)."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import hftbacktest, numba; assert hftbacktest.__version__ == {HBT_VERSION!r}"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"hftbacktest: making {venv} (python -m venv, pip install hftbacktest=={HBT_VERSION}) ...", flush=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    steps = {"python -m venv": [sys.executable, "-m", "venv", str(venv)],
             f"pip install hftbacktest=={HBT_VERSION}": [*pip, f"hftbacktest=={HBT_VERSION}"]}  # fmt: skip
    for what, step in steps.items():
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        except subprocess.TimeoutExpired:
            print(f"hftbacktest: skipped: {what} took over 900 s")
            return None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
            print(f"hftbacktest: skipped: {what} failed: {' | '.join(tail)}")
            return None
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        print(f"hftbacktest: skipped: installed, but hftbacktest {HBT_VERSION} and numba do not import in {venv}")
        return None
    return python


def hbt_run(python: Path, path: Path, delay_ns: int, step_ms: float, repeat: int) -> dict[str, Any] | None:
    cmd = [str(python), str(HERE / "l3_hftbacktest.py"), str(path), "--json", "--feed-delay-ns", str(delay_ns),
           "--step-ms", f"{step_ms:g}", "--repeat", str(repeat)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"hftbacktest: failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the report ----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=540.0, help="market time the messages span")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=None, help="keep the generated files here and reuse them")
    ap.add_argument("--venv", type=Path, default=HERE / ".venv-hftbacktest")
    ap.add_argument("--no-hftbacktest", action="store_true")
    ap.add_argument("--no-command", action="store_true", help="skip the whole-command run")
    ap.add_argument("--no-quiet", action="store_true", help="skip the quiet stock (a day, 20k messages)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="100k messages over 54 s, one repeat; hftbacktest only where its environment already exists",
    )
    args = ap.parse_args()
    if args.quick:
        args.messages, args.seconds, args.repeat = 100_000, 54.0, 1
    print(f"machine: {machine()}")
    tmp = None if args.data is not None else tempfile.mkdtemp(prefix="l3bench-")
    try:
        report(args, Path(tmp) if tmp is not None else args.data)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def quiet(folder: Path, seed: int) -> None:
    """A quiet stock: 20k messages over a 6.5-hour day, most 20 ms batches empty; the engine with and
    without skipping them (one run each: the same fills, a test holds it)."""
    n = 20_000
    (folder / "quiet").mkdir(parents=True, exist_ok=True)
    path, _ = data_for(folder / "quiet", n, seed, 23_400.0)
    market, _ = load(path, 1)
    runs = {skip: engine_runs(path, market, None, 1, skip_idle=skip) for skip in (False, True)}
    slow, fast = runs[False], runs[True]
    assert (slow.orders, slow.fills) == (fast.orders, fast.fills)
    print(f"quiet stock ({n:,} messages over 6.5 h, default strategy): every batch stepped {slow.wall_s:.2f} s "
          f"({n / slow.wall_s:,.0f} messages/s); empty batches skipped {fast.wall_s:.2f} s "
          f"({n / fast.wall_s:,.0f} messages/s); fills {fast.fills:,} either way")  # fmt: skip


def report(args: argparse.Namespace, folder: Path) -> None:
    path, made = data_for(folder, args.messages, args.seed, args.seconds)
    market, load_s = load(path, args.repeat)
    market.next_batch(1 << 62)
    stats = market.data_stats
    n = market.n_messages
    mix = ", ".join(f"{k} {v:,}" for k, v in stats["messages_by_type"].items())
    how = f"generated and written in {made:.1f} s" if made else f"reused from {folder}"
    print(f"data: {n:,} LOBSTER messages, {SYMBOL}, {args.seconds:g} s of market time, seed {args.seed} ({how})")
    print(f"      {mix}")
    print(f"load (parse, rebuild, book checks), best of {args.repeat}: {load_s:.2f} s, {n / load_s:,.0f} messages/s; "
          f"book_checks {stats['book_checks']:,}, book_mismatches {stats['book_mismatches']:,}")  # fmt: skip
    print(f"engine-side, best of {args.repeat} (one process, the market rewound for each run):")
    print(f"{'strategy':<26}{'wall s':>8}{'messages/s':>12}{'quotes':>10}{'prints':>10}{'orders':>8}{'fills':>8}")
    runs = {}
    cases = (("imbalance (default, IOC)", None, None), ("market-maker (resting)", "market-maker", None),
             ("imbalance, batch_ms 1000", None, 1000.0))  # fmt: skip
    for label, strategy, batch_ms in cases:
        r = runs[label] = engine_runs(path, market, strategy, args.repeat, batch_ms=batch_ms)
        print(f"{label:<26}{r.wall_s:>8.2f}{n / r.wall_s:>12,.0f}{r.quotes:>10,}{r.prints:>10,}{r.orders:>8,}"
              f"{r.fills:>8,}")  # fmt: skip
    if not args.no_command:
        wall, rc, data = whole_command(path)
        print(f"whole command (hft-console --no-ui --clock sim --skip-backtest --data lobster:...): {wall:.1f} s wall, "
              f"exit {rc}; summary data: messages {data.get('messages', 0):,}, book_checks "
              f"{data.get('book_checks', 0):,}, book_mismatches {data.get('book_mismatches', 0):,}")  # fmt: skip
    engine_rate = n / runs["imbalance (default, IOC)"].wall_s
    hbt = None
    if args.no_hftbacktest:
        print("hftbacktest: skipped (--no-hftbacktest)")
    elif args.quick and not (args.venv / "bin" / "python").exists():
        print(f"hftbacktest: skipped (--quick makes no environment; a run without --quick makes {args.venv})")
    else:
        python = hbt_python(args.venv)
        if python is not None:
            s = settings_for(path, None)
            delay_ns = int(next(v for v in s.venues if v.name == market.venues[0]).feed_delay_us * 1000)
            step_ms = s.market.batch_ms
            hbt = hbt_run(python, path, delay_ns, step_ms, max(args.repeat, 3))
        if hbt is not None:
            print(f"hftbacktest {hbt['hftbacktest']} (numba {hbt['numba']}, numpy {hbt['numpy']}; {args.venv.name}): "
                  f"{hbt['events']:,} L3 events, {hbt['steps']:,} steps of {step_ms:g} ms; book check "
                  f"{hbt['book_checks']:,} steps, {hbt['book_mismatches']:,} mismatches")  # fmt: skip
            print(f"hftbacktest L3 replay, best of {max(args.repeat, 3)}: {hbt['wall_s']:.3f} s, "
                  f"{hbt['messages_per_s']:,.0f} messages/s ({hbt['events_per_s']:,.0f} events/s)")  # fmt: skip
    met = "met" if engine_rate >= GOAL_RATE else "NOT met"
    if not args.no_quiet:
        quiet(folder, args.seed)
    print(f"goal: engine-side >= {GOAL_RATE:,} messages/s: {engine_rate:,.0f} ({met})")
    if hbt is not None:
        ratio = hbt["messages_per_s"] / engine_rate
        met = "met" if ratio <= GOAL_RATIO else "NOT met"
        print(f"goal: within {GOAL_RATIO:g}x of hftbacktest: hftbacktest is {ratio:.1f}x faster ({met})")


if __name__ == "__main__":
    main()
