"""The operator's hand on one symbol (execution/manual.py): manual orders through the same risk checks,
per-symbol halt, flatten and resume, each journaled; bad tickets refused with the reason."""

from __future__ import annotations

import json
from typing import Any

from hft_console.domain import Command
from hft_console.execution.manual import ManualOrder, parse_order
from tests.conftest import make_settings
from tests.integration.test_engine import SEC, at, chain, rows


def order(**args: object) -> Command:
    return Command("order", {"symbol": "AAPL", "side": "buy", "qty": 100, "type": "market", **args})


def commands(e: Any) -> list[tuple[str, str, str | None]]:
    out = []
    for reason, detail in rows(e, "select reason, detail from events where kind = 'COMMAND' order by id"):
        d = json.loads(detail)
        out.append((d["command"], reason, d["error"]))
    return out


def test_a_ticket_is_checked_field_by_field() -> None:
    symbols, venues = ["AAPL", "MSFT"], ["NYSE", "NASDAQ"]

    def parse(**args: object) -> ManualOrder | str:
        return parse_order({"symbol": "AAPL", "side": "buy", "qty": "100", **args}, symbols, venues, 0.01)

    ok = parse(type="limit", limit="190.01", venue="nasdaq")
    assert ok == ManualOrder(0, ok.side, 100, "limit", 190.01, 1) and int(ok.side) == 1  # type: ignore[union-attr]
    assert parse(venue="router").venue == -1 and parse(qty="1,000").qty == 1000  # type: ignore[union-attr]
    for args, words in (
        ({"symbol": "TSLA"}, "symbol 'TSLA': expected one of AAPL, MSFT"),
        ({"side": "hold"}, "side 'hold': expected buy or sell"),
        ({"qty": "0"}, "qty '0': expected a whole number"),
        ({"qty": "1.5"}, "qty '1.5': expected a whole number"),
        ({"type": "stop"}, "type 'stop': expected one of market, limit, post"),
        ({"type": "limit"}, "limit None: expected a price above 0"),
        ({"type": "post", "limit": "-1"}, "limit '-1': expected a price above 0"),
        ({"type": "limit", "limit": "nan"}, "limit 'nan': expected a price above 0"),
        ({"type": "limit", "limit": "190.005"}, "limit '190.005': not on the 0.01 tick"),
        ({"venue": "BATS"}, "venue 'BATS': expected router or one of NYSE, NASDAQ"),
    ):
        assert words in str(parse(**args)), args


def test_manual_orders_go_through_risk_and_are_journaled_as_the_operators(run_engine: Any) -> None:
    s = make_settings(session__duration_s=4)
    e = run_engine(
        s,
        chain(
            at(0.5, Command("pause")),
            at(
                1.5,
                order(venue="router"),
                order(side="sell", qty=50, venue="NYSE"),
                order(qty=10**6),
                Command("order", {"symbol": "AAPL"}),
                order(type="post", limit="1.00", venue="NASDAQ"),
            ),
        ),
    )
    cap = f"qty 1000000 is above max_order_qty {e.risk.limits.max_order_qty:g}: one ticket is at most one order's size"
    assert commands(e)[1:] == [
        ("order", "accepted", None),
        ("order", "accepted", None),
        (
            "order",
            "refused",
            cap,
        ),
        ("order", "refused", "side None: expected buy or sell"),
        ("order", "refused", "risk denied it (see its line)"),  # a post far from the market: PRICE_DEVIATION
    ]
    manual = rows(e, "select reason, detail from events where kind = 'MANUAL_ORDER' order by id")
    assert [r for r, _ in manual] == ["MARKET", "MARKET"]
    routed, direct = (json.loads(d)["order_ids"] for _, d in manual)
    assert routed and len(direct) == 1
    by_id = {
        oid: (router, venue, side)
        for oid, router, venue, side in rows(e, "select order_id, router, venue, side from orders")
    }
    assert all(by_id[o][0] == e.router.name and by_id[o][2] == "BUY" for o in routed)
    assert by_id[direct[0]] == ("operator", "NYSE", "SELL")
    denied = [r for (r,) in rows(e, "select reason from events where kind = 'RISK_DENIED'")]
    assert denied == ["PRICE_DEVIATION"]
    # paused: nothing but the operator's orders after the pause, and the position is what they filled
    after = rows(e, f"select order_id from orders where ts_ns > {int(0.6 * SEC)}")
    assert sorted(o for (o,) in after) == sorted(routed + direct)
    filled = dict(rows(e, "select side, coalesce(sum(qty), 0) from fills where ts_ns > 0 group by side"))
    assert filled  # something filled, bought and sold in AAPL only by the operator after the pause


