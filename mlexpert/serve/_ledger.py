"""What each model predicted for recent records, and the true labels that came back.

The service writes one entry per scored record of ``/predict`` (request id, position, routing
key, which model answered) and each model's output as it arrives (the one off the response path
may come later). ``POST /feedback`` attaches labels by request id and position, or by key (the
key's latest record); ``/compare`` and ``/monitor`` read the labelled entries. Bounded: the
oldest entries go first, so memory stays at about ``capacity`` x (classes x 2 x 8 bytes + ~200).
In memory, per worker process: a restart starts empty.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_NO_LABEL = object()


@dataclass
class Entry:
    """One scored record."""

    answered: str                      # the role whose answer the client got
    key: str | None
    at: float                          # time.time() of the prediction
    outputs: dict[str, Any] = field(default_factory=dict)    # role -> probabilities / value
    versions: dict[str, str] = field(default_factory=dict)   # role -> model version
    label: Any = _NO_LABEL

    @property
    def labelled(self) -> bool:
        return self.label is not _NO_LABEL


class Ledger:
    """The last ``capacity`` scored records, by (request id, position)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, int], Entry] = OrderedDict()
        self._by_key: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self.labels_received = 0

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, request_id: str, answered: list[str], keys: list[str | None]) -> None:
        """Entries for a request's records (on the response path: cheap)."""
        now = time.time()
        with self._lock:
            for i, (role, key) in enumerate(zip(answered, keys, strict=True)):
                self._entries[(request_id, i)] = Entry(answered=role, key=key, at=now)
                if key is not None:
                    self._by_key[key] = (request_id, i)
            while len(self._entries) > self.capacity:
                (rid, i), old = self._entries.popitem(last=False)
                if old.key is not None and self._by_key.get(old.key) == (rid, i):
                    del self._by_key[old.key]

    def add(self, request_id: str, role: str, version: str, outputs: np.ndarray) -> None:
        """One model's outputs for the records of a request (rows evicted since are skipped)."""
        with self._lock:
            for i, out in enumerate(outputs):
                e = self._entries.get((request_id, i))
                if e is not None:
                    e.outputs[role] = out
                    e.versions[role] = version

    def label(self, items: list[tuple[str | None, int, str | None, Any]]) -> list[bool]:
        """Attach labels: each item is (request id, position, key, label); by key when the
        request id is None (the key's latest record). Per item: whether it matched a record; a
        second label for the same record replaces the first."""
        out: list[bool] = []
        with self._lock:
            for rid, i, key, value in items:
                where = (rid, i) if rid is not None else self._by_key.get(key or "")
                e = self._entries.get(where) if where is not None else None
                if e is not None:
                    e.label = value
                    self.labels_received += 1
                out.append(e is not None)
        return out

    def labelled(self, *roles: str) -> list[Entry]:
        """Labelled entries holding the outputs of every one of ``roles``, oldest first."""
        with self._lock:
            return [e for e in self._entries.values()
                    if e.labelled and all(r in e.outputs for r in roles)]
