"""Seeded randomness: one generator per component, derived from the run seed and the component's name,
and buffered draws from it (``Draws``) for per-order sampling without per-call numpy overhead.

Deriving by name (not by spawn order) keeps a component's stream unchanged when others are added.
"""

from __future__ import annotations

import math
import zlib

import numpy as np


def rng_for(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(name.encode())])


BLOCK = 1024


class Draws:
    """Normal and uniform draws, each from its own child stream of ``rng``: the values a caller gets
    depend only on how many it took, never on when a refill happened (so never on batch lengths)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._normal_rng, self._uniform_rng = rng.spawn(2)
        self._normal: list[float] = []
        self._uniform: list[float] = []

    def top_up(self, low: int = 64) -> None:
        """Refill between batches so a refill never lands on an order's decision path."""
        if len(self._normal) < low:
            self._normal = self._normal_rng.standard_normal(BLOCK).tolist()[::-1] + self._normal
        if len(self._uniform) < low:
            self._uniform = self._uniform_rng.random(BLOCK).tolist()[::-1] + self._uniform

    def normal(self) -> float:
        if not self._normal:
            self._normal = self._normal_rng.standard_normal(BLOCK).tolist()[::-1]
        return self._normal.pop()

    def uniform(self) -> float:
        if not self._uniform:
            self._uniform = self._uniform_rng.random(BLOCK).tolist()[::-1]
        return self._uniform.pop()

    def exponential(self, mean: float) -> float:
        return -mean * math.log1p(-self.uniform())
