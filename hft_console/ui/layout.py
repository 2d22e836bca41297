"""Which panes the console shows, and how, for a terminal size: chosen from what each pane's content
needs (``Pane.needs``), so no row wraps and no pane is cut.

Two columns (``wide``) when the tape and heatmap fit the left and risk, router and P&L the right;
otherwise one column (``compact``). The trades tape and the risk pane are always shown; the others
join, most useful first, only where the height leaves the tape at least ``TAPE_MIN_ROWS`` trades.
The working-order blotter, while the operator has it open (key ``b``), joins the tape below it, or
takes the tape's place where the two do not both fit.
Below ``MIN_SIZE`` the console shows only what size it needs (``small``).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_SIZE = (80, 24)
CHROME_ROWS = 2  # the status line and the key line
RIGHT_SHARE = 0.4  # the right column's share of a wide screen, when its panes need less


@dataclass(frozen=True)
class Layout:
    kind: str  # wide | compact | small
    shown: frozenset[str]  # pane ids: tape, heatmap, risk, router, pnl, blotter
    right_width: int = 0  # wide only: the right column's columns


def plan(width: int, height: int, needs: dict[str, tuple[int, int]], blotter: bool = False) -> Layout:
    """The layout for a ``width`` x ``height`` terminal; ``needs`` maps each pane id to (columns, rows).
    ``blotter``: the operator has the blotter open (then ``needs["blotter"]`` is read)."""
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        return Layout("small", frozenset())
    body = height - CHROME_ROWS
    tape_w, tape_h = needs["tape"]
    blot_w, blot_h = needs["blotter"] if blotter else (0, 0)

    def top(room: int) -> tuple[set[str], int]:
        """The panes at the top of the tape's column and the rows they need, given ``room`` rows."""
        if not blotter:
            return {"tape"}, tape_h
        return ({"tape", "blotter"}, tape_h + blot_h) if tape_h + blot_h <= room else ({"blotter"}, blot_h)

    right_w = max(needs["risk"][0], needs["router"][0], needs["pnl"][0], round(width * RIGHT_SHARE))
    if width - right_w >= max(tape_w, blot_w, needs["heatmap"][0]) and needs["risk"][1] <= body:
        right, used = {"risk"}, needs["risk"][1]
        for pane in ("pnl", "router"):
            if used + needs[pane][1] <= body:
                right.add(pane)
                used += needs[pane][1]
        left, left_h = top(body)
        left |= {"heatmap"} if left_h + needs["heatmap"][1] <= body else set()
        return Layout("wide", frozenset(left | right), right_w)
    shown, used = top(body - needs["risk"][1])
    shown, used = shown | {"risk"}, used + needs["risk"][1]
    for pane in ("pnl", "heatmap", "router"):
        if used + needs[pane][1] <= body:
            shown.add(pane)
            used += needs[pane][1]
    return Layout("compact", frozenset(shown))
