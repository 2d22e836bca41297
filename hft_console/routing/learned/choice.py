"""The learned routers' greedy choice from their network's output, in plain Python: on one
observation a Python loop over a few dozen values costs less than numpy's per-call overhead. Held
equal to ``models.dqn.masked`` / ``models.ppo.decision`` (the jitted decisions) by
``tests/unit/test_learned_live.py`` and to the plain loops by ``tests/unit/test_decision_path.py``.
No JAX here."""

from __future__ import annotations

import math


def allowed_actions(
    mask: tuple[bool, ...], shows: tuple[bool, ...], choices: tuple[tuple[bool, float], ...]
) -> tuple[int, ...]:
    """DQN's allowed actions ``venue * len(choices) + k``, in increasing order: an eligible venue, and a
    post only where our side shows something (``shows``; never a dark venue)."""
    k = len(choices)
    return tuple(a for a in range(len(mask) * k) if mask[a // k] and (shows[a // k] or not choices[a % k][0]))


def best_q(q: list[float], allowed: tuple[int, ...]) -> int:
    """The first of ``allowed`` with the highest Q (a NaN is never chosen), or -1 when none is above
    -inf: the greedy argmax of ``models.dqn.masked``."""
    best, action = -math.inf, -1
    for a in allowed:
        value = q[a]
        if value > best:
            best, action = value, a
    return action


def decide_q(
    q: list[float], mask: tuple[bool, ...], shows: tuple[bool, ...], choices: tuple[tuple[bool, float], ...]
) -> tuple[int, float, bool]:
    """DQN: the allowed (``allowed_actions``) action with the highest Q (``best_q``). Returns (venue,
    share, post); ``ValueError`` when no venue is eligible."""
    action = best_q(q, allowed_actions(mask, shows, choices))
    if action < 0:
        raise ValueError("no eligible venue to route to")
    k = len(choices)
    post, share = choices[action % k]
    return action // k, share, post


def allocation(
    out: list[float], eligible: tuple[int, ...], shows: tuple[bool, ...], min_fraction: float
) -> tuple[int, float, bool]:
    """``decide_allocation`` given the eligible venues in venue order (``ValueError`` when none)."""
    venue = max(eligible, key=out.__getitem__)
    top = out[venue]
    total = sum([math.exp(out[v] - top) for v in eligible])
    return venue, min(1.0, max(min_fraction, 1.0 / total)), out[-1] > 0 and shows[venue]


def decide_allocation(
    out: list[float], mask: tuple[bool, ...], shows: tuple[bool, ...], min_fraction: float
) -> tuple[int, float, bool]:
    """PPO: the eligible venue with the largest share of the mean allocation, that share (at least
    ``min_fraction``), and a post when the split (the last output, after the ``V`` venue logits) is
    above 0 and our side shows something there. ``ValueError`` when no venue is eligible."""
    return allocation(out, tuple(v for v, ok in enumerate(mask) if ok), shows, min_fraction)
