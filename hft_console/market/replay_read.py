"""Reading a replay file (CSV or Parquet) into numpy columns, or a DataError naming file, row and column.

What users' tools write is read as meant: a UTF-8 byte-order mark (Excel's "CSV UTF-8"), UTF-16/32
with a byte-order mark, CRLF line ends, quoted fields, blank lines, extra or reordered columns,
spaces around header names, whole-number sizes written as floats (``300.0``, as pandas writes an
integer column with gaps), Parquet columns of any type that converts exactly (float32 prices,
int32 sizes, dictionary strings, decimals), and ``ts_ns`` as a typed time: a Parquet timestamp of
any unit, with or without a time zone (stored as UTC), a date, a time of day or a duration, or ISO
8601 text in a CSV. An integer ``ts_ns`` must be ns since the epoch (1990-2100) or ns of a session
starting within its first day; values that read as seconds, ms or µs since the epoch are refused
with the unit named (a session of a few µs with no orders is what they would give).
"""

from __future__ import annotations

import csv
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.market.source import DataError

COLUMNS = ("ts_ns", "symbol", "venue", "kind", "bid", "ask", "bid_size", "ask_size", "price", "size")
OPTIONAL_COLUMNS = ("side",)  # read where the file has them; a recording writes them
INT_COLUMNS = ("ts_ns", "bid_size", "ask_size", "size")
SIZE_COLUMNS = ("bid_size", "ask_size", "size")
FLOAT_COLUMNS = ("bid", "ask", "price")
TEXT_COLUMNS = ("symbol", "venue", "kind")
EPOCH_LO_S = 631_152_000  # 1990-01-01 UTC
EPOCH_HI_S = 4_102_444_800  # 2100-01-01 UTC
DAY_NS = 86_400 * 10**9
UNITS = (("seconds", 10**9), ("milliseconds", 10**6), ("microseconds", 10**3))
ISO_TIME = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))  # fmt: skip
TS_EXPECTED = "integer nanoseconds (or an ISO 8601 time)"
EXPECTED = {"ts_ns": TS_EXPECTED, **{c: "an integer" for c in SIZE_COLUMNS}, **{c: "a number" for c in FLOAT_COLUMNS}}
EXPECTED.update({c: "text" for c in TEXT_COLUMNS})
EXPECTED["side"] = "B, S, N or empty (or +1, -1, 0)"
#: a trade row's ``side`` text (stripped, upper case) -> the aggressor: +1 buyer, -1 seller, 0 unknown
SIDE_CODES = {"B": 1, "BUY": 1, "+1": 1, "1": 1, "S": -1, "SELL": -1, "-1": -1, "N": 0, "0": 0}


def arrow_types() -> dict[str, Any]:
    """Column -> pyarrow type of a replay file (and of a recording), optional columns included: int64,
    float64 or string."""
    import pyarrow as pa

    types = {c: pa.int64() for c in INT_COLUMNS}
    types.update({c: pa.float64() for c in FLOAT_COLUMNS})
    types.update({c: pa.string() for c in (*TEXT_COLUMNS, *OPTIONAL_COLUMNS)})
    return types


