"""The consolidated book (NBBO) after every accepted tick of a batch, computed on arrays.

Per tick the NBBO is the best bid and ask over the symbol's venue quotes as they stand after that
tick, with the displayed size summed over every venue at the best price — what a per-tick loop over
the venues gives, here for a whole batch at once: each venue's quote is carried forward from the
tick that last set it (or from before the batch), then the best is taken across venues.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hft_console.domain import Quote


@dataclass(slots=True)
class BatchBook:
    index: np.ndarray  # batch positions of the accepted ticks
    sym: np.ndarray
    ts: np.ndarray
    bid: np.ndarray  # NBBO after the tick
    bid_size: np.ndarray
    ask: np.ndarray
    ask_size: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """Both sides quoted somewhere: the tick moves the mark and reaches the strategy."""
        return (self.bid_size > 0) & (self.ask_size > 0)


def batch_nbbo(
    accepted: np.ndarray,
    ts: np.ndarray,
    stream: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    bsz: np.ndarray,
    asz: np.ndarray,
    before: list[Quote | None],
    n_ven: int,
) -> BatchBook:
    """NBBO after each accepted tick; ``before`` is every stream's last accepted quote before the batch."""
    m = accepted.size
    st = stream[accepted]
    sym = st // n_ven
    start = np.array([(q[1], q[2], q[3], q[4]) if q else (0.0, np.inf, 0, 0) for q in before], dtype=float)
    fields = np.stack([bid[accepted], ask[accepted], bsz[accepted], asz[accepted]], axis=1)  # (m, 4)
    out = np.empty((m, 4))
    order = np.argsort(sym, kind="stable")
    lo = 0
    for s, hi in enumerate(np.cumsum(np.bincount(sym, minlength=len(before) // n_ven)).tolist()):
        if hi == lo:
            continue
        rows = order[lo:hi]  # this symbol's ticks, in time order
        k = rows.size
        ven = st[rows] - s * n_ven
        quotes = np.empty((n_ven, k, 4))
        for v in range(n_ven):
            # venue v's quote after each of the symbol's ticks: each of its updates held until the next
            sel = np.flatnonzero(ven == v)
            if sel.size == 0:
                quotes[v] = start[s * n_ven + v]
                continue
            held = np.diff(sel, append=k)
            quotes[v, : sel[0]] = start[s * n_ven + v]
            quotes[v, sel[0] :] = np.repeat(fields[rows[sel]], held, axis=0)
        b, a = quotes[:, :, 0], quotes[:, :, 1]
        best_bid, best_ask = b.max(axis=0), a.min(axis=0)
        out[rows, 0], out[rows, 2] = best_bid, best_ask
        out[rows, 1] = np.where(b == best_bid, quotes[:, :, 2], 0).sum(axis=0)
        out[rows, 3] = np.where(a == best_ask, quotes[:, :, 3], 0).sum(axis=0)
        lo = hi
    bid_size, ask_size = out[:, 1].astype(np.int64), out[:, 3].astype(np.int64)
    bid_size[out[:, 0] <= 0] = 0
    ask_size[~np.isfinite(out[:, 2])] = 0
    return BatchBook(accepted, sym, ts[accepted], out[:, 0], bid_size, out[:, 2], ask_size)
