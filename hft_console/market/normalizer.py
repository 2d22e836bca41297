"""Rejects and counts bad ticks before anyone can trade on them.

A tick is refused when a price is not finite, not positive or outside the configured price range,
the quote is crossed or locked, its spread is wider than ``max_spread`` of its mid (an empty level's
placeholder price, a stub quote: such a quote says nothing about where the price is), a size is not
positive, its timestamp is older than the last accepted tick (the engine is strictly time-ordered),
it repeats its stream's last tick exactly, or its mid is further than ``max_deviation`` from the
symbol's last accepted mid.

The reference mid is never taken on trust. After ``reanchor_after`` consecutive deviation rejects in
one symbol the new level is trusted, so a real gap (a halt, a split) cannot blind the engine for the
rest of the session; and an anchor no later tick has agreed with yet (the symbol's first tick, or
the tick that re-anchored) gives way at once to two deviation rejects in a row that agree with each
other: a bad first tick costs one good quote, not ``reanchor_after``.

Trade prints (``check_trades``) are held to the same rules: price finite, positive and in range,
size positive, and within ``max_deviation`` of the symbol's last accepted mid.
"""

from __future__ import annotations

import math

import numpy as np

from hft_console.domain import Quote
from hft_console.settings import NormalizerSettings

REJECT_REASONS = (
    "non_finite", "non_positive", "crossed", "out_of_range", "bad_size", "out_of_order", "duplicate", "deviation",
    "wide_spread",
)  # fmt: skip
WIDE = 8
OK = -1
MAX_REEVALUATIONS = 16  # per batch, before the rest is checked tick by tick


