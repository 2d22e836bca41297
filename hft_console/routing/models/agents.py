"""Loading a DQN or PPO checkpoint for a venue set: ``checkpoint.load``'s checks with this version's
observation layout, plus the latency forecaster the agent was trained beside, which must be the one in
the same directory (its observation carries that forecaster's forecasts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
