"""Alerts (engine/alerts.py): each condition fires once, re-arms only after it cleared, per venue or symbol;
a threshold of 0 turns one off; the operator's ack_alerts acknowledges them; bad [alerts] values exit 2."""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hft_console.cli.main import main
from hft_console.domain import Command, Order, Side
from hft_console.engine.alerts import Alerts, Reading, queue_maxima
from hft_console.engine.engine import Engine
from hft_console.engine.journal import Journal
from hft_console.headless import HeadlessPrinter
from hft_console.settings import AlertSettings, SettingsError, load_settings
from tests.conftest import make_settings

S = 1_000_000_000
OFF = AlertSettings(
    loss=0.0, latency_p99_us=0.0, latency_p99_us_by_venue={}, latency_min_samples=20, fill_rate_below=0.0,
    fill_rate_window_s=10.0, fill_rate_min_orders=20, feed_stale_s=0.0, queue_ahead_above=0,
)  # fmt: skip


def reading(t_s: float = 1.0, **changes: Any) -> Reading:
    """A healthy reading at ``t_s`` session seconds: quotes now, fast venues, nothing resting."""
    now = int(t_s * S)
    base = Reading(
        now_ns=now, pnl_total=0.0, feed="sim", venue_p99=(("NYSE", 500.0, 100), ("BZX", 80.0, 100)),
        quote_ns=(("AAPL", now), ("MSFT", now)), queue_ahead=(), takes=(0, 0, 0),
    )  # fmt: skip
    return replace(base, **changes)


def alerts(**settings: Any) -> tuple[Alerts, list[str]]:
    notes: list[str] = []
    return Alerts(replace(OFF, **settings), Journal(None), lambda _t, text: notes.append(text)), notes


def rows(a: Alerts) -> list[tuple[Any, ...]]:
    a.journal.commit()
    return a.journal.db.execute("select ts_ns, kind, symbol, venue, reason, detail from events order by id").fetchall()


def test_loss_fires_once_while_it_holds_and_again_only_after_it_cleared() -> None:
    a, notes = alerts(loss=100.0)
    assert not a.evaluate(reading(pnl_total=-99.0))
    assert a.evaluate(reading(2, pnl_total=-150.0))
    assert not a.evaluate(reading(3, pnl_total=-400.0))  # still beyond: no second alert
    assert not a.evaluate(reading(4, pnl_total=-95.0))  # back, but within the hysteresis: not re-armed
    assert not a.evaluate(reading(5, pnl_total=-120.0))
    assert not a.evaluate(reading(6, pnl_total=-90.0))  # at 90% of the threshold: re-armed
    assert a.evaluate(reading(7, pnl_total=-101.0))
    assert a.counts == {"loss": 2} and [v.alert_id for v in a.views] == [1, 2]
    (ts, kind, symbol, venue, reason, detail), _ = rows(a)
    assert (ts, kind, symbol, venue, reason) == (2 * S, "ALERT", None, None, "loss")
    assert json.loads(detail) == {"id": 1, "value": 150.0, "threshold": 100.0, "text": a.views[0].text}
    assert a.views[0].text == "loss: P&L -$150.00 below -$100.00" and a.views[0].severity == "error"
    assert notes[0] == "ALERT loss: P&L -$150.00 below -$100.00"


def test_every_threshold_at_zero_is_off() -> None:
    a, notes = alerts()
    worst = reading(
        60, pnl_total=-1e9, feed="down", venue_p99=(("NYSE", 1e7, 256),), quote_ns=(("AAPL", -1),),
        queue_ahead=(("AAPL", "NYSE", 10**9),), takes=(10_000, 10**6, 0),
    )  # fmt: skip
    assert not a.evaluate(reading(1, takes=(0, 0, 0))) and not a.evaluate(worst)
    assert a.views == () and notes == [] and rows(a) == []


