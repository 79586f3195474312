"""Where fold fits run: in this process (the default) or in a pool of local processes.

The scheduler only needs ``submit(fn, *args) -> Future`` and ``workers`` (how many tasks run at
once), the shape of :class:`concurrent.futures.Executor` — so a Dask client's executor
(``client.get_executor()``) fits the same slot. Deadlines travel as ``time.monotonic()`` points,
which every process of one machine shares.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol


class Executor(Protocol):
    """Runs tasks; ``workers`` of them at a time."""

    workers: int  # tasks that run at once (a task may also say ``threads_per_task``)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future: ...

    def shutdown(self) -> None: ...


class InlineExecutor:
    """Runs each task at once, in this process; the model libraries use the cores themselves.
    Ctrl-C propagates; any other exception is kept in the returned future."""

    workers = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        pass


class ProcessExecutor:
    """A pool of ``workers`` local processes (spawned, so no OpenMP state is forked)."""

    def __init__(self, workers: int = 2):
        import multiprocessing

        self.workers = max(1, int(workers))
        self._pool = ProcessPoolExecutor(self.workers,
                                         mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
