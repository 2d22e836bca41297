"""One seeded generator per component, derived from the run seed and the component's name.

Deriving by name (not by spawn order) keeps a component's stream unchanged when others are added.
"""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(name.encode())])
