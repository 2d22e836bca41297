"""What the learned routers read and answer, shared by the training environment and the live policy
(both build the observation from these; no JAX here, the live numpy path imports it).

Observation, layout version ``OBS_VERSION``, ``obs_dim(V)`` float32 values for ``V`` venues, in order:

- ``V`` eligibility (1.0 at the consolidated best price, else 0.0), then ``V`` displayed sizes
  against the parent (capped at 4) on the side we take from, then ``V`` on our side (where a post
  joins the queue; the two apart are the book imbalance);
- ``V`` log(measured round-trip EWMA / 100 µs), ``V`` log(last round trip / 100 µs), ``V``
  log(latency forecaster's forecast / 100 µs);
- ``V`` taker fees in ticks, then ``V`` dark fill shares: the censored-feedback learner's estimate
  (``routing/dark.py``, on ``DARK_LEVELS`` share levels) of the share of a whole parent each dark venue
  would fill, 1 before it is tried, 0 at a lit venue;
- the parent size / 100 and a constant 1.

DQN's action ``a = venue * len(CHOICES) + k`` does ``CHOICES[k]`` there: ``(post, share)``, take (an IOC at
the touch) or post (a POST_ONLY at our side's touch, cancelled after the strategy's time to live) that
share of the parent. A dark venue takes no posts (its post choices are masked: nothing shows on our side).

The latency forecaster reads a venue's last ``HISTORY`` round trips and its EWMA (moved by ``ALPHA``
per answer), as log ratios clipped to ±``CLIP``; its answer is clipped the same way.
"""

from __future__ import annotations

OBS_VERSION = 4  # 4: dark fill shares (3: displayed size on our side per venue; 2: the latency forecast)
DARK_LEVELS = 128  # share levels of the dark-pool learner behind the observation (a larger parent: flat beyond)
SIZE_FRACTIONS = (1.0, 0.5)  # DQN's size choices: the whole child, or half of it
CHOICES = tuple((post, share) for post in (False, True) for share in SIZE_FRACTIONS)  # per venue

HISTORY = 4  # the last round trips the forecaster reads
ALPHA = 0.1  # the EWMA's weight on a new answer, as the engine's latency monitor
CLIP = 6.0  # log ratios beyond e^6: a timeout against a 100 µs EWMA is ~e^9


def obs_dim(n_venues: int) -> int:
    """Length of the observation for ``n_venues`` venues (see the module docstring)."""
    return 8 * n_venues + 2