def side_codes(text: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``side`` texts (object array of str) as (aggressor int8 +1/-1/0, given mask, unreadable mask).

    Empty text is not given (the quote rule decides); text not in ``SIDE_CODES`` is unreadable."""
    values, inverse = np.unique(np.array([t.strip().upper() for t in text.tolist()], dtype=object),
                                return_inverse=True)  # fmt: skip
    given = np.array([v != "" for v in values.tolist()], dtype=bool)
    known = np.array([v == "" or v in SIDE_CODES for v in values.tolist()], dtype=bool)
    code = np.array([SIDE_CODES.get(v, 0) for v in values.tolist()], dtype=np.int8)
    inverse = inverse.reshape(-1)
    return code[inverse], given[inverse], ~known[inverse]


def _encoding(path: Path) -> str:
    """The text encoding its byte-order mark names; UTF-8 without one."""
    with path.open("rb") as fh:
        head = fh.read(4)
    return next((name for bom, name in BOMS if head.startswith(bom)), "utf-8")


class ReplayFile:
    """A replay file's columns as numpy arrays (``cols``) and, for messages, where each row is.

    ``cols``: ts_ns int64 ns; symbol, venue, kind object arrays of str ("" where empty); bid, ask,
    price float64 (NaN where empty); bid_size, ask_size, size int64 (-1 where empty or not finite);
    side, only where the file has the column, an object array of str ("" where empty; numbers as text).
    Raises DataError (exit 2) naming the file, and the row and column where there is one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"replay file {str(path)!r}"
        self.suffix = path.suffix.lower()
        self.encoding = "utf-8"
        self._lines: list[int] | None = None
        if not path.is_file():
            raise DataError("replay", f"{self.where}: no such file", 2)
        if self.suffix not in (".csv", ".parquet"):
            raise DataError("replay", f"{self.where}: expected a .csv or .parquet file", 2)
        import pyarrow as pa

        try:
            table = self._read_csv() if self.suffix == ".csv" else self._read_parquet()
        except (OSError, pa.ArrowException) as exc:
            raise DataError("replay", f"{self.where}: unreadable ({str(exc).splitlines()[0]})", 2) from None
        if table.num_rows == 0:
            raise DataError("replay", f"{self.where}: no rows", 2)
        self.cols = self._to_numpy(table)
        self._check_time_unit(self.cols["ts_ns"])

    def row(self, index: int) -> int:
        """Rows as a person counts them: CSV line numbers (header = 1), Parquet rows from 1."""
        if self.suffix != ".csv":
            return index + 1
        if self._lines is None:  # only for a message: blank lines and quoted line breaks move rows
            self._lines = [line for line, _ in self._records()]
        return self._lines[index] if index < len(self._lines) else index + 2

    def error(self, index: int, text: str) -> DataError:
        return DataError("replay", f"{self.where}: row {self.row(index)}: {text}", 2)

    # -- CSV -----------------------------------------------------------------------------------
    def _records(self) -> Any:
        """(line number, fields) of each data record, as pyarrow counts them (blank lines skipped);
        undecodable bytes come through as surrogate escapes."""
        with self.path.open(newline="", encoding=self.encoding, errors="surrogateescape") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            end = reader.line_num
            for fields in reader:
                start, end = end + 1, reader.line_num
                if fields:
                    yield start, fields

    def _read_csv(self) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.encoding = _encoding(self.path)
        header = self._header()
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            sep = next((s for s in (";", "\t", "|") if len(header) == 1 and s in header[0]), None)
            hint = f"the header is separated by {sep!r}: expected commas" if sep else f"expected {list(COLUMNS)}"
            raise DataError("replay", f"{self.where}: missing columns {missing}; {hint}", 2)
        types = arrow_types()
        types.update({c: pa.float64() for c in SIZE_COLUMNS})  # 300.0 is a size; 1.5 is refused below
        wanted = [*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in header)]
        read = pacsv.ReadOptions(
            column_names=header, skip_rows=1, encoding="utf8" if self.encoding == "utf-8-sig" else self.encoding
        )
        for ts_type in (pa.int64(), pa.timestamp("ns", tz="UTC"), pa.timestamp("ns")):
            types["ts_ns"] = ts_type
            convert = pacsv.ConvertOptions(column_types=types, include_columns=wanted)
            try:
                return pacsv.read_csv(self.path, read_options=read, convert_options=convert)
            except pa.ArrowInvalid:
                if ts_type == pa.int64() and not self._ts_is_text():
                    break
        raise DataError("replay", f"{self.where}: {self._first_bad_csv_row(header)}", 2)

    def _ts_is_text(self) -> bool:
        """Whether the first row's ts_ns is an ISO 8601 date and time rather than a number."""
        first = next(iter(self._records()), None)
        header = self._header()
        return (
            first is not None
            and "ts_ns" in header
            and len(first[1]) == len(header)
            and bool(ISO_TIME.match(first[1][header.index("ts_ns")]))
        )

    def _header(self) -> list[str]:
        """The column names, spaces around them dropped."""
        with self.path.open(newline="", encoding=self.encoding, errors="replace") as fh:
            return [name.strip() for name in next(csv.reader(fh), [])]

    def _first_bad_csv_row(self, header: list[str]) -> str:
        """pyarrow says what is wrong but not where: find the first offending row the slow way."""
        index = {name: i for i, name in enumerate(header)}
        iso = self._ts_is_text()
        zoned: bool | None = None  # ISO times: all with a zone offset, or all without (read as UTC)
        for line, fields in self._records():
            if len(fields) != len(header):
                return f"row {line}: expected {len(header)} fields, found {len(fields)} (truncated or malformed)"
            for name in COLUMNS:
                text = fields[index[name]].strip()
                if any("\udc80" <= ch <= "\udcff" for ch in text):
                    shown = text.encode("utf-8", "surrogateescape")
                    return f"row {line}: {name} = {shown!r}: not {self.encoding.upper()} text; expected UTF-8"
                if not text or name in TEXT_COLUMNS:
                    continue
                if name == "ts_ns" and iso:
                    try:
                        has_zone = datetime.fromisoformat(text).tzinfo is not None
                    except ValueError:
                        return f"row {line}: ts_ns = {text!r}: expected an ISO 8601 time"
                    zoned = has_zone if zoned is None else zoned
                    if has_zone != zoned:
                        return (
                            f"row {line}: ts_ns = {text!r}: expected a time {'with' if zoned else 'without'} a zone "
                            "offset, as the first row"
                        )
                elif not _parses(name, text):
                    return f"row {line}: {name} = {text!r}: expected {EXPECTED[name]}"
        return "a value the CSV reader cannot parse"

    # -- Parquet -------------------------------------------------------------------------------
    def _read_parquet(self) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = pq.read_schema(self.path).names
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise DataError("replay", f"{self.where}: missing columns {missing}; expected {list(COLUMNS)}", 2)
        wanted = [*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in names)]
        table = pq.read_table(self.path, columns=wanted)
        types = arrow_types()
        types.update({c: pa.float64() for c in SIZE_COLUMNS})
        return pa.table({c: self._parquet_column(table.column(c), c, types[c]) for c in wanted})

    def _parquet_column(self, col: Any, name: str, target: Any) -> Any:
        """The column cast exactly to ``target`` (typed times to int ns), or the first row that cannot be."""
        import pyarrow as pa

        arr = col.combine_chunks()
        if isinstance(arr.type, pa.DictionaryType):
            arr = arr.dictionary_decode()
        t = arr.type
        unit = None
        if name == "ts_ns":  # a typed time: to its own type in ns, then to the integer ns it holds
            unit = (
                pa.timestamp("ns", tz=t.tz) if pa.types.is_timestamp(t)
                else pa.timestamp("ns") if pa.types.is_date(t)
                else pa.time64("ns") if pa.types.is_time(t)
                else pa.duration("ns") if pa.types.is_duration(t)
                else None
            )  # fmt: skip
        elif name == "side" and (pa.types.is_integer(t) or pa.types.is_floating(t)):  # +1 / -1 / 0 as text
            unit = pa.int64()

        def convert(a: Any) -> Any:
            return a.cast(target) if unit is None else a.cast(unit).cast(pa.int64()).cast(target)

        try:
            return convert(arr)
        except pa.ArrowNotImplementedError:
            raise DataError(
                "replay", f"{self.where}: column {name} has type {arr.type}: expected {EXPECTED[name]}", 2
            ) from None
        except pa.ArrowInvalid:
            lo, hi = 0, len(arr)  # the first failing row: halve the range that holds it
            while hi - lo > 1:
                mid = (lo + hi) // 2
                try:
                    convert(arr.slice(lo, mid - lo))
                    lo = mid
                except pa.ArrowInvalid:
                    hi = mid
            try:
                value = arr[lo].as_py()
            except (OverflowError, ValueError):  # a time Python cannot hold: show what is stored
                value = arr.slice(lo, 1).cast(pa.int64())[0].as_py()
            raise self.error(lo, f"{name} = {value!r} ({arr.type}): expected {EXPECTED[name]}") from None

    # -- both ----------------------------------------------------------------------------------
    def _to_numpy(self, table: Any) -> dict[str, np.ndarray]:
        import pyarrow as pa

        out: dict[str, np.ndarray] = {}
        for name in (c for c in (*COLUMNS, *OPTIONAL_COLUMNS) if c in table.column_names):
            col = table.column(name)
            if name in TEXT_COLUMNS or name in OPTIONAL_COLUMNS:
                out[name] = np.array(col.fill_null("").to_pylist(), dtype=object)
            elif name == "ts_ns":
                if col.null_count:
                    raise self.error(int(np.flatnonzero(np.asarray(col.is_null()))[0]), "ts_ns is empty")
                out[name] = np.asarray(col.cast(pa.int64()), dtype=np.int64)
            elif name in SIZE_COLUMNS:
                x = np.asarray(col.fill_null(math.nan), dtype=np.float64)
                with np.errstate(invalid="ignore"):
                    bad = np.flatnonzero(np.isfinite(x) & ((x != np.round(x)) | (np.abs(x) >= 2.0**62)))
                if bad.size:
                    raise self.error(int(bad[0]), f"{name} = {float(x[bad[0]])!r}: expected an integer")
                out[name] = np.where(np.isfinite(x), x, -1).astype(np.int64)
            else:
                out[name] = np.asarray(col.fill_null(math.nan), dtype=np.float64)
        return out

    def _check_time_unit(self, ts: np.ndarray) -> None:
        """ns since the epoch, or ns of a session; anything else is refused, with the likely unit.

        The unit is judged on the bulk of the rows (1st to 99th percentile), so a late tick (stamped
        before its neighbours: the normaliser's to reject) or two cannot mislead it; a row outside
        the bulk's range altogether (epoch ns in a session file, or the reverse) is refused."""
        lo, hi = (int(q) for q in np.quantile(ts, [0.01, 0.99], method="nearest"))
        for unit, ns in UNITS:
            if EPOCH_LO_S * 10**9 // ns <= lo and hi <= EPOCH_HI_S * 10**9 // ns:
                k = int(np.argmax((ts >= lo) & (ts <= hi)))
                when = datetime.fromtimestamp(int(ts[k]) * ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                raise self.error(
                    k,
                    f"ts_ns = {int(ts[k])} reads as {unit} since the epoch ({when}), not nanoseconds; expected ns "
                    f"since the epoch or of a session (multiply by {ns:,}, or store a typed timestamp)",
                )
        epoch = (EPOCH_LO_S * 10**9, EPOCH_HI_S * 10**9, "ns since the epoch (1990-2100)")
        session = (-DAY_NS + 1, EPOCH_LO_S * 10**9 - 1, "ns of a session (from 0)")
        if epoch[0] <= lo and hi <= epoch[1]:
            first, last, what = epoch
        elif session[0] <= lo < DAY_NS and hi <= session[1]:
            first, last, what = session
        else:
            k = int(np.argmax((ts < session[0]) | ((ts > session[1]) & (ts < epoch[0])) | (ts > epoch[1])))
            if session[0] <= ts[0] <= session[1] or epoch[0] <= ts[0] <= epoch[1]:  # both kinds: the odd one out
                in_epoch = (ts >= epoch[0]) & (ts <= epoch[1])
                k = int(np.argmax(in_epoch != in_epoch[0]))
            raise self.error(
                k,
                f"ts_ns = {int(ts[k])}: expected integer ns since the epoch (1990-2100) or of a session (starting "
                "within its first day), all rows alike",
            )
        bad = np.flatnonzero((ts < first) | (ts > last))
        if bad.size:
            k = int(bad[0])
            raise self.error(k, f"ts_ns = {int(ts[k])}: expected {what}, as most rows are")


def _parses(name: str, text: str) -> bool:
    try:
        if name == "ts_ns":
            int(text)
        else:
            x = float(text)
            if name in SIZE_COLUMNS and math.isfinite(x) and x != round(x):
                return False
    except ValueError:
        return False
    return True
