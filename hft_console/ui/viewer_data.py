"""``hft-console view``'s snapshots: the console's own ``Snapshot`` rebuilt from a recorded run
(engine/journal_view.py) at any engine time, so the console's panes draw it unchanged.

Where each figure comes from at time ``t``:

- trades, fills, orders, venue rejects, risk denials and breaches: the journal's rows up to ``t``;
- realised P&L, fees, rebates, wins and losses, positions and average costs: the fills replayed through
  the engine's ``Portfolio`` (exact);
- total and unrealised P&L: as of the last fill at or before ``t`` (each fill row carries the engine's
  total then; the market's mid between fills is not journaled). Per symbol, unrealised P&L is known
  only while at most one symbol holds a position (it is then the whole of it); otherwise it is unknown
  (``nan``, shown ``n/a``);
- working orders: the orders sent by ``t`` and not yet final, in the state their last order event gave;
- round trips per venue (heatmap, p50/p95/p99 over the window, the EWMA): each order's first answer,
  as the engine's latency monitor records it;
- risk state, router, pause, feed and limits: STATE, CIRCUIT_BREAKER, COMMAND, ROUTER and FEED events;
- at the end of a finished run, summary.json's figures (the final mark is in no journal row).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from hft_console.engine.journal_view import Event, RecordedRun
from hft_console.engine.snapshot import (
    WORKING_SHOWN,
    ArmView,
    LimitView,
    PositionView,
    RestingView,
    Snapshot,
    VenueView,
    WorkingOrderView,
)
from hft_console.execution.risk import LIMIT_REASONS
from hft_console.money import money
from hft_console.stats import nearest_rank, percentiles
from hft_console.ui.format import session_time
from hft_console.venues.monitor import Cell

NS = 1_000_000_000
NOTES_KEPT = 200  # as the live session keeps
HISTORY_KEPT = 600  # P&L samples, as the live sparkline keeps
RECENT = 200  # decisions in the router's recent share, as RouterStats keeps
FINAL_STATES = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})


def _at(ts: Sequence[int], values: Sequence[Any], t_ns: int, initial: Any) -> Any:
    """The value of a step series (``values[i]`` from ``ts[i]`` on) at ``t_ns``."""
    i = bisect_right(ts, t_ns)
    return values[i - 1] if i else initial


def note_text(kind: str, e: Event) -> str | None:
    """The operator note the engine wrote with this event (engine.note), or None."""
    d = e.detail
    if kind == "COMMAND":
        args = d.get("args") or {}
        what = " ".join([str(d.get("command", "?")), *(f"{k}={v}" for k, v in args.items())])
        return f"{what} refused: {d['error']}" if d.get("error") else what
    if kind == "CIRCUIT_BREAKER":
        pnl, limit = float(d.get("pnl_total", 0.0)), float(d.get("max_loss", 0.0))
        return f"CIRCUIT BREAKER: P&L {money(pnl)} below {money(-limit)}"
    if kind == "STATE" and d.get("why") == "flattened":
        return "flat: trading halted"
    if kind == "VENUE_REJECT":
        return f"{e.venue} rejected order {e.order_id}: {e.reason}"
    if kind == "RISK_DENIED":
        return f"risk denied {d.get('side', '?')} {d.get('qty', '?')} {e.symbol}: {e.reason}"
    if kind == "FEED":
        return f"feed {e.reason}: trading {'paused' if e.reason in ('stale', 'down') else 'resumed'}"
    if kind == "ROUTER":
        return f"{e.reason} loaded: now routing"
    if kind == "ROUTER_FALLBACK":
        return str(d.get("warning", e.reason))
    return None


class Replay:
    """Snapshots of ``run`` at any engine time (``at``); the figures' sources are the module's."""

    def __init__(self, run: RecordedRun) -> None:
        self.run = run
        r, s = run, run.summary or {}
        self.vi = {n: i for i, n in enumerate(r.venue_names)}
        self.si = {n: i for i, n in enumerate(r.symbols)}
        self.state_ts, self.state_v = [0], ["ACTIVE"]
        self.pause_ts, self.pause_v = [0], [False]
        self.feed_ts, self.feed_v = [0], ["sim"]
        start = next((e for e in r.events if e.kind == "SESSION" and e.reason == "start"), None)
        first_router = str((start.detail.get("router") if start else None) or s.get("router") or "?")
        self.router_ts, self.router_v = [0], [first_router]
        self.limit_steps: dict[str, tuple[list[int], list[float]]] = {}
        self.reject_ts: list[int] = []
        self.venue_reject_ts: list[list[int]] = [[] for _ in r.venue_names]
        self.denied_ts: list[int] = []
        self.breach_ts: list[int] = []
        self.notes: list[tuple[int, int, str]] = []
        loaded = {e.reason for e in r.events if e.kind == "ROUTER"}
        for e in r.events:
            self._event(e, loaded)
        self.note_ts = [n[1] for n in self.notes]
        self._orders_by()

    def _event(self, e: Event, loaded: set[str]) -> None:
        kind, t = e.kind, e.ts_ns
        if kind == "STATE":
            self.state_ts.append(t)
            self.state_v.append(e.reason)
        elif kind == "FEED":
            self.feed_ts.append(t)
            self.feed_v.append(e.reason)
        elif kind == "ROUTER":
            self.router_ts.append(t)
            self.router_v.append(e.reason)
        elif kind == "COMMAND" and e.reason == "accepted":
            command, args = e.detail.get("command"), e.detail.get("args") or {}
            if command in ("pause", "unpause"):
                self.pause_ts.append(t)
                self.pause_v.append(command == "pause")
            elif command == "set_router" and str(args.get("name")) not in loaded:  # else loaded later (ROUTER)
                self.router_ts.append(t)
                self.router_v.append(str(args.get("name")))
            elif command == "set_limit":
                ts, vs = self.limit_steps.setdefault(str(args.get("name")), ([], []))
                ts.append(t)
                vs.append(float(args.get("value", 0.0)))
        elif kind == "VENUE_REJECT":
            self.reject_ts.append(t)
            if e.venue in self.vi:
                self.venue_reject_ts[self.vi[e.venue]].append(t)
        elif kind == "RISK_DENIED":
            self.denied_ts.append(t)
            if e.reason in LIMIT_REASONS:
                self.breach_ts.append(t)
        elif kind == "CIRCUIT_BREAKER":
            self.breach_ts.append(t)
        text = note_text(kind, e)
        if text is not None:
            self.notes.append((len(self.notes) + 1, t, text))

    def _orders_by(self) -> None:
        r = self.run
        self.venue_order_ts: list[list[int]] = [[] for _ in r.venue_names]
        self.router_orders: dict[str, tuple[list[int], list[int]]] = {}
        prices: list[list[tuple[int, float]]] = [[] for _ in r.symbols]
        for o in r.orders:
            v = self.vi[o.venue]
            self.venue_order_ts[v].append(o.ts_ns)
            ts, vs = self.router_orders.setdefault(o.router, ([], []))
            ts.append(o.ts_ns)
            vs.append(v)
            first = r.order_events.get(o.order_id)
            if first:
                prices[self.si[o.symbol]].append((o.ts_ns, first[0].price))
        self.venue_fill_ts: list[list[int]] = [[] for _ in r.venue_names]
        self.order_fills: dict[int, list[tuple[int, int]]] = {}
        for f in r.fills:
            self.venue_fill_ts[self.vi[f.venue]].append(f.ts_ns)
            self.order_fills.setdefault(f.order_id, []).append((f.ts_ns, f.qty))
            prices[self.si[f.symbol]].append((f.ts_ns, f.price))
        for p in prices:
            p.sort()
        self.price_ts = [[t for t, _ in p] for p in prices]
        self.price_v = [[x for _, x in p] for p in prices]
        self.initial_limits = self._initial_limits()

    def _initial_limits(self) -> dict[str, float]:
        """The limits at the start: summary.json's when no limit was changed during the run (exact), else
        the configured ones (the journal records each change, not the value before)."""
        r = self.run
        final = (r.summary or {}).get("risk", {}).get("limits", {})
        conf = r.settings.risk if r.settings else None
        out: dict[str, float] = {}
        for name in ("max_position", "max_notional", "max_orders_per_s", "max_loss"):
            if name in final and name not in self.limit_steps:
                out[name] = float(final[name])
            else:
                out[name] = float(getattr(conf, name)) if conf else float(final.get(name, 0.0))
        return out

    # -- one moment ---------------------------------------------------------------------------------
    def at_end(self, t_ns: int) -> bool:
        """Whether ``t_ns`` shows a finished run's end (summary.json's figures)."""
        return self.run.finished and t_ns >= self.run.end_ns

    def basis(self, t_ns: int) -> str:
        """Where the total and unrealised P&L shown at ``t_ns`` come from, for the operator."""
        if self.at_end(t_ns):
            return "P&L at the end: summary.json"
        k = self.run.fills_until(t_ns)
        if not k:
            return "no fills yet"
        hours = self.run.end_ns >= 3600 * NS
        return f"P&L as of the last fill {session_time(self.run.fills[k - 1].ts_ns, hours)}"

    def mark(self, sym: int, t_ns: int) -> float:
        """The symbol's last price in the journal by ``t_ns`` (a fill, or an order's limit); nan: none."""
        return float(_at(self.price_ts[sym], self.price_v[sym], t_ns, math.nan))

    def at(self, t_ns: int) -> Snapshot:
        """The console's snapshot of the run at engine time ``t_ns`` (clipped to the run)."""
        r = self.run
        t = max(0, min(t_ns, r.end_ns))
        end = self.at_end(t)
        k = r.fills_until(t)
        b = r.booked[k - 1] if k else None
        n_sym = len(r.symbols)
        total = r.fills[k - 1].total_pnl if k else 0.0
        f: dict[str, Any] = {
            "pnl_total": total, "pnl_realized": b.realized if b else 0.0, "fees": b.fees if b else 0.0,
            "fees_taker": b.fees_taker if b else 0.0, "rebates_maker": b.rebates_maker if b else 0.0,
            "wins": b.wins if b else 0, "losses": b.losses if b else 0, "orders": r.orders_until(t), "fills": k,
            "rejects": bisect_right(self.reject_ts, t), "risk_denials": bisect_right(self.denied_ts, t),
            "breaches": bisect_right(self.breach_ts, t), "state": _at(self.state_ts, self.state_v, t, "ACTIVE"),
            "router": _at(self.router_ts, self.router_v, t, "?"), "ticks": 0, "ticks_rejected": 0,
            "ticks_per_s": 0.0, "wall_s": 0.0, "position": b.position if b else (0,) * n_sym,
        }  # fmt: skip
        f["pnl_unrealized"] = f["pnl_total"] - f["pnl_realized"] + f["fees"]
        closed = f["wins"] + f["losses"]
        f["win_rate"] = f["wins"] / closed if closed else 0.0
        if end:
            f.update(self._final(f["position"]))
        working, views = self._working(t)
        wbuy, wsell = [0] * n_sym, [0] * n_sym
        for w in working:
            (wbuy if w.side == "BUY" else wsell)[self.si[w.symbol]] += w.leaves
        marks = [self.mark(i, t) for i in range(n_sym)]
        decisions, arms = self._arms(str(f["router"]), t, end)
        starts, rows = self._heatmap(t)
        resting = [w for w in working if w.order_type != "IOC"]
        notes_to = bisect_right(self.note_ts, t)
        return Snapshot(
            wall_ns=time.time_ns(), engine_ns=t, duration_s=r.duration_ns / NS, mode=r.mode, clock=r.clock,
            data_source=r.data_source, feed=str(_at(self.feed_ts, self.feed_v, t, "sim")), state=str(f["state"]),
            paused=bool(_at(self.pause_ts, self.pause_v, t, False)), ticks=f["ticks"],
            ticks_rejected=f["ticks_rejected"], ticks_per_s=0.0, mean_ticks_per_s=f["ticks_per_s"],
            wall_s=f["wall_s"], orders=f["orders"], fills=f["fills"], rejects=f["rejects"],
            risk_denials=f["risk_denials"], breaches=f["breaches"], pnl_total=f["pnl_total"],
            pnl_realized=f["pnl_realized"], pnl_unrealized=f["pnl_unrealized"], fees=f["fees"],
            fees_taker=f["fees_taker"], rebates_maker=f["rebates_maker"], wins=f["wins"], losses=f["losses"],
            win_rate=f["win_rate"], positions=self._positions(b, f["position"], f["pnl_unrealized"]),
            trades=tuple(r.fills[max(0, k - r.trades_kept) : k]), trade_seq=k,
            venues=self._venues(t), heatmap_start_ns=starts, heatmap=rows,
            router=str(f["router"]), router_decisions=decisions, arms=arms,
            inference_us={"p50": None, "p95": None, "p99": None}, online_updates=None,
            limits=self._limits(t, f["position"], wbuy, wsell, marks, f["pnl_total"]),
            pnl_history=self._history(t), notes=tuple(self.notes[max(0, notes_to - NOTES_KEPT) : notes_to]),
            finished=end, bucket_s=r.bucket_s, working=tuple(views[:WORKING_SHOWN]),
            working_more=max(0, len(views) - WORKING_SHOWN),
            resting=RestingView(
                len(resting), sum(w.leaves for w in resting if w.side == "BUY"),
                sum(w.leaves for w in resting if w.side == "SELL"),
                sum(w.leaves * (m if m == m else w.price) for w in resting for m in (marks[self.si[w.symbol]],)),
            ),
        )  # fmt: skip

    def _final(self, position: tuple[int, ...]) -> dict[str, Any]:
        """summary.json's figures for the end of the run, each where summary.json has it."""
        s = self.run.summary or {}
        out: dict[str, Any] = {}
        for key in ("pnl_total", "pnl_realized", "pnl_unrealized", "fees", "fees_taker", "rebates_maker", "win_rate",
                    "ticks_per_s", "wall_s"):  # fmt: skip
            if isinstance(s.get(key), int | float):
                out[key] = float(s[key])
        for key in ("orders", "fills", "rejects", "risk_denials", "wins", "losses", "ticks", "ticks_rejected"):
            if isinstance(s.get(key), int):
                out[key] = s[key]
        risk: dict[str, Any] = s["risk"] if isinstance(s.get("risk"), dict) else {}
        if isinstance(risk.get("breaches"), int):
            out["breaches"] = risk["breaches"]
        if isinstance(risk.get("state"), str):
            out["state"] = risk["state"]
        if isinstance(s.get("router"), str):
            out["router"] = s["router"]
        final: dict[str, Any] = s["positions"] if isinstance(s.get("positions"), dict) else {}
        out["position"] = tuple(int(final.get(sym, p)) for sym, p in zip(self.run.symbols, position, strict=True))
        return out

    def _positions(self, b: Any, position: tuple[int, ...], unrealized: float) -> tuple[PositionView, ...]:
        r = self.run
        open_ = [i for i, p in enumerate(position) if p]
        out = []
        for i, sym in enumerate(r.symbols):
            un = 0.0 if not position[i] else unrealized if len(open_) == 1 else math.nan
            avg = b.avg_cost[i] if b else 0.0
            out.append(PositionView(sym, position[i], avg, math.nan, b.realized_by_symbol[i] if b else 0.0, un))
        return tuple(out)

    def _working(self, t: int) -> tuple[list[WorkingOrderView], list[WorkingOrderView]]:
        """The orders working at ``t`` (every one, for the gauges) and the same in the blotter's order."""
        r = self.run
        out = []
        for o in r.orders[: r.orders_until(t)]:
            if o.done_ns is not None and o.done_ns <= t:
                continue
            state, qty, price, ahead = "PENDING_NEW", 0, 0.0, 0
            for ev in r.order_events.get(o.order_id, ()):
                if ev.ts_ns > t:
                    break
                state, ahead = ev.state, ev.queue_ahead
                if ev.reason != "FILL":
                    qty, price = ev.qty, ev.price
            if state in FINAL_STATES:
                continue
            filled = sum(q for ts, q in self.order_fills.get(o.order_id, ()) if ts <= t)
            out.append(WorkingOrderView(o.order_id, o.venue, o.symbol, o.side, o.order_type, price, qty, filled,
                                        state, ahead, -1, max(0, t - o.ts_ns) / 1e6))  # fmt: skip
        key = lambda w: (w.symbol, 0 if w.side == "BUY" else 1, -w.price if w.side == "BUY" else w.price, w.order_id)  # noqa: E731
        return out, sorted(out, key=key)

    def _arms(self, router: str, t: int, end: bool) -> tuple[int, tuple[ArmView, ...]]:
        """Per venue: the orders the router sent by ``t`` (summary.json's decisions and pulls at the end;
        decisions the risk check refused are in no order row), and its share of the last 200."""
        r = self.run
        ts, vs = self.router_orders.get(router, ([], []))
        n = bisect_right(ts, t)
        pulls = [0] * len(r.venue_names)
        for v in vs[:n]:
            pulls[v] += 1
        recent = vs[max(0, n - RECENT) : n]
        shares = [recent.count(v) / len(recent) if recent else 0.0 for v in range(len(r.venue_names))]
        decisions = n
        routers = (self.run.summary or {}).get("routers") if end else None
        final = routers.get(router) if isinstance(routers, dict) else None
        if isinstance(final, dict):
            decisions = int(final.get("decisions", n))
            pulls = [int(final.get("pulls", {}).get(name, p)) for name, p in zip(r.venue_names, pulls, strict=True)]
        arms = tuple(ArmView(name, pulls[v], None, shares[v]) for v, name in enumerate(r.venue_names))
        return decisions, arms

    def _venues(self, t: int) -> tuple[VenueView, ...]:
        r = self.run
        out = []
        for v, name in enumerate(r.venue_names):
            vs = r.venue_series[v]
            n = bisect_right(vs.sample_ts, t)
            pct = percentiles(vs.sample_us[max(0, n - r.window) : n])
            a = bisect_right(vs.answer_ts, t)
            calm = r.calm_rt_us[v] if r.calm_rt_us[v] == r.calm_rt_us[v] else self._own_median(v)
            out.append(
                VenueView(
                    name, "down" if a and vs.timed_out[a - 1] else "n/a", "", pct["p50"], pct["p95"], pct["p99"],
                    vs.ewma_us[a - 1] if a else calm, calm, bisect_right(self.venue_order_ts[v], t),
                    bisect_right(self.venue_fill_ts[v], t), bisect_right(self.venue_reject_ts[v], t),
                    sum(vs.timed_out[:a]), r.taker_fee[v],
                )
            )  # fmt: skip
        return tuple(out)

    def _own_median(self, v: int) -> float:
        """A venue the configuration no longer has: its calm round trip is unknown, so the heatmap's
        yardstick is the run's own median round trip there."""
        samples = sorted(self.run.venue_series[v].sample_us)
        return nearest_rank(samples, 0.5) if samples else 1.0

    def _heatmap(self, t: int) -> tuple[tuple[int, ...], tuple[tuple[Cell | None, ...], ...]]:
        """As ``LatencyMonitor.heatmap(t)``: the last ``n_buckets`` buckets up to ``t``'s, per venue."""
        r = self.run
        current = t // r.bucket_ns
        first = current - r.n_buckets + 1
        rows = []
        for vs in r.venue_series:
            lo, hi = bisect_left(vs.answer_ts, first * r.bucket_ns), bisect_right(vs.answer_ts, t)
            buckets: dict[int, tuple[list[float], list[int]]] = {}
            for i in range(lo, hi):
                rts, timeouts = buckets.setdefault(vs.answer_ts[i] // r.bucket_ns, ([], [0]))
                if vs.timed_out[i]:
                    timeouts[0] += 1
                else:
                    rts.append(vs.answer_us[i])
            row: list[Cell | None] = []
            for bucket in range(first, current + 1):
                entry = buckets.get(bucket)
                if entry is None:
                    row.append(None)
                    continue
                ordered = sorted(entry[0])
                p50 = nearest_rank(ordered, 0.5) if ordered else None
                row.append((p50, nearest_rank(ordered, 0.95) if ordered else None, len(ordered), entry[1][0]))
            rows.append(tuple(row))
        return tuple(b * r.bucket_ns for b in range(first, current + 1)), tuple(rows)

    def _limits(
        self, t: int, position: Sequence[int], wbuy: list[int], wsell: list[int], marks: list[float], total: float
    ) -> tuple[LimitView, ...]:
        """The risk gauges as the live ones measure them, positions and working orders marked at each
        symbol's last journaled price (the mid is not journaled)."""
        r = self.run
        lim = {name: float(_at(*self.limit_steps[name], t, v)) if name in self.limit_steps else v
               for name, v in self.initial_limits.items()}  # fmt: skip
        out = [
            LimitView(f"position {sym}", max(abs(position[i] + wbuy[i]), abs(position[i] - wsell[i])),
                      lim["max_position"], "sh")
            for i, sym in enumerate(r.symbols)
        ]  # fmt: skip
        m = [x if x == x else 0.0 for x in marks]
        notional = sum((abs(p) + b + s) * x for p, b, s, x in zip(position, wbuy, wsell, m, strict=True))
        rate = r.orders_until(t) - r.orders_until(t - NS)
        out += [
            LimitView("notional", notional, lim["max_notional"], "$"),
            LimitView("order rate", rate, lim["max_orders_per_s"], "/s"),
            LimitView("loss", max(0.0, -total), lim["max_loss"], "$"),
        ]
        return tuple(out)

    def _history(self, t: int) -> tuple[float, ...]:
        """Total P&L at each bucket boundary up to ``t`` (as of the last fill then), the last 600."""
        r = self.run
        last = t // r.bucket_ns
        out = []
        for b in range(max(1, last - HISTORY_KEPT + 1), last + 1):
            k = r.fills_until(b * r.bucket_ns)
            out.append(r.fills[k - 1].total_pnl if k else 0.0)
        return tuple(out)
