"""A live feed that goes stale or down pauses trading by itself, journaled, and resumes when live."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hft_console.engine.engine import Engine
from hft_console.market.synthetic import SyntheticMarket
from tests.conftest import make_settings


class FlakyFeed(SyntheticMarket):
    """Synthetic quotes that report themselves stale from 1 s to 2 s and down from 3 s to 3.5 s."""

    label = "flaky"

    @property
    def feed_state(self) -> str:
        t = self.t_ns / 1e9
        return "stale" if 1 <= t < 2 else "down" if 3 <= t < 3.5 else "live"


def test_stale_or_down_feed_pauses_trading_and_live_resumes_it(tmp_path: Path) -> None:
    settings = make_settings(session__duration_s=5)
    market = FlakyFeed(list(settings.session.symbols), settings.venues, settings.market, 7)
    engine = Engine(settings, tmp_path / "r", market=market)
    engine.run()
    db = sqlite3.connect(tmp_path / "r" / "journal.sqlite")
    feed = db.execute("select ts_ns, reason from events where kind = 'FEED' order by id").fetchall()
    assert [r for _, r in feed] == ["live", "stale", "live", "down", "live"]  # the first: the feed at start
    _, (stale_at, _), (live_at, _), (down_at, _), (back_at, _) = feed
    during = db.execute(
        "select count(*) from orders where (ts_ns >= ? and ts_ns < ?) or (ts_ns >= ? and ts_ns < ?)",
        (stale_at, live_at, down_at, back_at),
    ).fetchone()[0]
    assert during == 0
    assert db.execute("select count(*) from orders where ts_ns >= ?", (back_at,)).fetchone()[0] > 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["orders"] > 0
    assert any("feed stale: trading paused" in text for _, _, text in engine.notes)


class StaleAtStart(SyntheticMarket):
    """A feed that is stale when the session starts (outside market hours) and live from 3 s."""

    label = "stale-at-start"

    @property
    def feed_state(self) -> str:
        return "stale" if self.t_ns < 3_000_000_000 else "live"


def test_a_feed_stale_at_start_pauses_trading_from_the_first_tick(tmp_path: Path) -> None:
    settings = make_settings(session__duration_s=5)
    market = StaleAtStart(list(settings.session.symbols), settings.venues, settings.market, 7)
    engine = Engine(settings, tmp_path / "r", market=market)
    engine.run()
    db = sqlite3.connect(tmp_path / "r" / "journal.sqlite")
    feed = db.execute("select ts_ns, reason from events where kind = 'FEED' order by id").fetchall()
    assert feed[0] == (0, "stale") and feed[1][1] == "live"
    assert db.execute("select count(*) from orders where ts_ns < ?", (feed[1][0],)).fetchone()[0] == 0
    assert db.execute("select count(*) from orders").fetchone()[0] > 0
