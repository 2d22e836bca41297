"""Where a resting order goes: the posting rules (the taker routers decide where a take goes).

- ``best-rebate``: the lit venue that pays makers most (inverted venues charge makers, so they come
  last); ties to the shorter queue.
- ``shortest-queue``: the lit venue with the least displayed size at our price (a venue whose touch
  is worse than our price has none: we would be alone there); ties to the larger rebate.

A venue that is down (as far as its outages have been drawn), dark, or without a quote is never chosen.
A midpoint peg goes to a venue that offers them (a speed-bump venue with hidden midpoint liquidity).
"""

from __future__ import annotations

from hft_console.domain import Quote, VenueSpec

POSTING_RULES = ("best-rebate", "shortest-queue")


def queue_at(side: int, ticks: int, quote: Quote, inv_tick: float) -> int:
    """Displayed shares at ``ticks`` (our price in ticks) on our ``side`` of ``quote``: the touch's size
    there, 0 inside the touch; behind the touch the feed shows nothing, so a large number."""
    touch = round((quote[1] if side > 0 else quote[2]) * inv_tick)
    if touch == ticks:
        return quote[3] if side > 0 else quote[4]
    return 0 if side * (ticks - touch) > 0 else 1 << 40


def post_venue(
    rule: str, side: int, price: float, quotes: list[Quote | None], specs: list[VenueSpec], up: list[bool],
    inv_tick: float, peg: bool = False,
) -> int:  # fmt: skip
    """The venue index ``rule`` posts a ``side`` order at ``price`` on, or -1 when none can take it.
    ``quotes``: each venue's quote for the symbol; ``up``: whether each venue is reachable. ``peg``: a
    midpoint peg (``price`` its cap), for the venues that offer them (speed-bump venues with hidden
    midpoint liquidity), by rebate."""
    ticks = round(price * inv_tick)
    best, best_key = -1, (0.0, 0.0)
    for v, (q, spec) in enumerate(zip(quotes, specs, strict=True)):
        if q is None or spec.kind == "dark" or not up[v]:
            continue
        if peg:
            if spec.kind == "speed-bump" and spec.midpoint_share > 0 and (best < 0 or -spec.maker_rebate < best_key[0]):
                best, best_key = v, (-spec.maker_rebate, 0.0)
            continue
        # an order that would take on arrival is no post
        other = round((q[2] if side > 0 else q[1]) * inv_tick)
        if side * (ticks - other) >= 0:
            continue
        queue = float(queue_at(side, ticks, q, inv_tick))
        key = (-spec.maker_rebate, queue) if rule == "best-rebate" else (queue, -spec.maker_rebate)
        if best < 0 or key < best_key:
            best, best_key = v, key
    return best