class Normalizer:
    def __init__(self, n_symbols: int, n_venues: int, cfg: NormalizerSettings, start_ns: int = 0) -> None:
        self.cfg = cfg
        # the per-tick check's bounds, read once (settings are frozen); spread against bid + ask = 2 mid
        self._limits = (cfg.min_price, cfg.max_price, cfg.max_spread * 0.5, cfg.max_deviation)
        self.n_venues = n_venues
        self.last_ts = start_ns
        self.last_tick: list[Quote | None] = [None] * (n_symbols * n_venues)
        self.ref_mid: list[float] = [0.0] * n_symbols
        self.streak: list[int] = [0] * n_symbols
        self.confirmed: list[bool] = [False] * n_symbols  # a later accepted tick agreed with the anchor
        self.dev_mid: list[float] = [0.0] * n_symbols  # mid of the symbol's last deviation reject
        self.rejected = [0] * len(REJECT_REASONS)
        self.accepted = 0
        self.reanchors = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected)

    def rejected_by_reason(self) -> dict[str, int]:
        return {r: c for r, c in zip(REJECT_REASONS, self.rejected, strict=True) if c}

    def check(self, ts: int, stream: int, bid: float, ask: float, bid_size: int, ask_size: int) -> int:
        """OK (-1) when the tick may be used, else the index of its reason in REJECT_REASONS."""
        lo, hi, spread, dev = self._limits
        if not (lo <= bid < ask <= hi and bid_size > 0 and ask_size > 0 and ask - bid <= spread * (bid + ask)):
            return self._reject(self._classify(bid, ask, bid_size, ask_size))
        if ts < self.last_ts:
            return self._reject(5)
        tick = (ts, bid, ask, bid_size, ask_size)
        if self.last_tick[stream] == tick:
            return self._reject(6)
        sym = stream // self.n_venues
        mid = (bid + ask) * 0.5
        ref = self.ref_mid[sym]
        if ref and abs(mid - ref) > dev * ref:
            prev = self.dev_mid[sym]
            # an anchor nothing has agreed with loses to two deviants in a row that agree with each other
            overrule = self.streak[sym] > 0 and not self.confirmed[sym] and abs(mid - prev) <= dev * prev
            self.streak[sym] += 1
            self.dev_mid[sym] = mid
            if self.streak[sym] < self.cfg.reanchor_after and not overrule:
                return self._reject(7)
            self.reanchors += 1
            self.confirmed[sym] = False
        else:
            self.confirmed[sym] = ref != 0
        self.streak[sym] = 0
        self.ref_mid[sym] = mid
        self.last_tick[stream] = tick
        self.last_ts = ts
        self.accepted += 1
        return OK

    def _classify(self, bid: float, ask: float, bid_size: int, ask_size: int) -> int:
        if not (math.isfinite(bid) and math.isfinite(ask)):
            return 0
        if bid <= 0 or ask <= 0:
            return 1
        if bid >= ask:
            return 2
        if bid < self.cfg.min_price or ask > self.cfg.max_price:
            return 3
        if bid_size > 0 and ask_size > 0:
            return WIDE
        return 4

    def _reject(self, reason: int) -> int:
        self.rejected[reason] += 1
        return reason

    def check_batch(
        self, ts: np.ndarray, stream: np.ndarray, bid: np.ndarray, ask: np.ndarray, bsz: np.ndarray, asz: np.ndarray
    ) -> np.ndarray:
        """``check`` for a whole batch at once, with the very same verdicts and end state.

        The stateless tests run on arrays. The stateful ones (order, duplicate, deviation) are
        evaluated on arrays as if every earlier tick were accepted; up to the first tick they reject
        that assumption holds, so that prefix is accepted in one step, the rejected tick goes through
        ``check``, and the rest is evaluated again. Stateful rejects are rare, so this loops a few times
        per batch at most. Returns per tick OK (-1) or the reason index.
        """
        cfg = self.cfg
        n = ts.size
        verdict = np.full(n, OK, dtype=np.int64)
        with np.errstate(invalid="ignore"):
            good = sane_quotes(bid, ask, bsz, asz, cfg)
            if not good.all():
                bad = np.flatnonzero(~good)
                b, a = bid[bad], ask[bad]
                reason = np.select(
                    [~(np.isfinite(b) & np.isfinite(a)), (b <= 0) | (a <= 0), b >= a,
                     (b < cfg.min_price) | (a > cfg.max_price), (bsz[bad] > 0) & (asz[bad] > 0)],
                    [0, 1, 2, 3, WIDE], 4,
                )  # fmt: skip
                verdict[bad] = reason
                for r, c in zip(*np.unique(reason, return_counts=True), strict=True):
                    self.rejected[int(r)] += int(c)
        cand = np.flatnonzero(good)
        n_ven = self.n_venues
        rounds = 0
        while cand.size:
            rounds += 1
            if rounds > MAX_REEVALUATIONS:  # rejects are dense here: each re-evaluation would cost O(batch)
                for k in cand.tolist():
                    verdict[k] = self.check(
                        int(ts[k]), int(stream[k]), float(bid[k]), float(ask[k]), int(bsz[k]), int(asz[k])
                    )
                break
            first = self._first_stateful_reject(ts, stream, bid, ask, bsz, asz, cand)
            take = cand[:first]
            if take.size:
                self._accept_all(ts, stream, bid, ask, bsz, asz, take, n_ven)
            if first >= cand.size:
                break
            k = int(cand[first])
            verdict[k] = self.check(int(ts[k]), int(stream[k]), float(bid[k]), float(ask[k]), int(bsz[k]), int(asz[k]))
            cand = cand[first + 1 :]
        return verdict

    def _first_stateful_reject(
        self, ts: np.ndarray, stream: np.ndarray, bid: np.ndarray, ask: np.ndarray, bsz: np.ndarray,
        asz: np.ndarray, cand: np.ndarray,
    ) -> int:  # fmt: skip
        """Index into ``cand`` of the first tick ``check`` would reject, if all before it are accepted."""
        t = ts[cand]
        prev_max = np.maximum.accumulate(np.concatenate(([self.last_ts], t[:-1])))
        flagged = t < prev_max
        st = stream[cand]
        b, a, s1, s2 = bid[cand], ask[cand], bsz[cand], asz[cand]
        # duplicate: equal to the same stream's previous accepted tick (in this batch or before it)
        order = np.argsort(st, kind="stable")
        same = np.concatenate(([False], st[order][1:] == st[order][:-1]))
        prev = np.empty(cand.size, dtype=np.int64)
        prev[order] = np.where(same, np.concatenate(([0], order[:-1])), -1)
        has_prev = prev >= 0
        dup = np.zeros(cand.size, dtype=bool)
        if has_prev.any():
            p = prev[has_prev]
            dup[has_prev] = (t[p] == t[has_prev]) & (b[p] == b[has_prev]) & (a[p] == a[has_prev]) & (
                s1[p] == s1[has_prev]) & (s2[p] == s2[has_prev])  # fmt: skip
        for i in np.flatnonzero(~has_prev):  # first of its stream: against the state before the batch
            last = self.last_tick[int(st[i])]
            dup[i] = last is not None and last == (t[i], b[i], a[i], s1[i], s2[i])
        flagged |= dup
        # deviation from the symbol's previous accepted mid
        sym = st // self.n_venues
        mid = (b + a) * 0.5
        order = np.argsort(sym, kind="stable")
        same = np.concatenate(([False], sym[order][1:] == sym[order][:-1]))
        ref = np.empty(cand.size)
        ref[order] = np.where(same, mid[order][np.maximum(np.arange(cand.size) - 1, 0)], np.nan)
        firsts = np.isnan(ref)
        ref[firsts] = np.array(self.ref_mid)[sym[firsts]]
        deviant = (ref != 0) & (np.abs(mid - ref) > self.cfg.max_deviation * ref)
        # a deviant tick is rejected, or accepted as the one that reanchors: ``check`` decides
        flagged |= deviant
        hits = np.flatnonzero(flagged)
        return int(hits[0]) if hits.size else cand.size

    def _accept_all(
        self, ts: np.ndarray, stream: np.ndarray, bid: np.ndarray, ask: np.ndarray, bsz: np.ndarray,
        asz: np.ndarray, take: np.ndarray, n_ven: int,
    ) -> None:  # fmt: skip
        """The state ``check`` leaves after accepting every tick of ``take`` in order."""
        st = stream[take]
        self.accepted += int(take.size)
        self.last_ts = int(ts[take[-1]])
        # the last accepted tick of each stream and the last mid of each symbol
        rev = st[::-1]
        streams, first_rev = np.unique(rev, return_index=True)
        for k, j in zip(streams.tolist(), (take.size - 1 - first_rev).tolist(), strict=True):
            i = int(take[j])
            self.last_tick[k] = (int(ts[i]), float(bid[i]), float(ask[i]), int(bsz[i]), int(asz[i]))
        syms = st // n_ven
        rev = syms[::-1]
        symbols, first_rev = np.unique(rev, return_index=True)
        counts = np.bincount(syms)
        for s, j in zip(symbols.tolist(), (take.size - 1 - first_rev).tolist(), strict=True):
            i = int(take[j])
            # the anchor is confirmed by any accepted tick after it: one before this run, or two in it
            self.confirmed[s] = self.ref_mid[s] != 0 or int(counts[s]) > 1
            self.ref_mid[s] = (float(bid[i]) + float(ask[i])) * 0.5
            self.streak[s] = 0