def test_latency_is_per_venue_with_its_own_threshold_and_needs_enough_round_trips() -> None:
    a, _ = alerts(latency_p99_us=1000.0, latency_p99_us_by_venue={"BZX": 5000.0, "IEX": 0.0}, latency_min_samples=20)
    few = (("NYSE", 9000.0, 19), ("BZX", 100.0, 100), ("IEX", 1e6, 100))
    assert not a.evaluate(reading(venue_p99=few))  # NYSE: 19 round trips are too few; IEX: off
    slow = (("NYSE", 1500.0, 20), ("BZX", 4000.0, 100), ("IEX", 1e6, 100))
    assert a.evaluate(reading(2, venue_p99=slow))  # NYSE past 1,000 µs; BZX under its own 5,000
    slower = (("NYSE", 1500.0, 20), ("BZX", 6000.0, 100), ("IEX", 1e6, 100))
    assert a.evaluate(reading(3, venue_p99=slower))
    assert [(v.name, v.venue) for v in a.views] == [("latency_p99", "NYSE"), ("latency_p99", "BZX")]
    assert a.views[1].text == "latency: BZX round-trip p99 6,000 µs above 5,000 µs"
    assert [r[3] for r in rows(a)] == ["NYSE", "BZX"]


def test_fill_rate_over_its_window_needs_enough_takes_and_re_arms_above_the_threshold() -> None:
    a, _ = alerts(fill_rate_below=0.5, fill_rate_window_s=10.0, fill_rate_min_orders=20)
    assert not a.evaluate(reading(0, takes=(0, 0, 0)))
    assert not a.evaluate(reading(5, takes=(19, 1900, 0)))  # nothing filled, but 19 takes are too few
    assert a.evaluate(reading(6, takes=(40, 4000, 1000)))  # 25% over the last 6 s
    assert a.views[0].text == "fill rate 25% below 50% (40 takes, last 10 s)"
    # the window slides: from 5 s on, 2,100 sent and 1,000 filled (48%): under the re-arm level of 55%
    assert not a.evaluate(reading(15, takes=(40, 4000, 1000)))
    assert not a.evaluate(reading(16, takes=(80, 8000, 4950)))  # from 6 s: 4,000 sent, 3,950 filled: re-armed
    assert a.evaluate(reading(27, takes=(120, 12_000, 5000)))  # from 16 s: 4,000 sent, 50 filled
    assert a.counts == {"fill_rate": 2}


def test_a_stale_or_down_feed_and_a_silent_symbol_fire_once_each() -> None:
    a, _ = alerts(feed_stale_s=5.0)
    assert not a.evaluate(reading(4.9, quote_ns=(("AAPL", -1), ("MSFT", 4 * S))))  # no AAPL quote yet, 4.9 s
    assert a.evaluate(reading(5.5, quote_ns=(("AAPL", -1), ("MSFT", 5 * S))))
    assert a.evaluate(reading(6, feed="down", quote_ns=(("AAPL", -1), ("MSFT", 6 * S))))
    assert not a.evaluate(reading(7, feed="stale", quote_ns=(("AAPL", -1), ("MSFT", 7 * S))))  # still not live
    assert [(v.symbol, v.text) for v in a.views] == [
        ("AAPL", "feed stale: no AAPL quote for 5.5 s"),
        ("", "feed down: trading paused"),
    ]
    assert not a.evaluate(reading(8, quote_ns=(("AAPL", 8 * S), ("MSFT", 8 * S))))  # quotes again: re-armed
    assert a.evaluate(reading(14, feed="stale", quote_ns=(("AAPL", 8 * S), ("MSFT", 14 * S))))
    assert [(v.symbol, v.name) for v in a.views[2:]] == [("", "feed_stale"), ("AAPL", "feed_stale")]


