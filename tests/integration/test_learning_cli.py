"""Learned routers as a user meets them: checkpoints, fallbacks, backends, evaluate and train."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hft_console.engine import Engine
from hft_console.learn import checkpoint
from tests.conftest import make_settings
from tests.integration.test_cli import BASE, hft


def summary(run: Path) -> dict[str, Any]:
    return json.loads((run / "summary.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("inference", ["jit", "numpy"])
def test_ppo_routes_with_the_shipped_checkpoint_on_either_backend(tmp_path: Path, inference: str) -> None:
    out = hft(*BASE, "--router", "ppo", "--inference", inference, "--run-dir", str(tmp_path / "r"), "--duration", "8")
    assert out.returncode == 0, out.stderr
    s = summary(tmp_path / "r")
    assert s["router"] == "ppo" and s["inference_backend"] == inference and s["router_warnings"] == []
    assert s["orders"] > 0 and s["inference_us"]["count"] == s["routers"]["ppo"]["decisions"]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "other venues", "another agent's parameters"])
def test_a_bad_checkpoint_warns_and_falls_back_to_a_bandit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    models = tmp_path / "models"
    shutil.copytree(checkpoint.models_dir(), models)
    if damage == "missing":
        (models / "ppo.msgpack").unlink()
    elif damage == "corrupt":
        (models / "ppo.msgpack").write_bytes(b"\x00garbage" * 10)
    elif damage == "another agent's parameters":  # metadata fine, the tree does not fit PPO's network
        shutil.copy(models / "dqn.msgpack", models / "ppo.msgpack")
    else:
        meta = json.loads((models / "ppo.json").read_text())
        (models / "ppo.json").write_text(json.dumps({**meta, "venues": ["NYSE", "NASDAQ"]}))
    monkeypatch.setattr(checkpoint, "models_dir", lambda: models)
    engine = Engine(make_settings(session__router="ppo"), tmp_path / "r")
    engine.run()
    assert engine.router.name == "thompson-discounted"
    (warning,) = engine.warnings
    assert "router ppo:" in warning and "routing with thompson-discounted instead" in warning
    assert summary(tmp_path / "r")["router_warnings"] == [warning] and engine.flow.orders > 0


def test_cli_prints_the_fallback_warning_on_stderr(tmp_path: Path) -> None:
    out = hft(*BASE, "--router", "dqn", "--run-dir", str(tmp_path / "r"),
              env={"HFT_MODELS_DIR": str(tmp_path / "nowhere")})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "warning: router dqn: no dqn checkpoint" in out.stderr and "thompson-discounted" in out.stderr


def test_evaluate_writes_every_router_per_regime(tmp_path: Path) -> None:
    out = hft("evaluate", "--scenarios", "4", "--steps", "20", "--quiet", "--json", str(tmp_path / "ev.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "ev.json").read_text())
    routers = {"best-price", "lowest-latency", "lowest-fee", "round-robin", "random", "egreedy", "ucb", "thompson",
               "ucb-discounted", "thompson-discounted", "ucb-window", "ppo", "oracle"}  # fmt: skip
    for regime in ("calm", "congested", "degraded"):
        table = report["regimes"][regime]
        assert routers <= set(table)
        for row in table.values():
            assert {"cost_bps", "cost_bps_ci95", "fill_rate", "latency_us_mean", "regret_bps"} <= set(row)
        assert table["oracle"]["regret_bps"] == 0.0
        assert report["oracle_edge_bps"][regime] == pytest.approx(
            table["best-price"]["cost_bps"] - table["oracle"]["cost_bps"], abs=1e-3
        )


def test_evaluate_refuses_bad_input() -> None:
    out = hft("evaluate", "--scenarios", "0")
    assert out.returncode == 2 and "--scenarios" in out.stderr and len(out.stderr.strip().splitlines()) == 1
