"""Entity history in the service: ``POST /feedback`` extends a served model's stored history.

A model fitted with ``time_column`` and ``entity`` keeps each entity's last rows with a known
target (``features.EntityHistory``). When a record it scored is labelled, the service adds that
record's validated row with the label as its target to those rows by the code path
``Model.with_history`` takes for the same row (``Schema.prepare``, then ``EntityHistory.extend``
on a copy of each history step, as ``extend_history`` does on with_history's copy), and the
served steps take over the copies' rows: the entity's next prediction starts from it. So the
rules are ``EntityHistory.extend``'s: a row at a time the entity already has among its kept rows
replaces it (a second label for a record replaces the first); an older one takes its place in
time order (and, older than every kept row, counts only in the entity's count and overall mean);
a new entity starts its history. Each model reads its own columns (entity, time, the numbers it
follows), and the ledger keeps only those, only for models with history.

Thread safety: the extension mutates the fitted steps every path reads (the Model, the compiled
numpy path, which calls the step's own ``transform``; ONNX is refused for such models), so
predictions of a model with history hold ``HistoryLock`` for reading and an extension holds it
for writing while the steps take over the extended copies' rows (one dict update each): a
prediction sees the history before or after an extension, never half of one.
Writers go first (no new reader starts while one waits); the event loop never waits: its inline
fast path only tries the lock and otherwise predicts in a worker thread.

In memory, per worker process: a restart (or a reload to another version) starts from the
bundle's stored rows, as the ledger starts empty.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mlexpert.features import history_part
from mlexpert.runtime import rows_frame


class HistoryLock:
    """Many readers (predictions) or one writer (an extension); a waiting writer goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._waiting = 0  # writers waiting for the readers to finish

    def acquire_read(self, blocking: bool = True) -> bool:
        with self._cond:
            if not blocking and (self._writing or self._waiting):
                return False
            while self._writing or self._waiting:
                self._cond.wait()
            self._readers += 1
            return True

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    @contextmanager
    def reading(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class ServedHistory:
    """The entity history of one served Model: the fitted preprocessors holding a history step,
    the input columns those steps read (their positions in canonical rows), and the lock its
    predictions and extensions share. ``extended``: rows added since the model was loaded."""

    def __init__(self, model: Any, steps: list[tuple[Any, list[str]]], columns: tuple[str, ...],
                 positions: tuple[int, ...]):
        self.model = model
        self.steps = steps  # (the fitted EntityHistory, the columns it reads)
        self.columns = columns
        self.positions = positions
        self.relative = bool((model.manifest.plan.get("entity") or {}).get("relative"))
        self.lock = HistoryLock()
        self._one_writer = threading.Lock()
        self.extended = 0

    def inputs(self, rows: list[list[Any]]) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
        """Per canonical row, what the ledger keeps for a later label: (the columns, their
        values); the columns tuple is this model's, shared by every record."""
        cols, at = self.columns, self.positions
        return [(cols, tuple(r[i] for i in at)) for r in rows]

    def extend(self, kept: list[tuple[tuple[str, ...], tuple[Any, ...]]],
               labels: list[Any]) -> tuple[list[int], str]:
        """Add labelled records (``inputs`` as the ledger kept them, and their encoded labels)
        to the stored history, as ``Model.with_history`` adds the same rows. Returns (the
        positions of the records added, why the others were not: '' when all were)."""
        schema = self.model.schema
        width = len(schema.features)
        rows, y, at, lacking, negative = [], [], [], 0, 0
        for n, ((cols, values), label) in enumerate(zip(kept, labels, strict=True)):
            where = dict(zip(cols, values, strict=True))
            if any(c not in where for c in self.columns):
                lacking += 1  # scored by a model that read other columns (before a reload)
                continue
            if self.relative and not label > 0:
                negative += 1  # with_history's rule: this model follows values in proportion
                continue
            row: list[Any] = [None] * width
            for c, i in zip(self.columns, self.positions, strict=True):
                row[i] = where[c]
            rows.append(row)
            y.append(label)
            at.append(n)
        why = "; ".join(note for n, note in (
            (negative, f"{negative} label(s) not positive: this model follows its entities' "
                       "values in proportion, so history rows need positive targets"),
            (lacking, f"{lacking} record(s) scored by a model that read other columns")) if n)
        if not rows:
            return at, why
        # with_history's path: the rows as Schema.prepare reads them, each history step copied
        # and extended (``extend_history``'s call on a copy); the copies' rows are then taken
        # over under the write lock, so predictions wait for a dict update, not for the sort of
        # every entity's rows (100,000 entities: 58 ms)
        X = schema.prepare(rows_frame(schema, rows), "the labelled records", invalid="missing")
        target = np.asarray(y, dtype=float if self.model.task == "regression" else np.int64)
        with self._one_writer:  # each extension starts from the one before
            fresh = []
            for step, columns in self.steps:
                new = copy.deepcopy(step)
                new.extend(X[columns], target)
                new.transform(X[columns])  # builds the per-entity summary here, off the lock
                fresh.append(new)
            retired = [dict(step.__dict__) for step, _ in self.steps]  # freed after the lock
            with self.lock.writing():
                for (step, _), new in zip(self.steps, fresh, strict=True):
                    step.__dict__.update(new.__dict__)  # the stored rows and their summary
                self.extended += len(rows)
            del retired
        return at, why


def served_history(model: Any, feature_index: dict[str, int]) -> ServedHistory | None:
    """The entity history of ``model`` (None without one): the history step of each distinct
    fitted preprocessor of its members (members of one kind share one), and the columns read."""
    steps: dict[int, tuple[Any, list[str]]] = {}
    columns: list[str] = []
    for member in model.ensemble.members:
        for t, _ in member.parts:
            part = history_part(t)
            if part is None or id(part[0]) in steps:
                continue
            steps[id(part[0])] = (part[0], part[1])
            columns += [c for c in part[1] if c not in columns]
    if not steps:
        return None
    return ServedHistory(model, list(steps.values()), tuple(columns),
                         tuple(feature_index[c] for c in columns))
