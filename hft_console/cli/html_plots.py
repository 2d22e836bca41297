"""The plots of the ``--html`` reports, drawn with matplotlib's object-oriented API (a ``Figure`` on
the SVG canvas: no pyplot, no GUI backend, no global figure state) and returned as inline ``<svg>``.

Imported only when ``--html`` is given: matplotlib takes a while to import. Every axis names its
unit; every group names its n; every interval names its method (the report's own: 1.96 standard
errors of the mean across scenarios).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

# Okabe-Ito, told apart with every common colour-vision deficiency; its yellow, too faint on white as a
# thin line, is grey here
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "1", "+", "x")  # one per router
_DECIMALS = re.compile(r"(\.\d\d)\d+")
MAX_THIN_LINES = 40  # scenario paths drawn per router; the median is always over all of them
# boxplot's keyword for a horizontal box: ``vert`` is deprecated from 3.10, ``orientation`` new in it
_HORIZONTAL: dict[str, Any] = (
    {"orientation": "horizontal"}
    if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10)
    else {"vert": False}
)
CI_METHOD = "95% interval of the mean: ± 1.96 standard errors across scenarios (normal approximation)"


def colour(i: int) -> str:
    """The ``i``-th series colour (cycles)."""
    return PALETTE[i % len(PALETTE)]


def to_svg(fig: Figure) -> str:
    """The figure as one ``<svg>`` element: text kept as text (small, searchable), no date stamp, ids
    fixed by a salt so that the same report draws the same bytes, coordinates to 1/100 pt."""
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "hft-console"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    # coordinates to 1/100 pt (matplotlib writes 1/1,000,000): a third of the bytes, the same picture
    return _DECIMALS.sub(r"\1", text[text.index("<svg") :])


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_facecolor("white")
    return fig


def _corners(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The polyline's points without those inside a flat stretch: the same line in fewer bytes (P&L
    stays flat between trades)."""
    keep = np.ones(y.size, dtype=bool)
    keep[1:-1] = (y[1:-1] != y[:-2]) | (y[1:-1] != y[2:])
    return x[keep], y[keep]


def pnl_distribution(pnl: dict[str, list[float]], ci95: dict[str, float]) -> str:
    """Per router (``pnl[router]``: each scenario's session P&L, $): a box (quartiles, whiskers to the
    furthest point within 1.5 IQR), every scenario as a dot, and the mean with its interval
    (``ci95[router]``, the report's half-width)."""
    names = list(pnl)
    fig = _figure(8.0, 1.0 + 0.55 * len(names))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # jitter only: the same picture for the same report
    ys = np.arange(len(names))[::-1]
    ax.boxplot([pnl[n] for n in names], positions=ys, **_HORIZONTAL, widths=0.5, showfliers=False,
               medianprops={"color": "#444444"}, boxprops={"color": "#888888"}, whiskerprops={"color": "#888888"},
               capprops={"color": "#888888"})  # fmt: skip
    for i, (name, y) in enumerate(zip(names, ys, strict=True)):
        values = np.asarray(pnl[name], dtype=float)
        ax.scatter(values, y + rng.uniform(-0.18, 0.18, values.size), s=16, alpha=0.6, color=colour(i), lw=0)
        ax.errorbar(values.mean(), y, xerr=ci95.get(name, 0.0), fmt="D", color="black", ms=5, capsize=4, lw=1.4)
    ax.set_yticks(ys, [f"{n}\nn={len(pnl[n])}" for n in names])
    ax.axvline(0.0, color="#bbbbbb", lw=0.8, zorder=0)
    ax.set_xlabel("session P&L per scenario, $ (marked to the consolidated mid at the end)")
    ax.set_title("P&L distribution per router: dots = scenarios, box = quartiles, ◆ = mean ± 95% CI", loc="left",
                 fontsize=10)  # fmt: skip
    return to_svg(fig)


