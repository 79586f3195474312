"""Deadline: the wall-clock budget every long step checks (monotonic seconds)."""
from __future__ import annotations

import time
from dataclasses import dataclass


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