def test_a_halted_symbol_takes_nothing_from_the_strategy_and_resumes(run_engine: Any) -> None:
    s = make_settings(session__duration_s=9)
    e = run_engine(
        s,
        chain(
            at(1, Command("halt_symbol", {"symbol": "aapl"})),
            at(2, order(venue="router")),
            at(5, Command("resume_symbol", {"symbol": "AAPL"}), Command("resume_symbol", {"symbol": "AAPL"})),
        ),
    )
    assert [c[:2] for c in commands(e)] == [
        ("halt_symbol", "accepted"), ("order", "accepted"), ("resume_symbol", "accepted"), ("resume_symbol", "refused")
    ]  # fmt: skip
    halt_ns, resume_ns = (t for (t,) in rows(e, "select ts_ns from events where kind = 'SYMBOL_STATE' order by id"))
    strategy = rows(e, f"select ts_ns, symbol from orders where router != 'operator' and ts_ns > {halt_ns}")
    manual_ids = json.loads(rows(e, "select detail from events where kind = 'MANUAL_ORDER'")[0][0])["order_ids"]
    held = [t for t, sym in strategy if sym == "AAPL" and t < resume_ns]
    manual_ts = {
        t for (t,) in rows(e, f"select ts_ns from orders where order_id in ({','.join(map(str, manual_ids))})")
    }
    assert set(held) <= manual_ts  # in AAPL while halted: only the operator's order
    assert any(sym == "MSFT" and t < resume_ns for t, sym in strategy)  # the other symbol kept trading
    assert any(sym == "AAPL" and t > resume_ns for t, sym in strategy)  # and AAPL trades again after resume
    denied = rows(e, "select symbol from events where kind = 'RISK_DENIED' and reason = 'SYMBOL_HALTED'")
    assert len(denied) <= 1 and all(sym == "AAPL" for (sym,) in denied)
    assert e.snapshot is not None and e.snapshot.held == ("", "")


def test_flatten_one_symbol_takes_its_position_off_then_halts_it(run_engine: Any) -> None:
    s = make_settings(session__duration_s=8)
    e = run_engine(s, chain(at(1.5, order(qty=300)), at(3, Command("flatten_symbol", {"symbol": "AAPL"}))))
    states = rows(e, "select ts_ns, reason, detail from events where kind = 'SYMBOL_STATE' order by id")
    assert [r for _, r, _ in states] == ["FLATTENING", "HALTED"]
    assert json.loads(states[1][2])["why"] == "flattened"
    assert e.portfolio.position[0] == 0  # held flat to the end: the strategy could not trade it again
    assert e.snapshot is not None and e.snapshot.held[0] == "HALTED"
    assert e.summary is not None and e.summary["held_symbols"] == {"AAPL": "HALTED"}


def test_a_halted_desk_refuses_the_operators_orders_too(run_engine: Any) -> None:
    e = run_engine(
        make_settings(session__duration_s=3),
        at(1, Command("halt"), order(), Command("flatten_symbol", {"symbol": "MSFT"})),
    )
    assert commands(e) == [
        ("halt", "accepted", None),
        ("order", "refused", "trading is halted: resume first"),
        ("flatten_symbol", "refused", "trading is halted: resume first"),
    ]


def test_the_desk_wide_flatten_also_takes_off_a_halted_symbols_position(run_engine: Any) -> None:
    s = make_settings(session__duration_s=8)
    e = run_engine(
        s,
        chain(
            at(1, Command("pause"), order(qty=200)),
            at(2, Command("halt_symbol", {"symbol": "AAPL"})),
            at(3, Command("flatten")),
        ),
    )
    states = [r for (r,) in rows(e, "select reason from events where kind = 'STATE' order by id")]
    assert states[-1] == "HALTED"  # flat everywhere, AAPL included, then halted
    assert e.portfolio.position == [0, 0]