def equity_curves(curves: dict[str, list[tuple[float, list[float]]]]) -> str:
    """Small multiples, one per router (``curves[router]``: per scenario, its simulated seconds and its
    P&L at evenly spaced points of them): each scenario thin (at most ``MAX_THIN_LINES``), the median
    over every scenario thick. Shared axes, so the routers compare at a glance."""
    names = list(curves)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = _figure(3.6 * cols, 2.6 * rows)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for i, name in enumerate(names):
        ax, runs = axes[i], curves[name]
        step = max(1, -(-len(runs) // MAX_THIN_LINES))
        for duration, path in runs[::step]:
            ax.plot(*_corners(np.linspace(0.0, duration, len(path)), np.asarray(path)), color=PALETTE[0], lw=0.6,
                    alpha=0.35)  # fmt: skip
        points = min(len(p) for _, p in runs)
        median = np.median(np.asarray([p[:points] for _, p in runs], dtype=float), axis=0)
        ax.plot(np.linspace(0.0, float(np.mean([d for d, _ in runs])), points), median, color="black", lw=2.0)
        drawn = f", {len(runs[::step])} drawn" if step > 1 else ""
        ax.set_title(f"{name} (n={len(runs)}{drawn})", fontsize=9, loc="left")
        ax.axhline(0.0, color="#bbbbbb", lw=0.8, zorder=0)
        ax.grid(alpha=0.25)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.supxlabel("session time, market seconds", fontsize=9)
    fig.supylabel("P&L, $", fontsize=9)
    fig.suptitle("equity curves: each scenario thin, the median across scenarios thick", fontsize=10, x=0.02,
                 ha="left")  # fmt: skip
    return to_svg(fig)


def fill_vs_latency(points: list[dict[str, Any]], venues: Sequence[str], routers: Sequence[str]) -> str:
    """One point per (router, venue) that sent shares: ``x`` the round trip's p50 (µs; the median across
    scenarios of each run's p50), a bar from there to the same median of p95s, ``y`` the fill rate
    (shares filled / sent, pooled over scenarios). Colour: venue; marker: router."""
    fig = _figure(8.5, max(4.6, 0.19 * (len(venues) + len(routers)) + 0.8))
    ax = fig.add_subplot()
    for p in points:
        v, r = venues.index(p["venue"]), routers.index(p["router"])
        ax.plot([p["p50"], p["p95"]], [p["fill_rate"]] * 2, color=colour(v), lw=1.2, alpha=0.7)
        ax.plot(p["p50"], p["fill_rate"], MARKERS[r % len(MARKERS)], color=colour(v), ms=7, mec="black", mew=0.5)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labels within a decade, too
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))  # 1,000 rather than 10^3
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("order round trip, µs (log): marker = median p50, bar to the median p95")
    ax.set_ylabel("fill rate (shares filled / sent)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.25, which="both")
    blank = ax.plot([], [], " ")[0]  # a legend row that is a heading
    handles = [blank, *(ax.plot([], [], "s", color=colour(i), ms=8)[0] for i in range(len(venues)))]
    handles += [blank, *(ax.plot([], [], MARKERS[i % len(MARKERS)], color="#666666", ms=7)[0]
                         for i in range(len(routers)))]  # fmt: skip
    labels = ["venue (colour)", *venues, "router (marker)", *routers]
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)
    ax.set_title("fill rate against round-trip latency, per venue (timeouts excluded from the round trip)",
                 loc="left", fontsize=10)  # fmt: skip
    return to_svg(fig)


def interval_panels(
    panels: dict[str, dict[str, tuple[float, float]]], order: Sequence[str], xlabel: str, title: str,
    highlight: dict[str, str] | None = None,
) -> str:  # fmt: skip
    """One panel per group (a regime), routers in ``order`` on a shared axis: ``panels[group][router]``
    is (mean, 95% half-width); a router missing from a group is left out there. ``highlight[group]``:
    a router drawn in orange (the best fixed rule)."""
    groups = list(panels)
    fig = _figure(3.4 * len(groups) + 1.6, 1.2 + 0.32 * len(order))
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False).ravel()
    ys = np.arange(len(order))[::-1]
    for ax, group in zip(axes, groups, strict=True):
        rows = panels[group]
        for name, y in zip(order, ys, strict=True):
            if name not in rows:
                continue
            mean, half = rows[name]
            c = (
                PALETTE[1]
                if highlight and highlight.get(group) == name
                else "black"
                if name == "oracle"
                else PALETTE[0]
            )
            ax.errorbar(mean, y, xerr=half, fmt="o", color=c, ms=4, capsize=3, lw=1.2)
        ax.set_title(group, fontsize=9, loc="left")
        ax.axvline(0.0, color="#bbbbbb", lw=0.8, zorder=0)
        ax.grid(alpha=0.25, axis="x")
        ax.set_xlabel(xlabel, fontsize=8)
    axes[0].set_yticks(ys, list(order), fontsize=8)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    return to_svg(fig)


def switch_regret(rows: dict[str, dict[str, float]], order: Sequence[str]) -> str:
    """Regret per decision before and after the switch (bps), the after figure with its interval."""
    fig = _figure(8.0, 1.2 + 0.32 * len(order))
    ax = fig.add_subplot()
    ys = np.arange(len(order))[::-1]
    for name, y in zip(order, ys, strict=True):
        r = rows[name]
        ax.plot(r["regret_before_bps"], y + 0.12, "o", color=PALETTE[0], ms=4)
        ax.errorbar(r["regret_after_bps"], y - 0.12, xerr=r["regret_after_bps_ci95"], fmt="s", color=PALETTE[5],
                    ms=4, capsize=3, lw=1.2)  # fmt: skip
    ax.set_yticks(ys, list(order), fontsize=8)
    ax.plot([], [], "o", color=PALETTE[0], label="before the switch")
    ax.errorbar([], [], xerr=[], fmt="s", color=PALETTE[5], label="after, ± 95% CI")
    fig.legend(fontsize=8, loc="outside lower center", ncols=2, frameon=False)
    ax.axvline(0.0, color="#bbbbbb", lw=0.8, zorder=0)
    ax.grid(alpha=0.25, axis="x")
    ax.set_xlabel("regret per decision against the oracle, bps (lower is better)")
    ax.set_title("regime switch: regret before and after a venue degrades", loc="left", fontsize=10)
    return to_svg(fig)
