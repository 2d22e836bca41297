"""Scale-out benchmark: the same backtest scenarios on local processes and on Ray, with 1 and 2 workers,
Ray's per-task overhead, and (``--two-node``) a two-node Ray cluster simulated on this machine.

    python benchmarks/scale.py [--scenarios 200] [--duration 10] [--rounds 2] [--tasks 2000] [--two-node]

Scaling: ``--scenarios`` fast-mode scenarios of ``--duration`` market seconds, one router (best-price),
through ``run_backtest`` as ``hft-console backtest`` runs them, on local 1 and 2 workers and Ray 1 and 2
workers (a fresh local Ray instance with that many CPUs each time). The configurations alternate over
``--rounds`` rounds (ABBA order) so that a change in the machine's load hits all of them; each
configuration's figure is its best round. Wall seconds are the report's ``wall_s`` (from the first job
dispatched to the last result: worker start-up and imports included, executor start-up not); the
executor's own start and stop are shown apart. Every report must equal the local 1-worker one in every
figure but timings, or the benchmark fails.

Overhead: ``--tasks`` no-op jobs (``abs(0)``), one per task (chunk 1), through ``Executor.run`` on 2
local processes and on a 2-CPU Ray instance: the marginal µs per task, the fixed cost of a ``run`` call,
Ray's start-up and shut-down.

Two nodes: ``ray start --head --num-cpus 1`` and ``ray start --address 127.0.0.1:PORT --num-cpus 1``,
each on its own ports and a temporary directory of ours, then the backtest with ``address=`` that
cluster, and local processes with 2 workers right after it (the load drifts: compare neighbours). Both
nodes are stopped at the end by killing the processes of the two ``ray start`` sessions (never ``ray
stop``, which stops every Ray instance on the machine). Linux only for that part (``/proc``). With Ray's
token authentication (on by default where ``~/.ray/auth_token`` exists), nodes and driver all run with
``RAY_AUTH_MODE=token`` unless it is set.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import machine

from hft_console.backtest.run import run_backtest
from hft_console.compute.executor import open_executor
from hft_console.routing.registry import ROUTER_NAMES
from hft_console.settings import Settings, load_settings

ROUTER = "best-price"
TIMINGS = {"wall_s", "events_per_s", "executor", "workers"}  # what may differ between executors
CONFIGS = (("local", 1), ("ray", 1), ("local", 2), ("ray", 2))


def settings() -> Settings:
    flags: dict[str, object] = {"session.mode": "fast", "session.clock": "sim", "session.seed": 3}
    return load_settings(flags, environ={}, dotenv_path=None, router_names=ROUTER_NAMES)


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in TIMINGS}


class Machine:
    """How busy the whole machine was between ``start`` and ``text``: CPU cores in use (``/proc/stat``,
    all processes: ours and anyone else's) and the 1-minute load average."""

    def __init__(self) -> None:
        self.since = self._ticks()

    @staticmethod
    def _ticks() -> tuple[int, int] | None:
        """(busy, total) jiffies over all CPUs; None where there is no /proc/stat."""
        try:
            parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
        return sum(parts) - idle, sum(parts)

    def text(self) -> str:
        now, load = self._ticks(), os.getloadavg()[0]
        if now is None or self.since is None or now[1] == self.since[1]:
            return f"load {load:.1f}"
        cores = os.cpu_count() or 1
        busy = (now[0] - self.since[0]) / (now[1] - self.since[1]) * cores
        return f"{busy:.1f} of {cores} cores busy, load {load:.1f}"


@dataclass
class Run:
    walls: list[float]  # report wall_s of each round
    outside: list[float]  # call time not in wall_s: executor start and stop, data check, report
    machine: list[str]
    report: dict[str, Any]


def scaling(s: Settings, n: int, duration: float, rounds: int) -> dict[tuple[str, int], Run]:
    """Every configuration ``rounds`` times, alternating order; fails if any report's figures differ."""
    runs: dict[tuple[str, int], Run] = {}
    reference: dict[str, Any] | None = None
    for r in range(rounds):
        for kind, workers in CONFIGS if r % 2 == 0 else CONFIGS[::-1]:
            m = Machine()
            started = time.perf_counter()
            report = run_backtest(s, [ROUTER], n, duration, workers, False, executor=kind)
            call_s = time.perf_counter() - started
            if reference is None:
                reference = figures(report)
            got = figures(report)
            if got != reference or report["failed"]:
                keys = sorted(k for k in reference.keys() | got.keys() if got.get(k) != reference.get(k))
                raise SystemExit(f"{kind} {workers} workers: figures differ from local 1 worker in {keys}")
            run = runs.setdefault((kind, workers), Run([], [], [], report))
            run.walls.append(report["wall_s"])
            run.outside.append(call_s - report["wall_s"])
            run.machine.append(m.text())
            print(f"  round {r + 1}: {kind:<5} {workers} worker{'s' if workers > 1 else ' '} "
                  f"{report['wall_s']:6.1f} s  ({run.machine[-1]})", flush=True)  # fmt: skip
    return runs


def print_scaling(runs: dict[tuple[str, int], Run], n: int) -> None:
    best = {key: min(run.walls) for key, run in runs.items()}
    rounds = len(next(iter(runs.values())).walls)
    print(f"scaling, best of {rounds} round{'s' if rounds > 1 else ''} ({n} scenarios):")
    print("  executor  workers  wall s  scenarios/s  speed-up  efficiency  vs local  start+stop s")
    for kind, workers in sorted(runs, key=lambda k: (k[0] != "local", k[1])):
        wall = best[(kind, workers)]
        speedup = best[(kind, 1)] / wall
        vs_local = best[("local", workers)] / wall
        outside = min(runs[(kind, workers)].outside)
        print(f"  {kind:<8}  {workers:>7}  {wall:6.1f}  {n / wall:11.1f}  {speedup:7.2f}x  {speedup / workers:9.0%}"
              f"  {vs_local:7.0%}  {outside:11.1f}")  # fmt: skip
    report = runs[("local", 1)].report
    print(f"  ({report['events']:,} events per configuration; 'vs local': throughput relative to local "
          "processes with as many workers; efficiency: speed-up / workers)")  # fmt: skip
    if rounds > 1:  # how far apart the same work lands on this machine: read the ratios above against it
        spread = max(max(run.walls) / min(run.walls) - 1 for run in runs.values())
        print(f"  (the same configuration's rounds differ by up to {spread:.0%}: the machine's noise)")
    print("identical figures: yes (every configuration and round, all but wall_s, events_per_s, executor, workers)")


def noop_overhead(tasks: int) -> None:
    """µs per task through ``Executor.run`` (chunk 1) on 2 local processes and a 2-CPU Ray instance."""
    print(f"per-task overhead ({tasks:,} no-op tasks, chunk 1, 2 workers):")
    m = Machine()
    with open_executor("local", 2) as local:
        line = _per_task(local.run, tasks)
    print(f"  local: {line}, a fresh process pool each call  ({m.text()})")
    m = Machine()
    started = time.perf_counter()
    ray_ex = open_executor("ray", 2)
    up = time.perf_counter() - started
    try:
        ray_ex.run(abs, [0, 0])  # workers start and import once per instance, not per call
        line = _per_task(ray_ex.run, tasks)
    finally:
        started = time.perf_counter()
        ray_ex.close()
        down = time.perf_counter() - started
    print(f"  ray:   {line}; start-up {up:.1f} s, shut-down {down:.1f} s  ({m.text()})")


def _per_task(run: Any, tasks: int) -> str:
    """``tasks`` no-op jobs in one call, and a 2-job call (best of 2: what a call costs whatever its
    size): µs per task all in, and beyond that fixed cost."""
    fixed = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        run(abs, [0, 0], None, 1)
        fixed = min(fixed, time.perf_counter() - started)
    started = time.perf_counter()
    out = run(abs, [0] * tasks, None, 1)
    total = time.perf_counter() - started
    if out != [0] * tasks:
        raise SystemExit(f"no-op tasks came back wrong: {out[:5]}")
    beyond = (total - fixed) / max(1, tasks - 2) * 1e6
    return (f"{total / tasks * 1e6:7.1f} µs per task all in ({total:.2f} s); a 2-task call {fixed * 1e3:.0f} ms,"
            f" {beyond:.1f} µs per task beyond it")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """A two-node Ray cluster on this machine, started with ``ray start`` in sessions of our own, so that
    ``stop`` kills exactly its processes (every Ray daemon and worker stays in the session of the
    ``ray start`` that made it). ``RAY_AUTH_MODE``: the driver's (token by default, as Ray >= 2.59 starts
    a head where a token exists): the nodes and the driver must agree."""

    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="hftray-")  # short: Ray's socket paths must fit 107 bytes
        self.sessions: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []  # the ``ray start`` processes: ours to reap
        self.port = _free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
        self.env.pop("RAY_ADDRESS", None)
        self.ray = str(Path(sys.executable).with_name("ray"))

    def start(self, head: bool, worker_ports: int) -> str | None:
        """Starts one 1-CPU node; None, or why it did not start (the end of its output)."""
        ports = {
            "--node-manager-port": _free_port(), "--object-manager-port": _free_port(),
            "--dashboard-agent-listen-port": _free_port(), "--dashboard-agent-grpc-port": _free_port(),
            "--runtime-env-agent-port": _free_port(), "--metrics-export-port": _free_port(),
            "--min-worker-port": worker_ports, "--max-worker-port": worker_ports + 99,
        }  # fmt: skip
        if head:  # the dashboard process starts even when it is not included: give it a port of its own
            ports |= {"--port": self.port, "--dashboard-port": _free_port()}
        where = ["--head", "--include-dashboard=false"] if head else ["--address", f"127.0.0.1:{self.port}"]
        cmd = [self.ray, "start", *where, "--num-cpus", "1", "--temp-dir", self.tmp, "--disable-usage-stats",
               "--object-store-memory", str(200 * 2**20), *(f"{k}={v}" for k, v in ports.items())]  # fmt: skip
        log = Path(self.tmp) / f"start-{len(self.sessions)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.sessions.append(proc.pid)
        self.procs.append(proc)
        try:
            rc = proc.wait(timeout=60)  # a node starts in seconds; a head it cannot reach keeps it retrying
        except subprocess.TimeoutExpired:
            rc = None
        if rc == 0:
            return None
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if "Error" in ln or "error" in ln] or lines
        status = "no answer in 60 s" if rc is None else f"exit {rc}"
        return f"ray start {'--head' if head else '--address'}: {status}: " + (errors[-1] if errors else "no output")

    def stop(self) -> int:
        """Kills every process of our ``ray start`` sessions (SIGTERM, then SIGKILL after 10 s) and removes
        the temporary directory; the number of processes it found."""
        found = self._ours()
        for pid in found:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self._ours() and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in self._ours():
            _signal(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return len(found)

    def _ours(self) -> list[int]:
        """Live processes whose session is one of ours (field 6 of /proc/PID/stat; zombies left out)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            if fields[0] != "Z" and int(fields[3]) in self.sessions:
                pids.append(int(entry.name))
        return pids


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):  # it ended meanwhile
        os.kill(pid, sig)


def two_node(s: Settings, n: int, duration: float, reference: dict[str, Any]) -> float | None:
    """The backtest on a two-node cluster started here, stopped at the end whatever happens: its wall
    seconds, or None where the cluster did not start (why is printed)."""
    print("two-node cluster simulated on this machine (two `ray start`, 1 CPU each, 127.0.0.1):")
    if not Path("/proc/self/stat").exists():
        print("  skipped: stopping exactly our Ray processes needs /proc (Linux)")
        return None
    import ray  # only this part joins a cluster by address; the rest goes through the executor

    cluster = Cluster()
    mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = cluster.env["RAY_AUTH_MODE"]  # the driver must speak as the nodes do
    try:
        started = time.perf_counter()
        why = cluster.start(True, 20000 + os.getpid() % 60 * 200) or cluster.start(
            False, 20100 + os.getpid() % 60 * 200
        )
        if why:
            print(f"  not run: {why}")
            return None
        print(f"  cluster up in {time.perf_counter() - started:.1f} s at 127.0.0.1:{cluster.port}")
        m = Machine()
        report = run_backtest(s, [ROUTER], n, duration, 2, False, executor="ray", address=f"127.0.0.1:{cluster.port}")
        where, wall = report["executor"], report["wall_s"]
        print(f"  executor: {where}")
        print(f"  {wall:.1f} s wall, {n / wall:.1f} scenarios/s  ({m.text()})")
        if figures(report) != reference or report["failed"]:
            raise SystemExit("two-node cluster: figures differ from local 1 worker")
        print(f"  identical figures: yes; nodes={where['nodes']}, cpus={where['cpus']}")
        return float(wall)
    finally:
        if ray.is_initialized():
            ray.shutdown()  # the executor joined the cluster and left it running: leave it as a driver
        if mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = mode
        print(f"  cluster stopped ({cluster.stop()} processes of ours ended)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--scenarios", type=int, default=200, help="scenarios per configuration")
    ap.add_argument("--duration", type=float, default=10.0, help="market seconds per scenario")
    ap.add_argument("--rounds", type=int, default=2, help="times each configuration runs (alternating order)")
    ap.add_argument("--tasks", type=int, default=2000, help="no-op tasks for the per-task overhead")
    ap.add_argument("--two-node", action="store_true", help="also run on a two-node cluster simulated here")
    args = ap.parse_args()
    if os.environ.pop("RAY_ADDRESS", None):
        print("RAY_ADDRESS ignored: this benchmark starts its own Ray instances")
    print(f"machine: {machine()}, load {os.getloadavg()[0]:.1f} at start")
    s = settings()
    whole = Machine()
    print(f"{args.scenarios} scenarios x {args.duration:g} s (fast mode, {ROUTER}), rounds in alternating order:")
    runs = scaling(s, args.scenarios, args.duration, args.rounds)
    print_scaling(runs, args.scenarios)
    noop_overhead(args.tasks)
    if args.two_node:
        reference = figures(runs[("local", 1)].report)
        wall = two_node(s, args.scenarios, args.duration, reference)
        if wall is not None:  # the machine's load drifts: compare with local processes run right after
            m = Machine()
            local = run_backtest(s, [ROUTER], args.scenarios, args.duration, 2, False)
            if figures(local) != reference:
                raise SystemExit("local 2 workers: figures differ from local 1 worker")
            print(f"  local 2 workers right after: {local['wall_s']:.1f} s wall; the two-node cluster's throughput is"
                  f" {local['wall_s'] / wall:.0%} of theirs  ({m.text()})")  # fmt: skip
    print(f"whole run: {whole.text()}")


if __name__ == "__main__":
    main()
