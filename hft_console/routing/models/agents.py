"""Loading a DQN or PPO checkpoint for a venue set: ``checkpoint.load``'s checks with this version's
observation layout, plus the latency forecaster the agent was trained beside, which must be the one in
the same directory (its observation carries that forecaster's forecasts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hft_console.routing.models import checkpoint, latency
from hft_console.routing.models.checkpoint import CheckpointError, Params
from hft_console.routing.models.layout import OBS_VERSION, obs_dim


def load_agent(directory: Path, agent: str, venues: list[str]) -> tuple[Params, dict[str, Any]]:
    """``(params, meta)`` of ``agent`` ("dqn" or "ppo") in ``directory`` for ``venues``. Raises
    ``CheckpointError`` (one line: what is wrong and how to retrain) when it is missing, corrupt,
    made for another layout or venue set, or trained beside another latency forecaster."""
    params, meta = checkpoint.load(directory, agent, venues, obs_dim(len(venues)), OBS_VERSION)
    wanted = meta.get("latency_fingerprint")
    if wanted is not None:
        found = latency.fingerprint(latency.shared_weights(directory))
        if found != wanted:
            raise CheckpointError(
                f"{directory / (agent + '.json')}: trained with latency forecaster {wanted}, {directory} has "
                f"{found} (retrain: hft-console train --agent {agent})"
            )
    return params, meta


def seed_name(agent: str, seed: int) -> str:
    """The checkpoint name of ``agent`` trained with one more seed (``train --seeds N``): ``dqn.seed43``."""
    return f"{agent}.seed{seed}"


def seed_names(directory: Path, agent: str) -> list[str]:
    """The checkpoint names of ``agent``'s extra training seeds in ``directory``, by seed."""
    found = []
    for path in directory.glob(f"{agent}.seed*.msgpack"):
        tail = path.name[len(agent) + len(".seed") : -len(".msgpack")]
        if tail.isdigit():
            found.append((int(tail), path.name[: -len(".msgpack")]))
    return [name for _, name in sorted(found)]


def agent_seed(directory: Path, agent: str) -> int:
    """The training seed ``<agent>.json`` in ``directory`` records; -1 when it is missing or says none."""
    try:
        return int(json.loads((directory / f"{agent}.json").read_text()).get("seed", -1))
    except (OSError, ValueError, TypeError, AttributeError):
        return -1


def same_shapes(a: Params, b: Params) -> bool:
    """Whether two parameter trees have the same keys and array shapes (seeds of one network)."""

    def shapes(tree: Any) -> Any:
        if isinstance(tree, dict):
            return {k: shapes(v) for k, v in tree.items()}
        return np.shape(tree)

    return bool(shapes(a) == shapes(b))


def stack(trees: list[Params]) -> Params:
    """Parameter trees of one shape stacked leaf by leaf on a new leading axis (numpy)."""
    first: Any = trees[0]
    if isinstance(first, dict):
        return {k: stack([t[k] for t in trees]) for k in first}
    return np.stack([np.asarray(t) for t in trees])  # type: ignore[return-value]
