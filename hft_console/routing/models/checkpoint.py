"""Checkpoints: parameters as msgpack of a plain nested dict of float32 arrays, beside a JSON file of
metadata (agent, observation layout version, venues, network shape, training config, evaluation).

A leaf: it knows the file format, not what the parameters mean. The observation layout version is
passed in by the caller (``layout.OBS_VERSION``); an agent's latency forecaster is checked by
``agents.load_agent``. Loading raises ``CheckpointError`` with one line saying what is wrong; the
engine then warns and falls back to a bandit router.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

Params = dict[str, Any]  # a network's parameters: a plain nested dict of arrays (linen's layout)


class CheckpointError(Exception):
    """A checkpoint that is missing, corrupt, or made for another agent, layout or venue set."""


def models_dir() -> Path:
    """``HFT_MODELS_DIR`` when set (your own checkpoints); else the shipped ones: inside the wheel, or
    the checkout's top-level models/."""
    override = os.environ.get("HFT_MODELS_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parents[2] / "models"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "models"


def trained_dir() -> Path:
    """Where ``hft-console train`` writes by default, not the shipped checkpoints: ``HFT_MODELS_DIR``
    when set (the directory sessions load from), else ``$XDG_DATA_HOME/hft-console/models``, or
    ``~/.local/share/hft-console/models`` when that is unset or not absolute (the XDG rule).
    Sessions load from it once ``HFT_MODELS_DIR`` names it."""
    override = os.environ.get("HFT_MODELS_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_DATA_HOME", "")
    data_home = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return data_home / "hft-console" / "models"


def save(directory: Path, agent: str, params: Params, meta: dict[str, Any], obs_version: int) -> Path:
    """Write ``<agent>.msgpack`` (params as float32) and ``<agent>.json`` (``meta`` stamped with the
    agent and ``obs_version``), each through a temporary file. Returns the msgpack's path; raises
    ``OSError`` when the directory cannot be written."""
    from flax import serialization

    directory.mkdir(parents=True, exist_ok=True)
    blob = serialization.msgpack_serialize(_to_numpy(params))
    meta = {**meta, "agent": agent, "obs_version": obs_version}
    for name, data in ((f"{agent}.msgpack", blob), (f"{agent}.json", (json.dumps(meta, indent=2) + "\n").encode())):
        tmp = directory / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, directory / name)
    return directory / f"{agent}.msgpack"


def load(
    directory: Path, agent: str, venues: list[str] | None, obs_dim: int | None, obs_version: int
) -> tuple[Params, dict[str, Any]]:
    """``(params, meta)`` of ``<agent>`` in ``directory``, made for ``obs_version`` (and, unless
    ``venues``/``obs_dim`` are None, for that venue set: the latency forecaster fits any), every
    parameter finite. Raises ``CheckpointError`` otherwise. The forecaster an agent was trained beside
    is not checked here: ``agents.load_agent`` does."""
    from flax import serialization

    blob_path, meta_path = directory / f"{agent}.msgpack", directory / f"{agent}.json"
    if not blob_path.is_file() or not meta_path.is_file():
        raise CheckpointError(f"no {agent} checkpoint in {directory} (run: hft-console train --agent {agent})")
    try:
        meta = json.loads(meta_path.read_text())
        params = serialization.msgpack_restore(blob_path.read_bytes())
    except (ValueError, OSError, TypeError) as exc:
        raise CheckpointError(f"{blob_path} is unreadable or corrupt ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or not isinstance(params, dict):
        raise CheckpointError(f"{blob_path} is not a {agent} checkpoint")
    if meta.get("agent") != agent or meta.get("obs_version") != obs_version:
        raise CheckpointError(
            f"{meta_path}: made for agent {meta.get('agent')!r}, observation layout {meta.get('obs_version')}; "
            f"this version needs {agent!r}, layout {obs_version} (retrain: hft-console train --agent {agent})"
        )
    if venues is not None and (meta.get("venues") != venues or meta.get("obs_dim") != obs_dim):
        raise CheckpointError(
            f"{meta_path}: trained for venues {meta.get('venues')} (obs {meta.get('obs_dim')}), this session has "
            f"{venues} (obs {obs_dim}); retrain with this config: hft-console train --agent {agent} --config ..."
        )
    found = leaves(params)
    if not found or any(not np.all(np.isfinite(x)) for x in found):
        raise CheckpointError(f"{blob_path}: parameters missing or not finite")
    return params, meta


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree, dtype=np.float32)


def leaves(tree: Any) -> list[np.ndarray]:
    """Every array of a nested dict, in its order, as numpy (no JAX needed)."""
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in leaves(v)]
    return [np.asarray(tree)]
