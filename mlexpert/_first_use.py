"""A value read on first use, once, under a lock (``bundle.load``'s members and sample)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class OnFirstUse(Generic[T]):
    """A value read on first use, once, under a lock: a loaded bundle's members and reference
    sample (unpickling the members imports scikit-learn and the model libraries: ~1 s that a
    process answering from the stored graph never needs). Pickles as the value itself."""

    def __init__(self, value: T | None = None, read: Callable[[], T] | None = None):
        self._value, self._read, self._lock = value, read, threading.Lock()

    @property
    def ready(self) -> bool:
        return self._read is None

    def get(self) -> T:
        if self._read is not None:
            with self._lock:
                if self._read is not None:
                    self._value, self._read = self._read(), None
        return self._value  # type: ignore[return-value]

    def __getstate__(self) -> dict[str, Any]:
        return {"value": self.get()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._value, self._read, self._lock = state["value"], None, threading.Lock()
