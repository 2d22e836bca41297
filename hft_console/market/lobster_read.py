"""Reading LOBSTER files (lobsterdata.com): message files and their orderbook files, by LOBSTER's naming.

A LOBSTER sample is a pair per symbol and day::

    {SYMBOL}_{YYYY-MM-DD}_{start_ms}_{end_ms}_message_{LEVELS}.csv
    {SYMBOL}_{YYYY-MM-DD}_{start_ms}_{end_ms}_orderbook_{LEVELS}.csv

Message columns (no header): time (seconds after midnight, New York time, to the ns), type, order id,
size (shares), price (US dollars x 10000), direction (1 a buy order, -1 a sell order; for an execution,
the side of the resting order that executed). Types: 1 submit, 2 partial cancel, 3 delete, 4 visible
execution, 5 hidden execution, 6 cross trade (auction), 7 trading halt (price -1 halted, 0 quoting
resumes, 1 trading resumes).

Orderbook columns: per level, ask price, ask size, bid price, bid size; row i is the book after message
i. An empty level reads 9999999999 (ask) or -9999999999 (bid) with size 0: a placeholder, never a price.

Errors: a missing file, a row with the wrong number of fields, a value that is not a number, an unknown
type or direction, a negative size or a visible price off the tick grid raise DataError (exit 2) naming
the file and the row (1-based, as an editor shows it).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from hft_console.market.source import DataError

NAME = re.compile(
    r"^(?P<symbol>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_message_(?P<levels>\d+)\.csv$"
)
BOOK_NAME = re.compile(r"_orderbook_(?P<levels>\d+)\.csv$")
ASK_EMPTY, BID_EMPTY = 9_999_999_999, -9_999_999_999
PRICE_UNIT = 10_000  # LOBSTER prices are dollars x 10000
TYPES = (1, 2, 3, 4, 5, 6, 7)
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(slots=True)
class LobsterFile:
    """One symbol-day: the message columns as arrays (n rows) and the orderbook (n x 4L, or None)."""

    path: Path
    symbol: str
    date: dt.date
    epoch_ns: int  # UTC epoch ns of midnight, New York time, on ``date``
    t_ns: np.ndarray  # int64, ns after midnight
    type: np.ndarray  # int8
    order_id: np.ndarray  # int64
    size: np.ndarray  # int64 shares
    price: np.ndarray  # int64 dollars x 10000
    direction: np.ndarray  # int8 +1 / -1
    book: np.ndarray | None  # int64 (n, 4 x levels)
    book_path: Path | None

    def error(self, row: int, text: str, book: bool = False) -> DataError:
        """DataError (exit 2) naming the file and the 1-based row."""
        path = self.book_path if book and self.book_path is not None else self.path
        return DataError("lobster", f"{path}: row {row + 1}: {text}", 2)


def message_files(path: Path) -> list[Path]:
    """The LOBSTER message files ``path`` names: itself, or every one in a folder (sorted). DataError."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if NAME.match(p.name))
        if not found:
            raise DataError("lobster", f"{path}: no LOBSTER message file (SYMBOL_DATE_START_END_message_N.csv)", 2)
        return found
    if not path.exists():
        raise DataError("lobster", f"{path}: no such file or folder", 2)
    if not NAME.match(path.name):
        raise DataError(
            "lobster", f"{path}: not a LOBSTER message file name; expected SYMBOL_YYYY-MM-DD_START_END_message_N.csv", 2
        )
    return [path]


MESSAGE_FIELDS = ("time", "type", "order id", "size", "price", "direction")


def _numbers(path: Path, columns: int, floats: tuple[int, ...] = ()) -> list[np.ndarray]:
    """The file's columns (pyarrow's CSV reader): float64 for those in ``floats``, exact int64 for the
    rest (order ids beyond 2**53 stay exact). DataError naming the first bad row (1-based, blank lines
    skipped)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(columns)]
    types = {n: pa.float64() if i in floats else pa.int64() for i, n in enumerate(names)}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, encoding="utf-8"),
            convert_options=pacsv.ConvertOptions(column_types=types),
        )
    except FileNotFoundError:
        raise DataError("lobster", f"{path}: no such file", 2) from None
    except OSError as exc:
        if not path.is_file():
            raise DataError("lobster", f"{path}: cannot read: {exc}", 2) from None
        table = None
    except pa.ArrowInvalid:
        table = None
    if table is not None and table.num_rows and all(c.null_count == 0 for c in table.columns):
        cols = [c.to_numpy() for c in table.columns]
        if not any(i in floats and not np.isfinite(c).all() for i, c in enumerate(cols)):
            return cols
    _find_bad_row(path, columns, floats)
    raise DataError("lobster", f"{path}: unreadable rows; expected {columns} comma-separated numbers per row", 2)


def _find_bad_row(path: Path, columns: int, floats: tuple[int, ...]) -> None:
    """Raises DataError naming the first row that is not ``columns`` numbers (the slow path, on error)."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataError("lobster", f"{path}: not UTF-8 text; expected LOBSTER's comma-separated numbers", 2) from None
    if not lines:
        raise DataError("lobster", f"{path}: empty; expected at least one row", 2)
    for i, line in enumerate(lines):
        fields = line.split(",")
        if len(fields) != columns:
            raise DataError("lobster", f"{path}: row {i + 1}: {len(fields)} fields; expected {columns}", 2)
        for j, text in enumerate(fields):
            name = MESSAGE_FIELDS[j] if columns == len(MESSAGE_FIELDS) else f"field {j + 1}"
            if j in floats:
                try:
                    ok = math.isfinite(float(text))
                except ValueError:
                    ok = False
                expected = "a number"
            else:
                try:
                    ok = abs(int(text.strip())) < 2**63
                except ValueError:
                    ok = False
                expected = "an integer (64-bit)"
            if not ok:
                raise DataError("lobster", f"{path}: row {i + 1}: {name} = {text.strip()!r}; expected {expected}", 2)


