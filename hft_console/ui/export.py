"""Key ``s``: what the operator sees, kept in the run directory beside the journal.

Three files per press, named by the wall-clock time of the press (UTC, to the millisecond):
``screen-<time>.svg`` (the console as drawn, Textual's SVG export), ``tape-<time>.csv`` (every fill
the journal holds so far, oldest first: the whole tape, not just the rows on screen) and
``blotter-<time>.csv`` (the working orders of the snapshot on screen, in the blotter's order).
"""

from __future__ import annotations

import csv
import dataclasses
import sqlite3
import time
from pathlib import Path

from hft_console.engine.snapshot import Snapshot, WorkingOrderView

TAPE_COLUMNS = ("ts_ns", "venue_ts_ns", "order_id", "symbol", "side", "qty", "price", "fee", "venue", "router",
                "liquidity", "trade_pnl", "total_pnl")  # fmt: skip
BLOTTER_COLUMNS = tuple(f.name for f in dataclasses.fields(WorkingOrderView))


def stamp(now: float | None = None) -> str:
    """The press's wall-clock time as a file-name part: 20261130T074512.345Z."""
    t = time.time() if now is None else now
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def save_views(run_dir: Path | None, svg: str, snap: Snapshot | None, when: str) -> list[Path]:
    """Write the screenshot, the tape and the blotter into ``run_dir``; the paths written. OSError when
    there is no run directory (a session that keeps nothing on disk) or a file cannot be written."""
    if run_dir is None:
        raise OSError("this session keeps nothing on disk (no run directory)")
    shot, tape, blotter = (run_dir / f"{kind}-{when}.{ext}" for kind, ext in
                           (("screen", "svg"), ("tape", "csv"), ("blotter", "csv")))  # fmt: skip
    shot.write_text(svg, encoding="utf-8")
    journal = run_dir / "journal.sqlite"
    rows: list[tuple[object, ...]] = []
    if journal.exists():  # read-only beside the engine's connection: what it has committed so far
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            rows = db.execute(f"SELECT {', '.join(TAPE_COLUMNS)} FROM fills ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            raise OSError(f"{journal}: {exc}") from None
        finally:
            db.close()
    with tape.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(TAPE_COLUMNS)
        out.writerows(rows)
    with blotter.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(BLOTTER_COLUMNS)
        out.writerows(dataclasses.astuple(o) for o in (snap.working if snap is not None else ()))
    return [shot, tape, blotter]


def save_note(run_dir: Path | None, svg: str, snap: Snapshot | None) -> str:
    """``save_views`` now, and what the status line says of it (what was saved where, or why not)."""
    try:
        saved = save_views(run_dir, svg, snap, stamp())
    except OSError as exc:
        return f"nothing saved: {exc.strerror or exc}"
    return f"saved {', '.join(p.name for p in saved)} in {saved[0].parent}"
