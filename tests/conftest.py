from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hft_console.compute.executor import open_executor
from hft_console.engine.engine import Engine
from hft_console.routing.policy import PolicySpec
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings


def make_settings(environ: dict[str, str] | None = None, **flags: Any) -> Settings:
    """Settings as the command line would build them, isolated from this machine's environment."""
    base: dict[str, Any] = {
        "session.mode": "fast",
        "session.clock": "sim",
        "session.duration_s": 5,
        "session.symbols": "AAPL,MSFT",
        "session.seed": 7,
    }
    base.update({k.replace("__", "."): v for k, v in flags.items()})
    return load_settings(base, environ=environ or {}, dotenv_path=None, router_names=ROUTER_NAMES)


@pytest.fixture
def settings_factory() -> Any:
    return make_settings


@pytest.fixture
def run_engine(tmp_path: Path) -> Any:
    counter = {"n": 0}

    def run(settings: Settings, setup: Any = None) -> Engine:
        counter["n"] += 1
        engine = Engine(settings, tmp_path / f"run{counter['n']}")
        if setup is not None:
            setup(engine)
        engine.run()
        return engine

    return run


def learned_spec(fine_tune: bool, explore: float = 0.0) -> PolicySpec:
    """A learned router's spec for the shipped venues, numpy inference, inline learning (no engine)."""

    from hft_console.learn import env  # imports JAX: only the tests that build learned routers pay it

    s = make_settings()
    p = env.params_from_settings(s)
    fees = np.array([v.taker_fee for v in s.venues])
    prior = np.asarray(p.prior_rt_us, dtype=np.float64)
    venues = tuple(v.name for v in s.venues)
    return PolicySpec(
        venues, fees, prior, tick=p.tick, inference="numpy", learning="inline", fine_tune=fine_tune, explore=explore
    )


@pytest.fixture(scope="session")
def ray_ex() -> Any:
    """One real local Ray instance with two CPUs for the whole run (starting one takes seconds), shut
    down at the end; the tests that use it are skipped where Ray is not installed. Under pytest-xdist
    every test that uses it runs on one worker (``pytest_collection_modifyitems``), so a run starts
    one instance, not one per worker."""
    pytest.importorskip("ray")
    with open_executor("ray", 2) as ex:
        yield ex


# Modules whose tests start Ray without ``ray_ex`` (the Ctrl-C test's backtest starts its own instance):
# they run beside the instance ``ray_ex`` holds, never beside a second worker's.
RAY_MODULES = ("test_compute.py", "test_compute_learn.py")


def _xdist_group(item: pytest.Item) -> str | None:
    """The group an item runs in under ``--dist loadgroup`` (None: any worker, test by test). Ray's
    tests share one worker (one Ray instance on a 2-CPU machine); a module whose tests share a
    module-scoped fixture (a trained agent, a finished session) stays on one worker, so the fixture is
    built once, as in a serial run."""
    if "ray_ex" in item.fixturenames or item.path.name in RAY_MODULES:
        return "ray"
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the item's fixtures
    defs = info.name2fixturedefs.values() if info is not None else ()
    if any(d.scope in ("module", "package") for chain in defs for d in chain):
        return item.nodeid.split("::")[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups from the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


_JAX_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """JAX's persistent compilation cache for this run, set before any test module imports JAX (nothing
    this file imports does): the same routers and networks compile in many tests, in this process, in
    the CLI's subprocesses and in Ray's workers (they inherit the environment). A fresh directory per
    run, removed at the end, so nothing carries over from another checkout."""
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        _JAX_CACHE.append(tempfile.mkdtemp(prefix="hft-jax-cache-"))
        os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE[0]
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for path in _JAX_CACHE:
        shutil.rmtree(path, ignore_errors=True)