def read_lobster(message: Path, tick: float) -> LobsterFile:
    """One LOBSTER pair (the orderbook file is optional). ``tick``: the price grid in dollars (the
    symbol's minimum increment, ``market.tick_size``); a visible order's price must be on it."""
    m = NAME.match(message.name)
    if m is None:
        raise DataError("lobster", f"{message}: not a LOBSTER message file name", 2)
    try:
        date = dt.date.fromisoformat(m["date"])
    except ValueError:
        raise DataError("lobster", f"{message}: date {m['date']!r} in the name; expected YYYY-MM-DD", 2) from None
    midnight = dt.datetime.combine(date, dt.time(), NEW_YORK)
    epoch_ns = int(midnight.timestamp()) * 1_000_000_000
    t, typ, f_oid, f_size, f_price, direction = _numbers(message, 6, floats=(0,))
    book_path = message.with_name(message.name.replace("_message_", "_orderbook_"))
    if not book_path.exists():  # the same sample with an orderbook of another depth
        others = sorted(message.parent.glob(message.name.split("_message_")[0] + "_orderbook_*.csv"))
        book_path = others[0] if len(others) == 1 else book_path
    f = LobsterFile(message, m["symbol"], date, epoch_ns, np.zeros(0, np.int64), np.zeros(0, np.int8),
                    f_oid, f_size, f_price, np.zeros(0, np.int8), None,
                    book_path if book_path.exists() else None)  # fmt: skip
    bad = np.flatnonzero((t < 0) | (t > 86_400 * 2))
    if bad.size:
        raise f.error(int(bad[0]), f"time = {float(t[bad[0]]):g}; expected seconds after midnight")
    f.t_ns = np.rint(t * 1e9).astype(np.int64)
    bad = np.flatnonzero(~np.isin(typ, TYPES))
    if bad.size:
        raise f.error(int(bad[0]), f"type = {typ[bad[0]]}; expected one of 1-7 (LOBSTER message types)")
    f.type = typ.astype(np.int8)
    halt = f.type == 7
    bad = np.flatnonzero(~halt & ~np.isin(direction, (1, -1)))
    if bad.size:
        raise f.error(int(bad[0]), f"direction = {direction[bad[0]]}; expected 1 (buy) or -1 (sell)")
    f.direction = direction.astype(np.int8)
    trade = ~halt & (f.type != 6)
    bad = np.flatnonzero((f.size < 0) | (trade & (f.size == 0)))
    if bad.size:
        raise f.error(int(bad[0]), f"size = {f.size[bad[0]]}; expected a positive number of shares")
    bad = np.flatnonzero(trade & (f.price <= 0))
    if bad.size:
        raise f.error(int(bad[0]), f"price = {f.price[bad[0]]}; expected a positive price (dollars x 10000)")
    unit = tick * PRICE_UNIT
    if tick > 0 and abs(unit - round(unit)) < 1e-9:
        visible = np.isin(f.type, (1, 2, 3, 4))
        bad = np.flatnonzero(visible & (f.price % round(unit) != 0))
        if bad.size:
            raise f.error(
                int(bad[0]),
                f"price = {f.price[bad[0]]} (${f.price[bad[0]] / PRICE_UNIT:g}) is off the {tick:g} tick grid "
                "(market.tick_size); expected a multiple of the tick: set market.tick_size to the symbol's tick",
            )
    if f.book_path is not None:
        f.book = _read_book(f)
    return f


def _read_book(f: LobsterFile) -> np.ndarray:
    assert f.book_path is not None
    m = BOOK_NAME.search(f.book_path.name)
    levels = int(m["levels"]) if m else 1
    book = np.column_stack(_numbers(f.book_path, 4 * levels))
    if len(book) != len(f.t_ns):
        raise DataError(
            "lobster",
            f"{f.book_path}: {len(book)} rows; expected one per message ({len(f.t_ns)} in {f.path.name})",
            2,
        )
    sizes = book[:, 1::2]
    bad = np.flatnonzero((sizes < 0).ravel())
    if bad.size:
        raise f.error(int(bad[0]) // sizes.shape[1], "a negative size; expected shares >= 0", book=True)
    return book
