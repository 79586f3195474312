"""Deadline: the wall-clock budget every long step checks (monotonic seconds); and the one way
small calls are timed (``median_seconds``)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deadline:
    """A point in ``time.monotonic()`` time after which work must stop."""

    end: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def __reduce__(self) -> tuple:
        """Pickled as the seconds left and re-anchored where it is unpickled: monotonic clocks
        differ between processes of different machines (a Dask worker elsewhere)."""
        return (Deadline.after, (self.remaining(),))

    def sooner(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now, or this one if it comes first."""
        return Deadline(min(self.end, time.monotonic() + seconds))


def median_seconds(call: Callable[[], Any], repeats: int, budget: float | None = None) -> float:
    """Median seconds of ``repeats`` calls of ``call`` after one warm-up call; with ``budget``
    (seconds), fewer once the calls have taken that long (at least 3): a slow call is slow
    enough to know after a few."""
    call()
    times: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        if budget is not None and len(times) >= 3 and sum(times) > budget:
            break
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
