"""Runs the active routing policy inside the engine and keeps per-router statistics for display."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from hft_console.rng import Draws
from hft_console.routing.learned.policy import LEARNED_NAMES
from hft_console.routing.models.checkpoint import CheckpointError
from hft_console.routing.policy import Observation, PolicySpec, Transition
from hft_console.routing.registry import FALLBACK_ROUTER, make_policy


class RouterStats:
    def __init__(self, n_venues: int, recent: int = 200) -> None:
        self.decisions = 0
        self.pulls = [0] * n_venues
        self.reward_sum = [0.0] * n_venues
        self.rewarded = [0] * n_venues
        self.recent: deque[int] = deque(maxlen=recent)

    def mean_reward(self) -> list[float | None]:
        return [s / n if n else None for s, n in zip(self.reward_sum, self.rewarded, strict=True)]

    def recent_share(self, n_venues: int) -> list[float]:
        total = len(self.recent)
        counts = [0] * n_venues
        for v in self.recent:
            counts[v] += 1
        return [c / total if total else 0.0 for c in counts]


Measured = tuple[tuple[float, ...], tuple[float, ...]]  # round-trip EWMA and latest round trip per venue
Built = tuple[str, Any, Any, list[str]]  # name, policy, state, warnings


class RouterRunner:
    def __init__(self, name: str, spec: PolicySpec, draws: Draws, seed: int, background: bool = False) -> None:
        """``background``: a learned router asked for mid-session is built (checkpoint, compile, warm-up)
        on a thread while the current router keeps routing — on the wall clock, where the engine must
        not stop; on the simulated clock it is built at once, so sessions stay reproducible."""
        self.spec, self.draws, self.seed, self.background = spec, draws, seed, background
        self.stats: dict[str, RouterStats] = {}
        self.inference_ns: list[int] = []
        self.name = ""
        self.state: Any = None
        self.warnings: list[str] = []
        self.wanted = name
        self._ready: list[tuple[str, Built]] = []  # (the router asked for, what was built for it)
        self._lock = threading.Lock()
        self._closed = False
        self.switch(name)

    def _build(self, name: str) -> Built:
        """A learned router that cannot be built (its checkpoint missing, corrupt or mismatched, or
        anything else failing while it loads) is replaced by the fallback router, with a warning:
        never a crash, and never a background load that silently never ends."""
        warnings = []
        try:
            policy = make_policy(name)
            state = policy.init(self.seed, self.spec)
        except Exception as exc:
            why = str(exc) if isinstance(exc, CheckpointError) else f"failed to load ({type(exc).__name__}: {exc})"
            warnings.append(f"router {name}: {why}; routing with {FALLBACK_ROUTER} instead")
            name = FALLBACK_ROUTER
            policy = make_policy(name)
            state = policy.init(self.seed, self.spec)
        return name, policy, state, warnings

    def request(self, name: str, measured: Measured | None = None) -> str | None:
        """Make ``name`` the active router: at once, or — a learned router in the background mode —
        once it is built (``poll``). Returns a note for the operator when it is not at once."""
        self.wanted = name
        if not self.background or name not in LEARNED_NAMES:
            self.switch(name, measured)
            return None

        def build() -> None:
            built = self._build(name)
            with self._lock:
                if not self._closed:
                    self._ready.append((name, built))
                    return
            _close(built[1])  # the session ended while it was being built

        threading.Thread(target=build, name=f"load-{name}", daemon=True).start()
        return f"loading {name}; {self.name} routes until it is ready"

    def poll(self, measured: Measured | None = None) -> bool:
        """Install the router built in the background if it is still the one wanted (engine thread,
        between batches); True when the active router changed."""
        if not self._ready:
            return False
        with self._lock:
            ready, self._ready = self._ready, []
        changed = False
        for asked, built in ready:
            if asked == self.wanted and not changed:
                self._install(*built, measured=measured)
                changed = True
            else:  # asked for something else meanwhile
                _close(built[1])
        return changed

    def switch(self, name: str, measured: Measured | None = None) -> None:
        """Make ``name`` the active router now. ``measured``: the session's round trips so far, for a
        router switched to mid-session."""
        self.wanted = name
        self._install(*self._build(name), measured=measured)

    def _install(self, name: str, policy: Any, state: Any, warnings: list[str], measured: Measured | None) -> None:
        self.warnings.extend(warnings)
        seed = getattr(policy, "seed_latency", None)
        if measured is not None and seed is not None:
            seed(*measured)
        if getattr(self, "policy", None) is not None:
            self.close()
        self.policy, self.state, self.name = policy, state, name
        self.stats.setdefault(name, RouterStats(len(self.spec.venues)))

    def between_batches(self) -> None:
        """Once per market batch: a learned router keeps its decision path in the caches between
        sparse decisions, and starts its threaded online learner (``LearnedPolicy.between_batches``)."""
        hook = getattr(self.policy, "between_batches", None)
        if hook is not None:
            hook()

    def learn_due(self) -> None:
        """A learned router's inline online update, when one is due (see ``LearnedPolicy.learn_due``)."""
        learn = getattr(self.policy, "learn_due", None)
        if learn is not None:
            learn()

    def close(self) -> None:
        """Stop the active policy's background learning, if any."""
        _close(self.policy)

    def shut_down(self) -> None:
        """The session is over: the active router and any built in the background stop learning."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
        for _, built in ready:
            _close(built[1])
        self.close()

    def online_stats(self) -> dict[str, Any] | None:
        """The learned router's online fine-tuning figures, or None (off, or another router)."""
        stats = getattr(self.policy, "online_stats", None)
        return stats() if stats is not None else None

    @property
    def meta(self) -> dict[str, Any]:
        """The active policy's checkpoint metadata (``trained_at``, training figures); empty for a bandit
        or a baseline."""
        return dict(getattr(self.policy, "meta", {}))

    @property
    def backend(self) -> str:
        """What computes the decisions: ``jit`` or ``numpy`` for a learned router, else ``numpy``."""
        return str(getattr(self.policy, "backend", "numpy"))

    @property
    def may_post(self) -> bool:
        """Whether the router in use may post children (a learned router whose actions include posts)."""
        return bool(getattr(self.policy, "posts", False))

    @property
    def decisions(self) -> int:
        return self.stats[self.name].decisions

    def choose(self, obs: Observation) -> tuple[int, float, bool]:
        """The venue, the share of the remaining quantity to send there, and whether to post it (rather
        than take). ``obs.decision`` must be ``self.decisions`` (round-robin turns on it)."""
        stats = self.stats[self.name]
        key = self.draws.uniform()
        started = time.perf_counter_ns()
        action = self.policy.act(self.state, obs, key)
        self.inference_ns.append(time.perf_counter_ns() - started)
        if isinstance(action, tuple):
            venue, fraction, post = action if len(action) == 3 else (*action, False)
        else:
            venue, fraction, post = action, 1.0, False
        stats.decisions += 1
        stats.pulls[venue] += 1
        stats.recent.append(venue)
        return venue, fraction, post

    def learn(self, router: str, transition: Transition) -> None:
        stats = self.stats[router]
        stats.reward_sum[transition.venue] += transition.reward
        stats.rewarded[transition.venue] += 1
        record = getattr(self.policy, "record_answer", None)
        if record is not None:
            record(transition.venue, transition.latency_us)
        if router == self.name:
            self.state = self.policy.update(self.state, transition)


def _close(policy: Any) -> None:
    close = getattr(policy, "close", None)
    if close is not None:
        close()