def test_queue_ahead_is_per_symbol_and_venue_and_re_arms_when_the_order_is_gone() -> None:
    a, _ = alerts(queue_ahead_above=1000)
    deep = (("AAPL", "NYSE", 1500), ("AAPL", "BZX", 900), ("MSFT", "NYSE", 2000))
    assert a.evaluate(reading(queue_ahead=deep))
    assert [(v.symbol, v.venue) for v in a.views] == [("AAPL", "NYSE"), ("MSFT", "NYSE")]
    assert a.views[0].text == "queue ahead: AAPL on NYSE 1,500 shares above 1,000"
    assert not a.evaluate(reading(2, queue_ahead=deep))
    assert not a.evaluate(reading(3, queue_ahead=(("MSFT", "NYSE", 2000),)))  # the AAPL order is gone
    assert a.evaluate(reading(4, queue_ahead=deep)) and a.counts == {"queue_ahead": 3}


def test_queue_maxima_takes_the_deepest_order_per_symbol_and_venue() -> None:
    orders = [
        Order(i, i, "AAPL", Side.BUY, 100, 100.0, venue, "best-price", 0, 100.0, queue_ahead=ahead)
        for i, (ahead, venue) in enumerate(((300, "NYSE"), (700, "NYSE"), (0, "BZX")))
    ]
    assert queue_maxima(orders) == (("AAPL", "NYSE", 700),)


def test_acknowledge_some_or_all_and_refuse_what_is_not_an_alert() -> None:
    a, _ = alerts(loss=1.0, queue_ahead_above=10)
    a.evaluate(reading(pnl_total=-5.0, queue_ahead=(("AAPL", "NYSE", 20), ("MSFT", "BZX", 30))))
    assert a.unacknowledged == 3
    assert a.acknowledge([2]) is None and [v.acknowledged for v in a.views] == [False, True, False]
    assert a.acknowledge([9]) == "no alert 9 (the last 100 are kept)"
    assert a.acknowledge("all") == "ids 'all': expected a list of alert ids"
    assert a.acknowledge([True]) is not None and a.unacknowledged == 2  # refused: nothing changed
    assert a.acknowledge(None) is None and a.unacknowledged == 0


def run_until_alert_then_ack(tmp_path: Path, name: str) -> Engine:
    """A short simulated session whose alerts fire at the first answers; the operator acknowledges the
    first ones at the end of the batch they fired in."""
    settings = make_settings(alerts__loss=0.01, alerts__latency_p99_us=1.0, alerts__latency_min_samples=1)
    engine = Engine(settings, tmp_path / name)
    sent: list[int] = []

    def operator(e: Engine) -> None:
        if not sent and e.alerts.views:  # on the engine thread: no wait for the next snapshot
            sent.extend(v.alert_id for v in e.alerts.views)
            e.submit(Command("ack_alerts", {"ids": list(sent)}))

    engine.on_batch.append(operator)
    engine.run()
    assert sent
    return engine


def test_a_session_journals_its_alerts_and_the_operator_acknowledges_them(tmp_path: Path) -> None:
    engine = run_until_alert_then_ack(tmp_path, "a")
    db = sqlite3.connect(tmp_path / "a" / "journal.sqlite")
    alerts_rows = db.execute(
        "select ts_ns, reason, venue, detail from events where kind = 'ALERT' order by id"
    ).fetchall()
    commands = db.execute("select reason, detail from events where kind = 'COMMAND'").fetchall()
    assert {r[1] for r in alerts_rows} >= {"loss", "latency_p99"}
    assert all(r[2] for r in alerts_rows if r[1] == "latency_p99")  # each names its venue
    ((reason, detail),) = commands
    assert reason == "accepted" and json.loads(detail)["command"] == "ack_alerts"
    acked = set(json.loads(detail)["args"]["ids"])
    snap = engine.snapshot
    assert snap is not None and len(snap.alerts) == len(alerts_rows)
    assert all(v.acknowledged == (v.alert_id in acked) for v in snap.alerts)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert sum(summary["alerts"].values()) == len(alerts_rows) and summary["alerts"] == engine.alerts.counts
    # on the session's clock, not the wall's: the same seed raises the same alerts at the same times
    run_until_alert_then_ack(tmp_path, "b")
    again = sqlite3.connect(tmp_path / "b" / "journal.sqlite")
    assert (
        again.execute("select ts_ns, reason, venue, detail from events where kind = 'ALERT' order by id").fetchall()
        == alerts_rows
    )


