"""hftbacktest's own L3 replay of a LOBSTER message file: the reference figure for benchmarks/l3.py.

    benchmarks/.venv-hftbacktest/bin/python benchmarks/l3_hftbacktest.py MESSAGE_FILE
        [--feed-delay-ns 0] [--step-ms 20] [--repeat 3] [--json]

Runs only in the virtual environment l3.py makes (hftbacktest 2.4.4, its numpy < 2.3 and numba); it
imports nothing from the project. The LOBSTER messages become hftbacktest's L3 market-by-order events
(the convention of its Databento converter, each flagged EXCH_EVENT | LOCAL_EVENT, local time = exchange
time + ``--feed-delay-ns``):

- submit -> ADD_ORDER_EVENT (BUY_EVENT for a bid, SELL_EVENT for an ask) at the price and size;
- partial cancel -> MODIFY_ORDER_EVENT to the order's remaining size; delete -> CANCEL_ORDER_EVENT;
- visible execution -> FILL_EVENT (the resting order's side, the shares executed: what moves queue
  positions in its L3 FIFO model), then MODIFY_ORDER_EVENT to what remains or CANCEL_ORDER_EVENT when
  nothing does (its fills leave the book to the next message);
- hidden execution -> TRADE_EVENT flagged with the taker's side (the opposite of the resting order's);
  a cross trade -> TRADE_EVENT with no side; a trading halt has no event.

Replay: ``ROIVectorMarketDepthBacktest`` with ``l3_fifo_queue_model()`` (and its only L3 exchange, no
partial fills), elapsed in steps of ``--step-ms`` (the engine's batch) by a numba loop that reads the best
bid each step and sends no order. One untimed run compiles the loop and checks the rebuilt book against
the orderbook file (level 1) at every step; then the best of ``--repeat`` timed runs, each on a fresh
backtest (its construction not timed). Prints messages/s and events/s; with ``--json``, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from hftbacktest import (  # type: ignore[import-not-found]
    ADD_ORDER_EVENT,
    BUY_EVENT,
    CANCEL_ORDER_EVENT,
    EXCH_EVENT,
    FILL_EVENT,
    LOCAL_EVENT,
    MODIFY_ORDER_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    ROIVectorMarketDepthBacktest,
    event_dtype,
)
from hftbacktest import __version__ as hbt_version
from numba import __version__ as numba_version  # type: ignore[import-not-found]
from numba import njit

PRICE_UNIT = 10_000  # LOBSTER prices are dollars x 10000
ASK_EMPTY, BID_EMPTY = 9_999_999_999, -9_999_999_999


def to_events(msgs: np.ndarray, delay_ns: int) -> np.ndarray:
    """LOBSTER messages (n, 6: time s, type, id, size, price, direction) as hftbacktest L3 events."""
    t_ns = np.rint(msgs[:, 0] * 1e9).astype(np.int64)
    typ, oid = msgs[:, 1].astype(np.int64), msgs[:, 2].astype(np.int64)
    size, price, d = msgs[:, 3].astype(np.int64), msgs[:, 4].astype(np.int64), msgs[:, 5].astype(np.int64)
    # each order's shares left after each of its messages: a running sum per order id
    delta = np.where(typ == 1, size, np.where(np.isin(typ, (2, 3, 4)), -size, 0))
    by_id = np.argsort(oid, kind="stable")
    cs = np.cumsum(delta[by_id])
    first = np.r_[True, oid[by_id][1:] != oid[by_id][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(oid.size), 0))
    left = np.empty_like(cs)
    left[by_id] = cs - np.r_[0, cs][start]
    per = np.where(typ == 4, 2, np.where(typ == 7, 0, 1))
    src = np.repeat(np.arange(typ.size), per)
    second = np.r_[False, src[1:] == src[:-1]]  # the book change after a visible execution's fill
    t, o, s, p, dd, lf = typ[src], oid[src], size[src], price[src], d[src], left[src]
    book_side = np.where(dd > 0, BUY_EVENT, SELL_EVENT)
    taker_side = np.where(dd > 0, SELL_EVENT, BUY_EVENT)
    kind = np.select(
        [t == 1, t == 2, t == 3, (t == 4) & ~second, (t == 4) & second & (lf > 0), t == 4, t == 5],
        [ADD_ORDER_EVENT | book_side, MODIFY_ORDER_EVENT | book_side, CANCEL_ORDER_EVENT | book_side,
         FILL_EVENT | book_side, MODIFY_ORDER_EVENT | book_side, CANCEL_ORDER_EVENT | book_side,
         TRADE_EVENT | taker_side],
        TRADE_EVENT,
    )  # fmt: skip
    qty = np.where((t == 2) | ((t == 4) & second), lf, s)
    ev = np.zeros(src.size, dtype=event_dtype)
    ev["ev"] = kind.astype(np.uint64) | EXCH_EVENT | LOCAL_EVENT
    ev["exch_ts"] = t_ns[src]
    ev["local_ts"] = t_ns[src] + delay_ns
    ev["px"] = p / PRICE_UNIT
    ev["qty"] = qty
    ev["order_id"] = o.astype(np.uint64)
    return ev


def replay(hbt: Any, step_ns: int) -> int:
    """Elapse to the end of the data; a near no-op strategy reads the best bid each step."""
    n = 0
    bid = 0
    while hbt.elapse(step_ns) == 0:
        bid += hbt.depth(0).best_bid_tick
        n += 1
    return n + bid * 0


def replay_checked(hbt: Any, step_ns: int, ts: np.ndarray, top: np.ndarray) -> int:
    """``replay`` that writes the time and (ask, ask size, bid, bid size) in ticks after each step."""
    n = 0
    while hbt.elapse(step_ns) == 0 and n < ts.size:
        depth = hbt.depth(0)
        ts[n] = hbt.current_timestamp
        ask, bid = depth.best_ask_tick, depth.best_bid_tick
        # 2.4.4's ROIVectorMarketDepth.best_*_qty return the price (binding.py): ask the level instead
        top[n, 0], top[n, 1] = ask, depth.ask_qty_at_tick(ask)
        top[n, 2], top[n, 3] = bid, depth.bid_qty_at_tick(bid)
        n += 1
    return n


def backtest(ev: np.ndarray) -> Any:
    px = ev["px"][ev["px"] > 0]
    asset = (
        BacktestAsset()
        .data([ev])
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .l3_fifo_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(0.01)
        .lot_size(1.0)
        .roi_lb(float(px.min()) - 1.0)
        .roi_ub(float(px.max()) + 1.0)
        .last_trades_capacity(0)
    )
    return ROIVectorMarketDepthBacktest([asset])


def check(book_path: Path, msg_local_ns: np.ndarray, ts: np.ndarray, top: np.ndarray) -> tuple[int, int]:
    """(steps checked, steps where hftbacktest's level 1 differs from the orderbook file's row of the
    last message it had seen)."""
    book = np.loadtxt(book_path, delimiter=",", dtype=np.int64, ndmin=2)[:, :4]
    row = np.searchsorted(msg_local_ns, ts, side="right") - 1
    ok = row >= 0
    want = book[row[ok]]
    got = top[ok]
    ask_empty, bid_empty = want[:, 0] == ASK_EMPTY, want[:, 2] == BID_EMPTY
    unit = PRICE_UNIT // 100  # LOBSTER units per $0.01 tick
    bad = np.where(ask_empty, got[:, 1] != 0, (got[:, 0] != want[:, 0] // unit) | (got[:, 1] != want[:, 1]))
    bad |= np.where(bid_empty, got[:, 3] != 0, (got[:, 2] != want[:, 2] // unit) | (got[:, 3] != want[:, 3]))
    return int(ok.sum()), int(bad.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("message_file", type=Path)
    ap.add_argument("--feed-delay-ns", type=int, default=0)
    ap.add_argument("--step-ms", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON line only")
    args = ap.parse_args()
    msgs = np.loadtxt(args.message_file, delimiter=",", dtype=np.float64, ndmin=2)
    t0 = time.perf_counter()
    ev = to_events(msgs, args.feed_delay_ns)
    converted = time.perf_counter() - t0
    step_ns = int(args.step_ms * 1e6)
    ts = np.zeros(int((ev["local_ts"][-1] - ev["local_ts"][0]) // step_ns) + 4, dtype=np.int64)
    top = np.zeros((ts.size, 4), dtype=np.float64)
    t0 = time.perf_counter()
    steps = njit(replay_checked)(backtest(ev), step_ns, ts, top)
    first = time.perf_counter() - t0
    book_path = args.message_file.with_name(args.message_file.name.replace("_message_", "_orderbook_"))
    msg_local = np.rint(msgs[msgs[:, 1] != 7, 0] * 1e9).astype(np.int64) + args.feed_delay_ns
    checks, mismatches = check(book_path, msg_local, ts[:steps], top[:steps]) if book_path.exists() else (0, 0)
    timed = njit(replay)
    timed(backtest(ev[:1000]), step_ns)  # compile
    best = None
    for _ in range(args.repeat):
        hbt = backtest(ev)
        t0 = time.perf_counter()
        timed(hbt, step_ns)
        wall = time.perf_counter() - t0
        hbt.close()
        best = wall if best is None else min(best, wall)
    assert best is not None
    out = {
        "hftbacktest": hbt_version, "numba": numba_version, "numpy": np.__version__, "messages": len(msgs),
        "events": int(ev.size), "steps": int(steps), "convert_s": converted, "first_run_s": first,
        "wall_s": best, "messages_per_s": len(msgs) / best, "events_per_s": ev.size / best,
        "book_checks": checks, "book_mismatches": mismatches,
    }  # fmt: skip
    if args.json:
        print(json.dumps(out))
        return
    print(f"hftbacktest {hbt_version} (numba {numba_version}, numpy {np.__version__})")
    print(f"{out['messages']:,} messages -> {out['events']:,} L3 events (converted in {converted:.2f} s)")
    print(f"book check: {checks:,} steps, {mismatches:,} mismatches")
    print(f"replay: {best:.3f} s, {out['messages_per_s']:,.0f} messages/s, {out['events_per_s']:,.0f} events/s")


if __name__ == "__main__":
    main()
