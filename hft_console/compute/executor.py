"""Where a command's jobs run: ``open_executor`` gives the local executor (``jobs.py``) or the Ray one
(``ray_executor.py``, imported only when asked for: sessions and the console never import Ray)."""

from __future__ import annotations

from hft_console.compute.jobs import EXECUTORS, Executor, ExecutorError, JobFailure, fetch

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "JobFailure", "fetch", "open_executor"]


def open_executor(kind: str, workers: int = 0, address: str = "") -> Executor:
    """The executor ``kind`` (``EXECUTORS``). ``address``: a Ray cluster to join (else ``RAY_ADDRESS``,
    else a local Ray instance started here and shut down on ``close``). Raises ``ValueError`` for an
    unknown kind and ``ExecutorError`` when Ray is not installed or the cluster cannot be reached."""
    if kind == "local":
        return Executor(workers)
    if kind == "ray":
        try:
            from hft_console.compute.ray_executor import RayExecutor  # imports Ray: only when asked for
        except ImportError as exc:
            raise ExecutorError(
                "the ray executor needs Ray: pip install 'hft-console[ray]' (or: pip install 'ray[tune]')"
            ) from exc
        return RayExecutor(workers, address)
    raise ValueError(f"executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
