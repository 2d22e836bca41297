"""summary.json: the figures of a finished session, in the keys scripts rely on.

The figures the console shows come from the session's last published ``Snapshot`` (the same numbers,
computed once); the ones only a finished session has (percentiles over every sample, per-router
pulls, the journal's row counts) from the ``SessionView``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hft_console.engine.snapshot import SessionView, Snapshot
from hft_console.execution.order_flow import OrderFlow
from hft_console.market.open import data_quality, data_stats
from hft_console.stats import percentiles


def build_summary(e: SessionView, snap: Snapshot | None) -> dict[str, Any]:
    """summary.json's content. ``snap`` is the snapshot published as the session ended; ValueError
    when there is none or it is not of a finished session."""
    if snap is None or not snap.finished:
        raise ValueError("summary.json is built from the snapshot published when the session ended")
    flow, risk, mon = e.flow, e.risk, e.monitor
    venues: dict[str, Any] = {}
    for i, v in enumerate(e.venues):
        venues[v.name] = {
            "orders": v.orders,
            "fills": v.fills,
            "rejects": v.rejects,
            "timeouts": mon.timeouts[i],
            "latency_us": percentiles(mon.samples[i]),
            "regime_changes": v.latency.regime_changes,
            "taker_fee": v.spec.taker_fee,
        }
    routers = {
        name: {"decisions": st.decisions, "pulls": dict(zip([v.name for v in e.venues], st.pulls, strict=True))}
        for name, st in e.router.stats.items()
    }
    return {
        "version": 1,
        "seed": e.settings.session.seed,
        "mode": e.settings.session.mode,
        "clock": e.settings.session.clock,
        "symbols": e.symbols,
        "router": snap.router,
        "duration_s": round(e.session_end_ns / 1e9, 6),
        "wind_down_s": round((e.now_ns - e.session_end_ns) / 1e9, 6),
        "wall_s": round(e.wall_elapsed, 3),
        "ticks": snap.ticks,
        "ticks_rejected": snap.ticks_rejected,
        "ticks_rejected_by_reason": e.normalizer.rejected_by_reason(),
        # others' trade prints: they fill our resting orders (replay, synthetic); bad ones rejected
        "trades": {
            "seen": e.trades_seen,
            "rejected": int(getattr(e.market, "trades_rejected", 0)),
            "rejected_by_reason": dict(getattr(e.market, "trades_rejected_by_reason", {})),
        },
        # what the source dropped, filled in or changed (MarketSource.quality): counts, zero when clean
        "data_quality": data_quality(e.market),
        # the data itself: the source; for market-by-order data, messages replayed and the rebuilt book's
        # checks against the file's own book (book_checks rows compared, book_mismatches that differed)
        "data": data_stats(e.market),
        "ticks_per_s": round(snap.mean_ticks_per_s, 1),
        "orders": snap.orders,
        "fills": snap.fills,
        "rejects": snap.rejects,
        "cancels": flow.cancels,
        "orders_by_status": dict(sorted(flow.done_by_status.items())),
        "risk_denials": snap.risk_denials,
        "pnl_total": round(snap.pnl_total, 4),
        "pnl_realized": round(snap.pnl_realized, 4),
        "pnl_unrealized": round(snap.pnl_unrealized, 4),
        "fees": round(snap.fees, 4),
        "fees_taker": round(flow.fees_taker, 4),  # $ paid taking (negative on inverted venues: paid to us)
        "rebates_maker": round(flow.rebates_maker, 4),  # $ earned making (negative where makers pay)
        "orders_by_type": dict(sorted(flow.orders_by_type.items())),
        "passive": passive_figures(flow),
        "wins": snap.wins,
        "losses": snap.losses,
        "win_rate": round(snap.win_rate, 4),
        "shares_traded": e.portfolio.traded_shares,
        "positions": {pos.symbol: pos.position for pos in snap.positions},
        # symbols the operator left halted or flattening at the end (execution/manual.py), by state
        "held_symbols": {pos.symbol: held for pos, held in zip(snap.positions, snap.held, strict=False) if held},
        "decision_latency_us": percentiles(flow.decision_ns, 1e-3),
        "inference_us": percentiles(e.router.inference_ns, 1e-3),
        "command_apply_us": percentiles(e.commands.apply_ns, 1e-3),
        "inference_backend": e.router.backend,
        "online_learning": e.router.online_stats(),
        "router_warnings": e.warnings,
        "alerts": dict(sorted(e.alerts.counts.items())),  # alerts fired, by name (engine/alerts.py)
        "venues": venues,
        "routers": routers,
        "risk": {
            "breaches": snap.breaches,
            "denied": {k: v for k, v in risk.denied.items() if v},
            "circuit_breaker_trips": risk.breaker_trips,
            "state": snap.state,
            "limits": {k: getattr(risk.limits, k) for k in risk.limits.__dataclass_fields__},
        },
        "journal": {
            "path": "journal.sqlite",
            **e.journal.counts,
            **({"error": str(e.journal.broken)} if e.journal.broken else {}),
        },
    }


def passive_figures(flow: OrderFlow) -> dict[str, Any]:
    """Resting orders: how many, how many maker fills and at what rebate, the queue ahead on joining,
    the time from sending to a complete fill, and adverse selection: the consolidated mid's move against
    us one second after each maker fill (bps, size-weighted; positive = it moved against us)."""
    filled = flow.passive_filled_orders
    return {
        "orders": flow.passive_orders,
        "fills": flow.passive_fills,
        "fill_rate": round(filled / flow.passive_orders, 4) if flow.passive_orders else 0.0,
        "rebates": round(flow.rebates_maker, 4),
        "queue_ahead_at_entry_mean": round(flow.queue_at_entry_sum / flow.queue_at_entry_n, 1)
        if flow.queue_at_entry_n
        else 0.0,
        "time_to_fill_ms_mean": round(flow.time_to_fill_ns_sum / filled / 1e6, 3) if filled else 0.0,
        "adverse_selection_bps": round(flow.adverse_bps_qty / flow.adverse_qty, 3) if flow.adverse_qty else 0.0,
    }


def write_summary(summary: dict[str, Any], run_dir: Path) -> None:
    """Write ``run_dir``/summary.json whole or not at all; OSError names the file when it cannot."""
    path = run_dir / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:  # disk full, the directory gone: no half-written file is left behind
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
