"""What each model predicted for recent records, and the true labels that came back.

The service writes one entry per scored record of ``/predict`` (request id, position, routing
key) and each model's output as it arrives (the one off the response path may come later).
For a model with entity history it also keeps the columns of the record that history reads
(entity, time, the numbers it follows; ``_history``), so that the label can extend it; nothing
for other models. ``POST /feedback`` attaches labels by request id and position, or by key (the
key's latest record); ``/compare`` and ``/monitor`` read the labelled entries. Bounded: the
oldest entries go first; about 1 KB a record with two models' outputs (measured: 50,000 records
of 2 or 10 classes, 50-58 MB; each output is a small array of its own), and for a model with
history about 0.3 KB more per model (measured with tracemalloc, 50,000 records: +281 bytes a
record for entity, time and one number, +889 with 20 numbers: 14-44 MB more in all; nothing
more for a model without history). In memory, per worker process: a restart starts empty.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_NO_LABEL = object()


@dataclass
class Entry:
    """One scored record."""

    key: str | None                    # the routing key's value (None: no --key)
    outputs: dict[str, Any] = field(default_factory=dict)    # role -> probabilities / value
    label: Any = _NO_LABEL
    # per model with entity history: (role, columns, values) of what that history reads
    inputs: tuple[tuple[str, tuple[str, ...], tuple[Any, ...]], ...] = ()

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

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, request_id: str, keys: list[str | None]) -> None:
        """An entry per record of a request (on the response path: cheap)."""
        with self._lock:
            for i, key in enumerate(keys):
                self._entries[(request_id, i)] = Entry(key=key)
                if key is not None:
                    self._by_key[key] = (request_id, i)
            while len(self._entries) > self.capacity:
                (rid, i), old = self._entries.popitem(last=False)
                if old.key is not None and self._by_key.get(old.key) == (rid, i):
                    del self._by_key[old.key]

    def add(self, request_id: str, role: str, outputs: np.ndarray,
            inputs: list[Any] | None = None) -> None:
        """One model's outputs for the records of a request (rows evicted since are skipped)
        and, for a model with entity history, what of each record its history reads."""
        with self._lock:
            for i, out in enumerate(outputs):
                e = self._entries.get((request_id, i))
                if e is not None:
                    e.outputs[role] = out
                    if inputs is not None:  # a tuple, not a dict: 130 bytes less a record
                        e.inputs = (*(x for x in e.inputs if x[0] != role), (role, *inputs[i]))

    def label(self, items: list[tuple[str | None, int, str | None, Any]]) -> list[bool]:
        """Attach labels: each item is (request id, position, key, label); by key when the
        request id is None (the key's latest record). Per item: whether it matched a record; a
        second label for the same record replaces the first."""
        return [e is not None for e in self.label_records(items)[0]]

    def label_records(self, items: list[tuple[str | None, int, str | None, Any]]
                      ) -> tuple[list[Entry | None], list[tuple[dict[str, Any], Any]]]:
        """``label``, returning per item the entry it labelled (None: no record), and once per
        labelled record holding history inputs, (a copy of those inputs by role, its final
        label): what ``/feedback`` extends the entity history with."""
        found: list[Entry | None] = []
        with self._lock:
            for rid, i, key, value in items:
                where = (rid, i) if rid is not None else self._by_key.get(key or "")
                e = self._entries.get(where) if where is not None else None
                if e is not None:
                    e.label = value
                found.append(e)
            unique = {id(e): e for e in found if e is not None and e.inputs}
            history = [({role: (cols, values) for role, cols, values in e.inputs}, e.label)
                       for e in unique.values()]
        return found, history

    def labelled(self, *roles: str) -> list[Entry]:
        """Labelled entries holding the outputs of every one of ``roles``, oldest first."""
        with self._lock:
            return [e for e in self._entries.values()
                    if e.labelled and all(r in e.outputs for r in roles)]
