"""Rejects and counts bad ticks before anyone can trade on them.

A tick is refused when a price is not finite, not positive or outside the configured price range,
the quote is crossed or locked, a size is not positive, its timestamp is older than the last
accepted tick (the engine is strictly time-ordered), it repeats its stream's last tick exactly, or
its mid is further than ``max_deviation`` from the symbol's last accepted mid. After
``reanchor_after`` consecutive deviation rejects in one symbol the new level is trusted, so a real
gap (a halt, a split, a bad first tick) cannot blind the engine for the rest of the session.
"""

from __future__ import annotations

import math

import numpy as np

from hft_console.settings import NormalizerSettings

REJECT_REASONS = (
    "non_finite", "non_positive", "crossed", "out_of_range", "bad_size", "out_of_order", "duplicate", "deviation",
)  # fmt: skip
OK = -1
MAX_REEVALUATIONS = 16  # per batch, before the rest is checked tick by tick


class Normalizer:
    def __init__(self, n_symbols: int, n_venues: int, cfg: NormalizerSettings, start_ns: int = 0) -> None:
        self.cfg = cfg
        self.n_venues = n_venues
        self.last_ts = start_ns
        self.last_tick: list[tuple[int, float, float, int, int] | None] = [None] * (n_symbols * n_venues)
        self.ref_mid: list[float] = [0.0] * n_symbols
        self.streak: list[int] = [0] * n_symbols
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
        cfg = self.cfg
        if not (cfg.min_price <= bid < ask <= cfg.max_price and bid_size > 0 and ask_size > 0):
            return self._reject(self._classify(bid, ask, bid_size, ask_size))
        if ts < self.last_ts:
            return self._reject(5)
        tick = (ts, bid, ask, bid_size, ask_size)
        if self.last_tick[stream] == tick:
            return self._reject(6)
        sym = stream // self.n_venues
        mid = (bid + ask) * 0.5
        ref = self.ref_mid[sym]
        if ref and abs(mid - ref) > cfg.max_deviation * ref:
            self.streak[sym] += 1
            if self.streak[sym] < cfg.reanchor_after:
                return self._reject(7)
            self.reanchors += 1
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
            good = (cfg.min_price <= bid) & (bid < ask) & (ask <= cfg.max_price) & (bsz > 0) & (asz > 0)
            if not good.all():
                bad = np.flatnonzero(~good)
                b, a = bid[bad], ask[bad]
                reason = np.select(
                    [~(np.isfinite(b) & np.isfinite(a)), (b <= 0) | (a <= 0), b >= a,
                     (b < cfg.min_price) | (a > cfg.max_price)],
                    [0, 1, 2, 3], 4,
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
        for s, j in zip(symbols.tolist(), (take.size - 1 - first_rev).tolist(), strict=True):
            i = int(take[j])
            self.ref_mid[s] = (float(bid[i]) + float(ask[i])) * 0.5
            self.streak[s] = 0
