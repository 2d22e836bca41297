"""The JAX environment and the engine agree on what a MIXED policy gets: some children taken, some
posted, each as the router decides (issue 15).

A fixed, signal-free router (``FixedRouter``) alternates by decision count: even decisions post the
child at the lit venue paying makers most among those at the touch (``post-best-rebate``), odd ones take
it where the price is best (``best-price``); its "take" and "post" modes do only one or the other. In
the engine it is a routing ``Policy`` returning ``(venue, 1.0, post)``, installed in the session's
``RouterRunner``, so ``OrderFlow.route`` does what it does for a live learned router: a take goes out as
an IOC at the touch; a post rests as a POST_ONLY at that venue's own touch on our side, is cancelled
after the time to live (``cancel_after_ttl``, the TTL's cancel racing fills), and the router learns its
cost when it is done (``routed_post_done``). Parents come from ``Parents``, a strategy asking for
``order_qty`` shares of a random side every 30-80 ms of market time (seeded), nothing of the market's
signal: one child each (the touch always shows a lot of 100 or more). In the environment the same rule
is an ``EvalRouter``.

Held, engine against environment, per half (takes, posts): fill rate within 7 points (takes 4), time
to fill within 20% for takes (the median round trip: a latency spike swings a mean, as in
``test_env_consistency.py``) and 30% for posts (the mean), shortfall per share (misses
included) within 0.1 bps for takes and 0.15 for posts, and the same post share. Held on each side:
the mixed policy's takes fill and cost as the take-only policy's children, its posts as the post-only
policy's (the alternation is signal-free, so each half is a random half of the decisions), and its
figures overall are the average of the two. Why the posts' bounds are loose: ``test_env_posts.py``'s
docstring (the engine's market is heavy-tailed with clustered volatility on a 1 ms grid, two symbols at
two price levels, and its venues see the fair price only when they requote; the environment steps the
path in eight steps), and here, in addition, ``route`` posts at the chosen venue's own bid, a tick
behind the consolidated one for about 4% of the posts (a stale quote: they fill 40% of the time, after
about 70 ms), which the environment does not model: the engine's posts take 1.2-1.3 times as long to
fill (39 ms against 32). The takes' shortfall is the environment's 0.05-0.10 bps lower, as in
``test_env_consistency.py`` (no spread variation, no adverse selection there).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

from hft_console.domain import Liquidity, Order, OrderType
from hft_console.engine.engine import Engine
from hft_console.learn import env
from hft_console.learn.evaluate import EvalRouter, baseline, keep_state, rollout, scenario_params
from hft_console.rng import rng_for
from hft_console.routing import runner as runner_module
from hft_console.routing.baselines import BestPrice
from hft_console.routing.policy import Action, Observation, PolicySpec, Transition, eligible
from hft_console.settings import Settings
from hft_console.strategies.imbalance import ImbalanceStrategy
from tests.conftest import make_settings
from tests.integration.engine_posts import GAP_MS, session_settings

MODES = ("take", "post", "mixed")
Figures = dict[str, dict[str, float]]  # per half ("all", "take", "post"): figure name -> value
SEEDS = (1, 2, 3, 4)  # engine sessions are cheap (about a second each); the pooled halves are 800 children
PARENTS = 400  # per seed and mode


class FixedRouter:
    """A routing ``Policy``: ``mode`` "take" (best-price), "post" (best rebate among the lit venues at
    the touch, ties to the shorter queue on our side: ``routing/posting.py``'s rule) or "mixed" (post on
    even decisions, take on odd). ``rebate``: each venue's maker rebate ($/share), ``dark``: which
    venues are dark. Records every ``Transition`` it learns from."""

    name = "fixed-mixed"
    posts = True  # ``RouterRunner.may_post``: the per-tick pipeline and every batch's trade prints

    def __init__(self, mode: str, rebate: list[float], dark: list[bool]) -> None:
        self.mode, self.rebate, self.dark = mode, rebate, dark
        self.take = BestPrice()
        self.learned: list[Transition] = []

    def init(self, key: int, spec: PolicySpec) -> Any:
        return None

    def act(self, state: Any, obs: Observation, key: float) -> Action:
        post = self.mode == "post" or (self.mode == "mixed" and obs.decision % 2 == 0)
        lit = [v for v in eligible(obs) if not self.dark[v]]
        if post and lit:
            return min(lit, key=lambda v: (-self.rebate[v], obs.near_size[v])), 1.0, True
        return self.take.act(None, obs, key), 1.0, False

    def update(self, state: Any, transition: Transition) -> Any:
        self.learned.append(transition)
        return state

    def arm_stats(self, state: Any) -> dict[str, list[float]] | None:
        return None


class Parents(ImbalanceStrategy):
    """Every 30-80 ms of market time (seeded), a parent of ``order_qty`` shares of a random side on the
    symbol of the next book tick, routed by the engine (``on_book`` returns it); skipped while an order
    of ours works on that symbol-side and while the consolidated book is locked or crossed. Stops the
    session once ``n`` parents are sent and every order is done."""

    def __init__(self, engine: Engine, seed: int, n: int) -> None:
        super().__init__(len(engine.symbols), engine.settings.strategy)
        self.engine, self.flow = engine, engine.flow
        self.rng = rng_for(seed, "tests.engine_mixed")
        self.n, self.sent, self.next_ns = n, 0, 0
        self.rests = False  # the pipeline routes what ``on_book`` asks for (``OrderFlow.route``)

    def on_book(self, sym: int, t_ns: int, bid: float, bid_size: int, ask: float, ask_size: int, exposure: int) -> int:
        flow = self.flow
        if self.sent >= self.n:
            if not flow.working:
                self.engine.stop_requested = True
            return 0
        if t_ns < self.next_ns or not self.engine.accepting:
            return 0
        side = 1 if self.rng.random() < 0.5 else -1
        self.next_ns = t_ns + int(self.rng.uniform(*GAP_MS) * 1e6)
        if (flow.working_buy if side > 0 else flow.working_sell)[sym] or bid >= ask:
            return 0
        self.sent += 1
        return side * self.cfg.order_qty


@dataclasses.dataclass(slots=True)
class Child:
    order: Order
    fills: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (booked ns, shares)


def engine_children(settings: Settings, seed: int, n: int, mode: str) -> tuple[dict[str, np.ndarray], float]:
    """One engine session under ``FixedRouter(mode)``: per child, float64 arrays ``posted`` (0/1),
    ``qty``, ``filled``, ``time_to_fill_ms`` (decision to the last fill; NaN: none) and ``cost_bps`` (what
    the router learned: the child's shortfall against the decision mid, misses included); and the
    session's mean mid (the environment's price level)."""
    engine = Engine(session_settings(settings, seed, n), None)
    strategy = Parents(engine, seed, n)
    engine.strategy = engine.flow.strategy = engine.pipeline.strategy = engine.desk.strategy = strategy
    router = FixedRouter(mode, [v.maker_rebate for v in settings.venues], [v.kind == "dark" for v in settings.venues])
    with mock.patch.object(runner_module, "make_policy", lambda name: router):
        engine.flow.router.switch(router.name)
    children: dict[int, Child] = {}
    flow = engine.flow
    open_order, book_fill = flow.open_order, flow.book_fill

    def opened(sym: int, order: Order) -> None:
        children[order.order_id] = Child(order)
        open_order(sym, order)

    def booked(order: Order, sym: int, qty: int, price: float, fee: float, t_ns: int, venue_ns: int,
               liquidity: Liquidity) -> None:  # fmt: skip
        children[order.order_id].fills.append((t_ns, qty))
        book_fill(order, sym, qty, price, fee, t_ns, venue_ns, liquidity)

    flow.open_order, flow.book_fill = opened, booked  # type: ignore[method-assign]
    engine.run()
    assert strategy.sent == n, (mode, seed, strategy.sent)
    by_decision = {c.order.decision: c for c in children.values()}
    assert len(by_decision) == len(router.learned) == n, mode  # one child per parent, each learned from
    mids = []
    out: dict[str, list[float]] = {k: [] for k in ("posted", "qty", "filled", "time_to_fill_ms", "cost_bps")}
    for t in router.learned:
        c = by_decision[t.decision]
        o = c.order
        out["posted"].append(float(o.order_type is OrderType.POST_ONLY))
        out["qty"].append(float(t.qty))
        out["filled"].append(float(t.filled))
        out["time_to_fill_ms"].append((c.fills[-1][0] - o.ts_ns) / 1e6 if c.fills else math.nan)
        out["cost_bps"].append(t.cost_bps)
        mids.append(o.decision_mid)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}, float(np.mean(mids))


def figures(posted: np.ndarray, qty: np.ndarray, filled: np.ndarray, ttf: np.ndarray, cost: np.ndarray) -> Figures:
    """Fill rate (shares), mean and median time to fill (ms, children with a fill), shortfall (bps per
    share, misses included, share-weighted), post share and count, overall and per half."""
    out: Figures = {}
    for half, sel in (("all", np.ones_like(posted, bool)), ("take", posted == 0), ("post", posted == 1)):
        if not sel.any():
            continue
        q, f = qty[sel], filled[sel]
        out[half] = {
            "n": float(sel.sum()),
            "fill_rate": float(f.sum() / q.sum()),
            "time_to_fill_ms": float(np.mean(ttf[sel][f > 0])),
            "median_time_to_fill_ms": float(np.median(ttf[sel][f > 0])),
            "shortfall_bps": float((cost[sel] * q).sum() / q.sum()),
            "post_share": float(posted[sel].mean()),
        }
    return out


def engine_figures(mode: str) -> tuple[Figures, float]:
    """``figures`` of ``mode``'s children over the seeds' sessions, and their mean mid."""
    settings = make_settings(session__mode="production")
    runs = [engine_children(settings, seed, PARENTS, mode) for seed in SEEDS]
    o = {k: np.concatenate([r[0][k] for r in runs]) for k in runs[0][0]}
    price = float(np.mean([r[1] for r in runs]))
    return figures(o["posted"], o["qty"], o["filled"], o["time_to_fill_ms"], o["cost_bps"]), price


MODE_INDEX = {mode: i for i, mode in enumerate(MODES)}


def fixed_router(mode: jax.Array) -> EvalRouter:
    """``FixedRouter`` on the environment, ``mode`` an index into ``MODES`` (traced: one compile serves
    all three): post-best-rebate where it posts, best-price where it takes; mixed posts on even decisions."""
    post, take = baseline("post-best-rebate"), baseline("best-price")

    def act(state: Any, s: env.EnvState, obs: jax.Array, key: jax.Array, p: env.EnvParams) -> tuple[Any, ...]:
        _, at_post, _, _ = post.act(state, s, obs, key, p)
        _, at_take, _, _ = take.act(state, s, obs, key, p)
        posting = (mode == MODE_INDEX["post"]) | ((mode == MODE_INDEX["mixed"]) & (state % 2 == 0))
        return state + 1, jnp.where(posting, at_post, at_take), jnp.ones(()), posting

    return EvalRouter(lambda key: jnp.zeros((), jnp.int32), act, keep_state)


def env_figures(price: float) -> dict[str, Figures]:
    """Per mode, ``figures`` of 64 calm scenarios x 100 decisions (the same worlds for every mode)."""
    p = env.params_from_settings(make_settings(session__mode="production"), price=price)
    n = 64
    world, start = scenario_params(p, "calm", n, jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), n)
    run = jax.jit(lambda mode, w, k, s0: rollout(fixed_router(mode), w, k, 100, s0))
    out = {}
    for mode, i in MODE_INDEX.items():
        r = run(jnp.asarray(i), world, keys, start)
        ttf = np.where(np.asarray(r.filled) > 0, np.asarray(r.time_ms, dtype=np.float64), math.nan)
        arrays = (r.posted, r.qty, r.filled, ttf, r.shortfall_bps)
        out[mode] = figures(*(np.asarray(x).reshape(-1).astype(np.float64) for x in arrays))
    return out


BOUNDS = {  # engine against environment, per half: fill rate (points), time to fill (relative), shortfall (bps)
    "take": {"fill_rate": 0.04, "median_time_to_fill_ms": 0.20, "shortfall_bps": 0.10},
    "post": {"fill_rate": 0.07, "time_to_fill_ms": 0.30, "shortfall_bps": 0.15},
}
PREDICTED = {  # a mixed half against the pure policy on the same side (sampling noise: 1.5 points of fill rate)
    "take": {"fill_rate": 0.05, "median_time_to_fill_ms": 0.15, "shortfall_bps": 0.10},
    "post": {"fill_rate": 0.05, "time_to_fill_ms": 0.15, "shortfall_bps": 0.10},
}


def close(a: dict[str, float], b: dict[str, float], bounds: dict[str, float]) -> bool:
    """Whether figures ``a`` and ``b`` agree within ``bounds`` (times to fill relative, the others absolute)."""
    return all(
        abs(a[k] / b[k] - 1) <= bound if k.endswith("time_to_fill_ms") else abs(a[k] - b[k]) <= bound
        for k, bound in bounds.items()
    )


def test_environment_and_engine_agree_on_a_mixed_policy() -> None:
    engine, prices = {}, []
    for mode in MODES:
        engine[mode], price = engine_figures(mode)
        prices.append(price)
    environment = env_figures(float(np.mean(prices)))
    for mode in MODES:
        for half in engine[mode]:
            e, v = engine[mode][half], environment[mode][half]
            print(f"{mode:5s} {half:4s}", " ".join(f"{k} {e[k]:.4g}/{v[k]:.4g}" for k in e))  # engine/env
    for side in (engine, environment):
        assert side["take"]["all"]["post_share"] == 0.0 and side["post"]["all"]["post_share"] == 1.0
        assert side["mixed"]["all"]["post_share"] == 0.5
    # engine and environment agree, per half, for the pure policies and the mixed one
    for mode, half in (("take", "take"), ("post", "post"), ("mixed", "take"), ("mixed", "post")):
        assert close(engine[mode][half], environment[mode][half], BOUNDS[half]), (mode, half)
    for side in (engine, environment):
        # the mixed policy's halves are what the pure policies predict
        for half in ("take", "post"):
            assert close(side["mixed"][half], side[half][half], PREDICTED[half]), (half, side["mixed"])
        # and so is its whole: the average of the two (each half is half the children)
        for k in ("fill_rate", "shortfall_bps"):
            average = (side["take"]["all"][k] + side["post"]["all"][k]) / 2
            assert abs(side["mixed"]["all"][k] - average) <= PREDICTED["post"][k] / 2, k
