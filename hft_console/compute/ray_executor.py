"""The Ray executor: each job a Ray task (``ray.remote``), results gathered in job order.

No address (and no ``RAY_ADDRESS``): a local Ray instance is started with ``workers`` CPUs (0: the
machine's) and shut down at ``close``. With one: this process joins that cluster as a driver and
leaves it running. Tasks whose worker dies are retried by Ray (``max_retries``); a job that raises
comes back as a ``JobFailure`` (the exception is caught inside the task, so Ray never retries it). On
Ctrl-C every task still queued or running is cancelled before the interrupt goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil
import ray

from hft_console.compute.jobs import MAX_RETRIES, Executor, ExecutorError, JobFailure, run_chunk


def is_ray_process(proc: psutil.Process) -> bool:
    """Whether a process is one of Ray's (raylet, GCS, workers, agents, log monitor); False if it is gone."""
    try:
        name = proc.name()
        return name.startswith(("ray::", "raylet", "gcs_server")) or "/ray/" in " ".join(proc.cmdline()[:4])
    except psutil.Error:
        return False


def session_process(proc: psutil.Process, session: str) -> bool:
    """Whether a process's command line names Ray session ``session``; False if it is gone."""
    try:
        return any(session in part for part in proc.cmdline())
    except psutil.Error:
        return False


def stop(procs: list[psutil.Process]) -> None:
    """Kill what is still running of ``procs`` and wait for it (10 s at most)."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def ray_processes() -> list[psutil.Process]:
    """This process's descendants that are Ray's."""
    return [p for p in psutil.Process().children(recursive=True) if is_ray_process(p)]


class RayExecutor(Executor):
    kind = "ray"

    def __init__(self, workers: int = 0, address: str = "") -> None:
        self._ray: Any = ray  # Ray's API is untyped where we call it
        self.address = address or os.environ.get("RAY_ADDRESS", "")
        self._started = False
        self._procs: list[psutil.Process] = []
        if not ray.is_initialized():
            if self.address:
                reachable(self.address)
            try:
                if self.address:
                    ray.init(
                        address=self.address, log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR
                    )
                else:  # "local": a fresh instance, never a cluster some earlier ``ray start`` left running
                    ray.init(
                        address="local", num_cpus=workers or os.cpu_count() or 1, log_to_driver=False,
                        include_dashboard=False, logging_level=logging.ERROR,
                    )  # fmt: skip
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"ray: cannot reach the cluster at {self.address!r}: {exc}") from exc
            except BaseException:  # Ctrl-C while the instance starts: nothing of it may stay behind
                self._started = not self.address
                self.close()
                raise
            self._started = not self.address
        # the processes of the instance started here (raylet, GCS, agents), stopped at ``close``
        self._procs = ray_processes() if self._started else []
        self._remote = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(run_chunk)
        cpus = int(self._ray.cluster_resources().get("CPU", 0))
        self.workers = min(workers, cpus) if workers else cpus
        # chunks in flight: two per worker (one running, one queued, so a worker never waits for the driver)
        # where Ray's CPUs bound the concurrency anyway; exactly N on a cluster joined with --workers N
        self._in_flight = self.workers if (workers and not self._started) else 2 * self.workers

    def close(self) -> None:
        """Stop the local instance this executor started (a joined cluster keeps running). Every process
        it started goes: Ray's shutdown stops the raylet and GCS, and its agents (dashboard, runtime
        environment) are stopped here if they outlive them, as they did on a loaded machine."""
        if not self._started:
            return
        self._started = False
        ours = {p.pid: p for p in [*self._procs, *ray_processes()]}
        session = ""
        try:
            if self._ray.is_initialized():
                session = self._ray.get_runtime_context().get_session_name()
                self._ray.shutdown()
        finally:  # whatever the shutdown did (an interrupt may land in it), Ray's processes go
            _, alive = psutil.wait_procs(list(ours.values()), timeout=10)
            stop(alive)
        # an agent the raylet started again while it was going down belongs to no one now: found by the
        # session named in its command line, until none is left
        quiet = 0
        while session and quiet < 3:
            late = [p for p in psutil.process_iter() if session_process(p, session)]
            quiet = 0 if late else quiet + 1
            stop(late)
            time.sleep(0.5)

    def describe(self) -> dict[str, Any]:
        ray = self._ray
        alive = [n for n in ray.nodes() if n.get("Alive")]
        address = self.address or ray.get_runtime_context().gcs_address
        cpus = int(sum(n.get("Resources", {}).get("CPU", 0) for n in alive))
        return {"kind": self.kind, "address": address, "nodes": len(alive), "cpus": cpus}

    def share(self, value: Any) -> Any:
        return self._ray.put(value)

    def run(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any], on_done: Callable[[int], None] | None = None,
        chunk: int = 1,
    ) -> list[Any]:  # fmt: skip
        ray = self._ray
        results: list[Any] = [None] * len(jobs)
        fn_ref = ray.put(fn)
        firsts = list(range(0, len(jobs), chunk))
        refs: dict[Any, int] = {}
        queued = iter(firsts)

        def submit() -> Any:
            first = next(queued, None)
            if first is None:
                return None
            ref = self._remote.remote(fn_ref, list(jobs[first : first + chunk]), first)
            refs[ref] = first
            return ref

        pending = [ref for ref in (submit() for _ in range(self._in_flight)) if ref is not None]
        done = 0
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    first = refs[ref]
                    size = min(chunk, len(jobs) - first)
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # its worker died past the retries, or a node was lost
                        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
                        out = [JobFailure(first + k, why) for k in range(size)]
                    results[first : first + len(out)] = out
                    done += len(out)
                    if on_done is not None:
                        on_done(done)
                    if (ref := submit()) is not None:
                        pending.append(ref)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results


def reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once a ``host:port`` nothing answers on (``ray.init`` would retry for minutes); other
    forms (``auto``, ``ray://...``) are left to Ray. Raises ``ExecutorError``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ExecutorError(f"ray: cannot reach the cluster at {address!r}: {exc.strerror or exc}") from None
