"""Learned routers as a user meets them: checkpoints, fallbacks, backends, evaluate and train."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hft_console.backtest.startup import session_info
from hft_console.cli import learn as command
from hft_console.engine.engine import Engine
from hft_console.learn import dqn, latency_train, runs
from hft_console.learn.evaluate import POST_RULES
from hft_console.routing.models import checkpoint, latency
from hft_console.routing.models.agents import load_agent
from hft_console.routing.registry import ROUTER_NAMES
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


def test_the_start_up_screen_is_told_of_a_fallback_before_the_session_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HFT_MODELS_DIR", str(tmp_path / "nowhere"))
    engine = Engine(make_settings(session__router="dqn"), tmp_path / "r")
    try:
        info = session_info(engine)
    finally:
        engine.abandon()
    (warning,) = info.warnings
    assert warning.startswith("router dqn: no dqn checkpoint") and info.router == "thompson-discounted"
    assert info.router_kind == "bandit"


def test_evaluate_writes_every_router_per_regime(tmp_path: Path, ray_ex: Any) -> None:
    # in this process: compiling 16 routers takes minutes on a loaded machine, past any subprocess limit;
    # on Ray's two workers (the session's instance, joined), a router per task, half the time on 2 cores
    args = ["--scenarios", "4", "--steps", "20", "--quiet", "--json", str(tmp_path / "ev.json"), "--executor", "ray"]
    assert command.evaluate_main(args) == 0
    report = json.loads((tmp_path / "ev.json").read_text())
    routers = {"best-price", "lowest-latency", "lowest-fee", "round-robin", "random", "egreedy", "ucb", "thompson",
               "ucb-discounted", "thompson-discounted", "ppo", "oracle"}  # fmt: skip
    # 20 decisions never fill ucb-window's window: it would be ucb under another name, so it is left out, saying so
    (note,) = report["notes"]
    assert note.startswith("ucb-window not evaluated") and "exactly as ucb" in note and "--steps 201" in note
    for regime in ("calm", "congested", "degraded"):
        table = report["regimes"][regime]
        assert routers <= set(table) and "ucb-window" not in table
        for row in table.values():
            assert {"cost_bps", "cost_bps_ci95", "fill_rate", "latency_us_mean", "regret_bps", "shortfall_bps",
                    "adverse_bps", "post_share", "time_to_fill_ms"} <= set(row)  # fmt: skip
        assert table["oracle"]["regret_bps"] == 0.0
        assert report["oracle_edge_bps"][regime] == pytest.approx(
            table["best-price"]["cost_bps"] - table["oracle"]["cost_bps"], abs=1e-3
        )
    assert report["executor"]["kind"] == "ray" and report["executor"]["cpus"] == 2


def test_evaluate_refuses_bad_input() -> None:
    out = hft("evaluate", "--scenarios", "0")
    assert out.returncode == 2 and "--scenarios" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_the_evaluation_tables_fit_80_columns_with_nothing_cut() -> None:
    from rich.console import Console

    row = {"cost_bps": 12.3456, "cost_bps_ci95": 1.2345, "fill_rate": 0.999, "latency_us_mean": 123_456.7,
           "regret_bps": -12.3456, "post_share": 1.0}  # fmt: skip
    names = (*ROUTER_NAMES, *POST_RULES)
    table = {name: row for name in (*names, "oracle")}
    report = {"scenarios": 60, "steps": 200, "venues": ["NYSE", "NASDAQ", "ARCA", "BZX", "EDGX", "IEX"],
              "wall_s": 12.3, "regimes": {r: table for r in ("calm", "congested", "degraded")},
              "oracle_edge_bps": {r: 0.1 for r in ("calm", "congested", "degraded")},
              "notes": ["a note"], "warnings": []}  # fmt: skip
    out = io.StringIO()
    command.print_evaluation(report, Console(width=80, file=out, color_system=None))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for name in names:
        (line,) = [x for x in text.splitlines() if f"│ {name} " in x and "calm" not in x][:1]
        assert "12.3456" in line and "100%" in line and "-12.3456" in line


SHIPPED = checkpoint.models_dir()  # the shipped checkpoints (the tests run without HFT_MODELS_DIR)


def shipped_digest() -> str:
    files = sorted(SHIPPED.iterdir())
    return hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()


def fake_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training without the minutes of training: the forecaster untrained, the agent the shipped one,
    each recorded as train records it."""
    evaluation = {"calm": {"forecaster": {"mae_us": 1.0}, "ewma": {"mae_us": 2.0}}}
    monkeypatch.setattr(
        latency_train, "pretrain", lambda *a, **k: (latency.untrained(), {"examples": 0, "evaluation": evaluation})
    )
    venues = [v.name for v in make_settings().venues]
    shipped, _ = load_agent(SHIPPED, "dqn", venues)

    def train(settings: Any, seed: int = 0, progress: Any = None, predictor: Any = None) -> Any:
        return shipped, {"latency_fingerprint": latency.fingerprint(predictor), "env_steps": 0}

    monkeypatch.setattr(dqn, "train", train)
    monkeypatch.setattr(runs, "agent_evaluation", lambda *a, **k: {})


def test_train_writes_to_a_user_directory_and_sessions_load_it_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_training(monkeypatch)
    monkeypatch.delenv("HFT_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    before = shipped_digest()
    out = tmp_path / "xdg" / "hft-console" / "models"
    # an agent alone: trained beside the forecaster sessions load now, copied so the directory is whole
    assert command.train_main(["--agent", "dqn", "--mode", "fast"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dqn.json", "dqn.msgpack", "latency.json", "latency.msgpack"]
    shipped_forecaster = latency.fingerprint(latency.shared_weights(SHIPPED))
    assert json.loads((out / "dqn.json").read_text())["latency_fingerprint"] == shipped_forecaster
    printed = capsys.readouterr().out
    assert f"HFT_MODELS_DIR={out} hft-console" in printed
    assert shipped_digest() == before  # the shipped checkpoints are never rewritten by default
    # a session pointed at it routes with it
    monkeypatch.setenv("HFT_MODELS_DIR", str(out))
    assert checkpoint.models_dir() == out
    engine = Engine(make_settings(session__router="dqn", session__duration_s=1), tmp_path / "r")
    engine.run()
    assert engine.router.name == "dqn" and engine.warnings == []
    # with HFT_MODELS_DIR set, train writes there by default; --out names any other directory
    assert command.train_main(["--agent", "latency", "--mode", "fast"]) == 0
    assert json.loads((out / "latency.json").read_text())["examples"] == 0
    assert command.train_main(["--agent", "latency", "--out", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "latency.msgpack").is_file() and shipped_digest() == before


def test_train_refuses_an_unwritable_directory_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_training(monkeypatch)
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert command.train_main(["--agent", "dqn", "--out", str(blocked / "models")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hft-console train: error: --out: cannot write")
