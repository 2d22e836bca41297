"""The executors (``compute/``): local processes and a real local Ray instance (no mock) give the same
results in job order, report a job that raises with its index, and run again a job whose worker
died; a backtest gives the same report on either, with one worker or several, replay data included;
sessions never import Ray."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hft_console.backtest import run as backtest_run
from hft_console.backtest.run import run_backtest
from hft_console.compute.executor import Executor, JobFailure, open_executor
from hft_console.engine.engine import Engine
from tests.conftest import make_settings

ray = pytest.importorskip("ray")

TIMINGS = {"wall_s", "events_per_s", "executor", "workers"}  # what may differ between executors


def square(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x * x


def die_once(job: tuple[str, int]) -> int:
    """Kills its own worker process the first time it runs (a marker file says it did)."""
    marker, x = job
    if x == 2 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return x + 100


@pytest.mark.parametrize("chunk", [1, 3])
def test_results_come_back_in_job_order_with_failures_in_place(ray_ex: Executor, chunk: int) -> None:
    jobs = list(range(7))
    want = [0, 1, 4, JobFailure(3, "ValueError: three is not allowed"), 16, 25, 36]
    seen: list[int] = []
    assert ray_ex.run(square, jobs, seen.append, chunk) == want
    assert seen[-1] == 7 and seen == sorted(seen)
    with open_executor("local", 2) as local:
        assert local.run(square, jobs, chunk=chunk) == want
    assert Executor(1).run(square, jobs) == want  # in this process


def test_a_job_whose_worker_dies_runs_again(ray_ex: Executor, tmp_path: Path) -> None:
    jobs = [(str(tmp_path / "ray-died"), x) for x in range(4)]
    assert ray_ex.run(die_once, jobs) == [100, 101, 102, 103]
    assert (tmp_path / "ray-died").exists()  # it did die once
    jobs = [(str(tmp_path / "local-died"), x) for x in range(4)]
    with open_executor("local", 2) as local:
        assert local.run(die_once, jobs) == [100, 101, 102, 103]
    assert (tmp_path / "local-died").exists()


def test_the_executor_describes_itself(ray_ex: Executor) -> None:
    where = ray_ex.describe()
    assert where["kind"] == "ray" and where["nodes"] == 1 and where["cpus"] == 2 and ":" in where["address"]
    assert open_executor("local", 3).describe() == {"kind": "local", "address": None, "nodes": 1, "cpus": 3}
    with pytest.raises(ValueError, match="expected one of local, ray"):
        open_executor("dask")


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in TIMINGS}


def test_a_backtest_gives_the_same_report_on_ray_as_on_local_processes(ray_ex: Executor) -> None:
    """Every figure but timings, with one Ray worker or two (the instance already up: joined, not restarted)."""
    settings = make_settings()
    routers = ["best-price", "lowest-latency"]
    local = run_backtest(settings, routers, 4, 1.5, 1, False)
    for workers in (1, 2):
        on_ray = run_backtest(settings, routers, 4, 1.5, workers, False, executor="ray")
        assert _figures(on_ray) == _figures(local)
        assert on_ray["executor"]["kind"] == "ray" and on_ray["workers"] == workers
    assert local["executor"] == {"kind": "local", "address": None, "nodes": 1, "cpus": 1}
    assert ray.is_initialized()  # a backtest that joined a running instance leaves it running


def test_replay_data_reaches_ray_workers_through_the_object_store(ray_ex: Executor, tmp_path: Path) -> None:
    """The file is read once by the driver and put in the object store; workers replay the bytes from
    their own copy, never the driver's path (deleted here before the runs)."""
    recording = tmp_path / "ticks.csv"
    Engine(make_settings(data__record=str(recording), session__duration_s=3), tmp_path / "rec").run()
    settings = make_settings(data__source=f"replay:{recording}")
    local = run_backtest(settings, ["best-price"], 2, 2.0, 1, False)
    shipped = tmp_path / "shipped" / recording.name
    shipped.parent.mkdir()
    recording.replace(shipped)  # the driver reads it from here; the workers have never seen either path
    on_ray = run_backtest(
        make_settings(data__source=f"replay:{shipped}"), ["best-price"], 2, 2.0, 2, False, executor="ray"
    )
    assert _figures(on_ray) == {**_figures(local), "data": f"replay:{shipped}"} and local["events"] > 0


def test_a_run_that_raises_is_reported_with_its_scenario_and_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = backtest_run.run_one

    def flaky(job: tuple[Any, ...]) -> dict[str, Any]:
        if job[1].index == 1 and job[2] == "lowest-latency":
            raise RuntimeError("venue table corrupt")
        return real(job)

    monkeypatch.setattr(backtest_run, "run_one", flaky)
    report = run_backtest(make_settings(), ["best-price", "lowest-latency"], 3, 1.0, 1, False)
    (failed,) = report["failed"]
    assert failed["scenario"] == 1 and failed["router"] == "lowest-latency" and failed["seed"] > 0
    assert failed["error"] == "RuntimeError: venue table corrupt"
    assert report["runs"] == 5 and report["routers"]["lowest-latency"]["scenarios"] == 2
    monkeypatch.setattr(backtest_run, "run_one", lambda job: 1 / 0)
    with pytest.raises(backtest_run.RunsFailed, match="every run failed"):
        run_backtest(make_settings(), ["best-price"], 2, 1.0, 1, False)


def test_sessions_and_the_console_never_import_ray() -> None:
    code = (
        "import sys\n"
        "import hft_console.cli.main, hft_console.ui.app, hft_console.headless, hft_console.backtest.startup\n"
        "from tests.conftest import make_settings\n"
        "from hft_console.engine.engine import Engine\n"
        "from hft_console.backtest.startup import startup_backtest\n"
        "Engine(make_settings(session__duration_s=1), None).run()\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_ctrl_c_cancels_every_task_and_leaves_no_ray_process_behind(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    cmd = [sys.executable, "-m", "hft_console", "backtest", "--mode", "fast", "--scenarios", "400", "--duration", "5",
           "--executor", "ray", "--quiet", "--json", str(tmp_path / "bt.json")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    me = psutil.Process(proc.pid)
    ours: list[Any] = []
    try:
        for _ in range(1200):  # Ray up, its workers running scenarios: some of our children are Ray's
            ours = me.children(recursive=True)
            if any("raylet" in p.name() for p in ours) and len(ours) > 3:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None and ours, "Ray never started"
        proc.send_signal(2)  # SIGINT, as Ctrl-C in a terminal
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; no report written" in err and not (tmp_path / "bt.json").exists()
    _, alive = psutil.wait_procs(ours, timeout=60)
    assert alive == [], [p.name() for p in alive]
