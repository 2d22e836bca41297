"""One rounding rule for money wherever it is shown, and limits written as people write them."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.text import Text

from hft_console import headless
from hft_console.engine.engine import Engine
from hft_console.money import dollars, money
from hft_console.ui import format as fmt
from hft_console.ui.app import ConsoleApp
from hft_console.ui.panes import StatusBar
from hft_console.ui.screens import LIMIT_UNITS, LimitEditor, limit_text
from tests.ui.conftest import wait_for


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-7.585, "-$7.59"),  # the console said -$7.59 and the printed summary -$7.58
        (-7.58500000001, "-$7.59"),  # float noise on either side of the half cent decides nothing
        (-7.58499999999, "-$7.59"),
        (7.585, "+$7.59"),
        (0.125, "+$0.13"),  # exactly representable halves go away from zero too
        (-0.004, "+$0.00"),  # never '-$0.00'
        (1234567.891, "+$1,234,567.89"),
    ],
)
def test_money_is_rounded_by_one_rule_everywhere(value: float, shown: str) -> None:
    assert money(value) == shown
    assert fmt.money(value).plain == shown  # the console
    assert headless.money(value, 0).strip() == shown  # the headless tape and summary
    recorded = round(value, 4)  # what summary.json keeps
    assert money(recorded) == shown


def test_the_headless_summary_and_summary_json_agree(finished_engine: Engine) -> None:
    assert finished_engine.run_dir is not None
    recorded = json.loads((finished_engine.run_dir / "summary.json").read_text())
    assert finished_engine.summary is not None
    out = io.StringIO()
    headless.HeadlessPrinter(finished_engine, "quiet", out).final(finished_engine.summary)
    printed = out.getvalue()
    assert money(recorded["pnl_total"]) in printed and money(recorded["pnl_realized"]) in printed
    assert money(recorded["fees"], signed=False) in printed
    assert "$ " not in printed and "- $" not in printed  # '$' sits next to its number


def test_compact_gauge_figures_follow_the_rule() -> None:
    assert fmt.compact(7.585, money=True) == "$8"
    assert fmt.compact(55_550, money=True) == "$55.6k"  # 55.55k: half away from zero
    assert fmt.compact(5e6) == "5.0M" and fmt.compact(-12_345) == "-12.3k"
    assert dollars(5e6) == "5,000,000.00"


async def test_the_limit_editor_writes_numbers_and_units_as_people_do(live_app: Any) -> None:
    app: ConsoleApp = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine_running)
        await pilot.press("l")
        editor = app.screen
        assert isinstance(editor, LimitEditor)
        options = " ".join(label for label, _ in editor._options())
        assert "e+" not in options
        assert "max_notional  (now $5,000,000)" in options and "max_position  (now 10,000 shares)" in options
        assert "max_orders_per_s  (now 200 orders/s)" in options and "(now 50 bps)" in options
        editor.query_one("#limit").value = "max_notional"  # type: ignore[attr-defined]
        await pilot.pause()
        current = str(editor.query_one("#current").content)  # type: ignore[attr-defined]
        assert "current $5,000,000 · hard cap $50,000,000\nunit: $ gross notional" in current
        await pilot.press(*"6,000,000", "enter")
        await wait_for(pilot, lambda: app.engine.risk.limits.max_notional == 6e6)
        status = app.query_one(StatusBar).content
        assert isinstance(status, Text) and "max_notional set to $6,000,000" in status.plain
        await pilot.press("q")
        if app.screen is not app.screen_stack[0]:
            await pilot.press("y")
        await wait_for(pilot, lambda: not app.engine_running)


def test_every_limit_has_a_unit() -> None:
    from hft_console.execution.risk import LIMIT_NAMES

    assert set(LIMIT_UNITS) == set(LIMIT_NAMES)
    assert limit_text("max_loss", 25_000.5) == "$25,000.50" and limit_text("max_order_qty", 1000) == "1,000 shares"