@pytest.mark.parametrize("level", ["quiet", "normal", "verbose"])
def test_headless_prints_each_alert_from_normal_on_and_the_summary_counts_them(tmp_path: Path, level: str) -> None:
    engine = Engine(make_settings(alerts__loss=0.01, alerts__latency_p99_us=1.0, alerts__latency_min_samples=1), None)
    out = io.StringIO()
    printer = HeadlessPrinter(engine, level, out)
    engine.run()
    assert engine.summary is not None
    printer.final(engine.summary)
    text = out.getvalue()
    lines = [line for line in text.splitlines() if "** ALERT " in line]
    assert len(lines) == (0 if level == "quiet" else engine.alerts.fired) and engine.alerts.fired > 1
    assert level == "quiet" or "** ALERT loss: P&L -$" in text
    counts = ", ".join(f"{name} {n:,}" for name, n in sorted(engine.alerts.counts.items()))
    assert f"Alerts {counts}" in " ".join(text.split())


def test_the_shipped_thresholds_stay_quiet_in_a_healthy_session(run_engine: Any) -> None:
    engine = run_engine(make_settings(session__duration_s=10, session__symbols="AAPL,MSFT,GOOGL"))
    assert engine.alerts.counts == {} and engine.summary is not None and engine.summary["alerts"] == {}


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[alerts]\nloss = -1\n", "alerts.loss", ">= 0"),
        ("[alerts]\nfill_rate_below = 1.5\n", "alerts.fill_rate_below", "<= 1"),
        ("[alerts]\nfill_rate_window_s = 0\n", "alerts.fill_rate_window_s", "> 0"),
        ("[alerts]\nqueue_ahead_above = 'deep'\n", "alerts.queue_ahead_above", "an integer"),
        ("[alerts]\nlatency_min_samples = 0\n", "alerts.latency_min_samples", ">= 1"),
        ("[alerts]\nlatency_p99_us_by_venue = 5\n", "alerts.latency_p99_us_by_venue", "a table of venue = number"),
        ("[alerts.latency_p99_us_by_venue]\nNYSE = -5\n", "alerts.latency_p99_us_by_venue.NYSE", ">= 0"),
        ("[alerts.latency_p99_us_by_venue]\nNYSX = 5000\n", "alerts.latency_p99_us_by_venue.NYSX", "configured venue"),
        ("[alerts]\nloud = true\n", "alerts.loud", "a known key of [alerts]"),
    ],
)
def test_bad_alert_settings_exit_2_naming_the_key_the_value_and_the_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, expected: str
) -> None:
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings({"config": str(cfg)}, environ={}, dotenv_path=None)
    assert err.value.key == key and err.value.source == str(cfg) and expected in str(err.value)
    assert main(["--no-ui", "--config", str(cfg), "--run-dir", str(tmp_path / "run")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and expected in lines[0]
    assert not (tmp_path / "run").exists()


def test_a_table_of_venue_thresholds_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "alerts.toml"
    cfg.write_text("[alerts.latency_p99_us_by_venue]\nNYSE = 5000\nBZX = 0\n")
    s = load_settings({"config": str(cfg)}, environ={}, dotenv_path=None)
    assert s.alerts.latency_p99_us_by_venue == {"NYSE": 5000.0, "BZX": 0.0}
    assert s.sources["alerts.latency_p99_us_by_venue"] == str(cfg) and s.alerts.loss == 10000.0
