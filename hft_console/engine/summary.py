"""summary.json: the figures of a finished session, in the keys scripts rely on."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from hft_console.market.open import data_quality
from hft_console.stats import percentiles

if TYPE_CHECKING:
    from hft_console.engine.engine import Engine


def build_summary(e: Engine) -> dict[str, Any]:
    p, flow, risk, mon = e.portfolio, e.flow, e.risk, e.monitor
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
        "router": e.router.name,
        "duration_s": round(e.session_end_ns / 1e9, 6),
        "wind_down_s": round((e.now_ns - e.session_end_ns) / 1e9, 6),
        "wall_s": round(e.wall_elapsed, 3),
        "ticks": e.ticks,
        "ticks_rejected": e.normalizer.rejected_total,
        "ticks_rejected_by_reason": e.normalizer.rejected_by_reason(),
        # trade prints (replay, live feeds): counted, never traded on; bad ones rejected
        "trades": {
            "seen": e.trades_seen,
            "rejected": int(getattr(e.market, "trades_rejected", 0)),
            "rejected_by_reason": dict(getattr(e.market, "trades_rejected_by_reason", {})),
        },
        # what the source dropped, filled in or changed (MarketSource.quality): counts, zero when clean
        "data_quality": data_quality(e.market),
        "ticks_per_s": round(e.ticks / e.wall_elapsed, 1) if e.wall_elapsed > 0 else 0.0,
        "orders": flow.orders,
        "fills": flow.fills,
        "rejects": flow.rejects,
        "cancels": flow.cancels,
        "orders_by_status": dict(sorted(flow.done_by_status.items())),
        "risk_denials": flow.denials,
        "pnl_total": round(p.total, 4),
        "pnl_realized": round(p.realized, 4),
        "pnl_unrealized": round(p.unrealized, 4),
        "fees": round(p.fees, 4),
        "wins": p.wins,
        "losses": p.losses,
        "win_rate": round(p.win_rate, 4),
        "shares_traded": p.traded_shares,
        "positions": {sym: p.position[i] for i, sym in enumerate(e.symbols)},
        "decision_latency_us": percentiles(flow.decision_ns, 1e-3),
        "inference_us": percentiles(e.router.inference_ns, 1e-3),
        "command_apply_us": percentiles(e.command_apply_ns, 1e-3),
        "inference_backend": e.router.backend,
        "online_learning": e.router.online_stats(),
        "router_warnings": e.warnings,
        "venues": venues,
        "routers": routers,
        "risk": {
            "breaches": risk.breaches,
            "denied": {k: v for k, v in risk.denied.items() if v},
            "circuit_breaker_trips": risk.breaker_trips,
            "state": risk.state.value,
            "limits": {k: getattr(risk.limits, k) for k in risk.limits.__dataclass_fields__},
        },
        "journal": {
            "path": "journal.sqlite",
            **e.journal.counts,
            **({"error": str(e.journal.broken)} if e.journal.broken else {}),
        },
    }


def write_summary(e: Engine) -> dict[str, Any]:
    summary = build_summary(e)
    assert e.run_dir is not None, "a session without a run directory keeps its summary in memory"
    e.summary = summary
    path = e.run_dir / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:  # disk full, the directory gone: no half-written file is left behind
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return summary
