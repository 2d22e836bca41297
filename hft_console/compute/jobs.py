"""Executors for jobs that are pure functions of their argument (a backtest scenario, an evaluation
batch, a training run): the local one here spreads them over this machine's processes (``ray_executor``
over a Ray cluster; ``executor.open_executor`` picks). Results come back in job order whatever
order they finish in, so the same jobs give the same report on either executor and any worker count.

A job that raises is not retried (the same argument raises again): its failure is returned in its
place, with the exception's type and message. A worker that dies is not the job's fault: its jobs run
again, up to ``MAX_RETRIES`` times, on a fresh worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

EXECUTORS = ("local", "ray")
MAX_RETRIES = 3  # runs of a job whose worker died, after the first


@dataclass(frozen=True)
class JobFailure:
    """What a job raised instead of a result: ``index`` in the job list, ``error`` ``Type: message``."""

    index: int
    error: str


class Executor:
    """Runs ``fn(job)`` for every job. ``workers``: processes (local) or CPUs asked of Ray; 0 = the
    machine's (the cluster's) cores."""

    kind = "local"

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers or os.cpu_count() or 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the workers (and, for Ray, a local instance this executor started)."""

    def describe(self) -> dict[str, Any]:
        """``{"kind", "address", "nodes", "cpus"}`` for reports."""
        return {"kind": self.kind, "address": None, "nodes": 1, "cpus": self.workers}

    def share(self, value: Any) -> Any:
        """``value`` as jobs should receive it: itself locally, a handle in Ray's object store (put
        once, fetched by each node that needs it) on a cluster. Jobs read it back with ``fetch``."""
        return value

    def run(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any], on_done: Callable[[int], None] | None = None,
        chunk: int = 1,
    ) -> list[Any]:  # fmt: skip
        """``[fn(job) or JobFailure for job in jobs]`` in job order; ``on_done(done)`` after each job.
        ``chunk``: jobs per dispatch (fewer round trips for many short jobs)."""
        results: list[Any] = [None] * len(jobs)
        done = 0
        if self.workers == 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                results[i] = call(fn, job, i)
                done += 1
                if on_done is not None:
                    on_done(done)
            return results
        chunks = [list(range(i, min(i + chunk, len(jobs)))) for i in range(0, len(jobs), chunk)]
        left = {k: 0 for k in range(len(chunks))}  # chunk -> worker deaths so far
        while left:
            # spawn, not fork: worker processes must not inherit threads or a JAX runtime
            with ProcessPoolExecutor(min(self.workers, len(left)), mp_context=get_context("spawn")) as pool:
                pending: dict[Future[list[Any]], int] = {
                    pool.submit(run_chunk, fn, [jobs[i] for i in chunks[k]], chunks[k][0]): k for k in left
                }
                broken = False
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        k = pending.pop(future)
                        try:
                            out = future.result()
                        except BrokenProcessPool:
                            broken = True
                            left[k] += 1
                            if left[k] > MAX_RETRIES:
                                for i in chunks[k]:
                                    results[i] = JobFailure(i, "WorkerDied: its worker process died")
                                del left[k]
                            continue
                        for i, result in zip(chunks[k], out, strict=True):
                            results[i] = result
                        del left[k]
                        done += len(out)
                        if on_done is not None:
                            on_done(done)
                if not broken:
                    break
        return results


def call(fn: Callable[[Any], Any], job: Any, index: int) -> Any:
    """``fn(job)``, or the ``JobFailure`` it raised (KeyboardInterrupt and SystemExit pass)."""
    try:
        return fn(job)
    except Exception as exc:
        return JobFailure(index, f"{type(exc).__name__}: {exc}")


def run_chunk(fn: Callable[[Any], Any], jobs: list[Any], first: int) -> list[Any]:
    """Several jobs in one worker call, each failing on its own."""
    return [call(fn, job, first + k) for k, job in enumerate(jobs)]


def fetch(value: Any) -> Any:
    """A value ``Executor.share`` handed a job: itself, or (on Ray) the object it stands for."""
    if type(value).__name__ == "ObjectRef":
        import ray  # only a Ray job receives an ObjectRef: Ray is there

        return ray.get(value)
    return value


class ExecutorError(RuntimeError):
    """The executor cannot start (Ray missing, a cluster address that does not answer)."""