def sane_quotes(
    bid: np.ndarray, ask: np.ndarray, bsz: np.ndarray, asz: np.ndarray, cfg: NormalizerSettings | None
) -> np.ndarray:
    """Per quote: passes the normaliser's stateless tests (prices, sizes, spread; not order, duplicate or
    deviation). ``cfg`` None: only finite positive prices, bid below ask and positive sizes."""
    with np.errstate(invalid="ignore"):
        if cfg is None:
            ok: np.ndarray = (bid > 0) & (bid < ask) & (ask < np.inf) & (bsz > 0) & (asz > 0)
        else:
            ok = (cfg.min_price <= bid) & (bid < ask) & (ask <= cfg.max_price) & (bsz > 0) & (asz > 0) & (
                ask - bid <= cfg.max_spread * ((bid + ask) * 0.5))  # fmt: skip
    return ok


def check_trades(price: np.ndarray, size: np.ndarray, ref: np.ndarray, cfg: NormalizerSettings | None) -> np.ndarray:
    """Trade prints held to the quote rules: per print OK (-1) or the index of its reason in REJECT_REASONS.

    ``ref`` is the symbol's last accepted mid before each print (0: none yet, no deviation test);
    ``cfg`` None checks only that price and size are finite and positive.
    """
    with np.errstate(invalid="ignore"):
        conditions = [~np.isfinite(price), price <= 0]
        reasons = [0, 1]
        if cfg is not None:
            conditions.append((price < cfg.min_price) | (price > cfg.max_price))
            reasons.append(3)
        conditions.append(size <= 0)
        reasons.append(4)
        if cfg is not None:
            conditions.append((ref > 0) & (np.abs(price - ref) > cfg.max_deviation * ref))
            reasons.append(7)
        return np.select(conditions, reasons, OK).astype(np.int8)


def snap_to_tick(prices: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prices on the ``tick`` grid: (prices with representation noise snapped, snapped mask, off-grid mask).

    A price within float32 rounding of a grid price (one float32 ulp: 6e-5 at $585, 0.002 of a cent
    tick; never more than a quarter tick) is one a tool stored in 32 bits: it is snapped and counted.
    Within float64 noise (1e-9 of a tick, or 8 float64 ulps) a price is already on the grid and left as
    it is, so a recording replays bit for bit. Anything further (100.025 on a 0.01 grid) is off the
    grid. Prices that are not finite and positive are left to the normaliser and never flagged.
    """
    inv = 1.0 / tick
    exact = abs(inv - round(inv)) < 1e-9  # 0.01 -> 100: k / 100 is the correctly rounded decimal
    grid = np.rint(prices * round(inv)) / round(inv) if exact else np.rint(prices / tick) * tick
    with np.errstate(invalid="ignore", over="ignore"):
        dist = np.abs(prices - grid)
        usable = np.isfinite(prices) & (prices > 0)
        noise = np.maximum(1e-9 * tick, 8 * np.spacing(np.abs(prices)))
        ulp32 = np.spacing(np.abs(prices).astype(np.float32)).astype(np.float64)
        tol = np.fmin(np.maximum(ulp32, 1e-6 * tick), 0.25 * tick)
        snapped = usable & (dist > noise) & (dist <= tol)
        off = usable & (dist > tol) & (dist > noise)
    return np.where(snapped, grid, prices), snapped, off
