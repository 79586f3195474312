"""The per-fold preprocessing cache: each kind of preprocessing fitted once per fold (and once on
all rows for the refit), shared by every candidate of that kind, with its one-row latency and
pickled size."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.compiled import compile_transformer
from mlexpert.data import FEATURE_ROLES, Schema
from mlexpert.features import (
    HistorySpec,
    Kind,
    Selection,
    build_preprocessor,
    history_part,
    near_duplicates,
    one_hot_blocks,
    same_preprocessing,
    select,
)
from mlexpert.models import Offset
from mlexpert.search._probes import pickled_mb, row_ms


class Prepared:
    """Fitted preprocessors and transformed matrices, shared by every candidate of a kind."""

    def __init__(self, schema: Schema, frame: pd.DataFrame, seed: int, task: str | None = None,
                 y: np.ndarray | None = None, history: HistorySpec | None = None,
                 select: bool = False, n_classes: int = 0):
        self.schema, self.frame, self.seed, self.task, self.y = schema, frame, seed, task, y
        self.history, self.n_classes = history, n_classes
        self.select = select and history is None and task is not None and y is not None
        self.selections: dict[Any, Selection] = {}  # per fold key (and "all"): columns kept
        self._duplicates: dict[str, str] | None = None
        self._cache: dict[tuple[str, Any], tuple[Any, Any, Any, list[int], float]] = {}
        self.transform_ms: dict[str, float] = {}  # per kind: ms to transform 1,000 rows
        self._row_ms: dict[str, float] = {}  # per kind: ms to transform one row
        self._size_mb: dict[str, float] = {}  # per kind: pickled megabytes of one preprocessor
        self._shared: dict[str, Kind] = {}  # per kind asked for: the kind fitted (``shared``)

    def shared(self, kind: Kind) -> Kind:
        """The kind whose fitted preprocessing ``kind`` uses on this table (``native`` is
        ``tree`` without wide categoricals); decided once per kind, not per call."""
        if kind not in self._shared:
            self._shared[kind] = same_preprocessing(self.schema, kind, self.history)
        return self._shared[kind]

    def reads_target(self, kind: Kind) -> bool:
        """Whether the preprocessing of ``kind`` is fitted on the target (level encodings of
        wide categoricals, entity history, column selection): then only one fitted per training
        fold keeps scores honest."""
        return self.select or (self.shared("native") != "tree" and self.shared(kind) != "native")

    def offset(self, kind: Kind, key: Any) -> Offset | None:
        """The output column that regression models of ``kind`` on the preprocessing fitted for
        ``key`` (``get``) predict the change from: the entity's last known target
        (``models.fit_from_offset``); None without entity history. Tree kinds only: a linear
        model weighs that column itself."""
        kind = self.shared(kind)
        if self.history is None or self.task != "regression" or kind != "tree":
            return None
        part = history_part(self._cache[(kind, key)][0])
        return None if part is None else Offset(int(part[2].start), self.history.relative)

    def blocks(self, kind: Kind, key: Any) -> list[list[int]]:
        """The one-hot blocks of the preprocessing of ``kind`` fitted for ``key`` (``get`` first):
        the columns each categorical took (``FitRequest.one_hot_blocks``); [] for tree kinds."""
        return one_hot_blocks(self._cache[(self.shared(kind), key)][0])

    def kept(self, key: Any, train: np.ndarray | None) -> list[str] | None:
        """The columns selection keeps for fold ``key`` (decided on its training rows only;
        near-duplicates once, without the target), or None when the table is not selected."""
        if not self.select:
            return None
        if key not in self.selections:
            if self._duplicates is None:
                self._duplicates = near_duplicates(self.frame, self.schema, self.seed)
            rows = slice(None) if train is None else train
            frame = self.frame if train is None else self.frame.iloc[train]
            assert self.y is not None and self.task is not None
            self.selections[key] = select(frame, self.y[rows], self.schema, self.task,
                                          self.n_classes, self.seed, self._duplicates)
        return self.selections[key].kept

    def row_ms(self, kind: Kind) -> float:
        """Milliseconds the preprocessing of ``kind`` takes for one row (batch size 1) as a
        shipped model runs it once warm: compiled to numpy (``mlexpert.compiled``), or through
        pandas where a step does not compile."""
        kind = self.shared(kind)
        if kind not in self._row_ms:
            transformer = next(v[0] for (k, _), v in self._cache.items() if k == kind)
            row = self.frame.iloc[:1]
            call: Callable[[], Any] = lambda: transformer.transform(row)  # noqa: E731
            try:
                block = compile_transformer(transformer, self.schema)
                rows = list(zip(*self.schema.prepare_arrays(row), strict=True))
                block(rows)
                call = lambda: block(rows)  # noqa: E731
            except Exception:  # noqa: BLE001 - Unsupported, or any failure: the pandas path
                pass
            self._row_ms[kind] = row_ms(call)
        return self._row_ms[kind]

    def size_mb(self, kind: Kind) -> float:
        """Megabytes one fitted preprocessor of ``kind`` takes pickled."""
        kind = self.shared(kind)
        if kind not in self._size_mb:
            transformer = next(v[0] for (k, _), v in self._cache.items() if k == kind)
            self._size_mb[kind] = pickled_mb(transformer)
        return self._size_mb[kind]

    def get(self, kind: Kind, key: Any, train: np.ndarray | None,
            val: np.ndarray | None) -> tuple[Any, Any, Any, list[int], float]:
        """(transformer, X_train, X_val, categorical indices, seconds it took to build)."""
        kind = self.shared(kind)
        if (kind, key) not in self._cache:
            t0 = time.monotonic()
            kept = self.kept(key, train)
            schema = self.schema if kept is None else self.schema.narrowed(kept)
            pre = build_preprocessor(schema, kind, seed=self.seed, task=self.task,
                                     history=self.history)
            tr_frame = self.frame if train is None else self.frame.iloc[train]
            if kept is not None:  # fitted on the kept columns: later frames may hold more
                tr_frame = tr_frame[schema.names(*FEATURE_ROLES)]
            y = None if self.y is None else (self.y if train is None else self.y[train])
            Xtr = pre.transformer.fit_transform(tr_frame, y)  # target encodings: out of fold
            Xva = None
            if val is not None:
                t1 = time.monotonic()
                Xva = pre.transformer.transform(self.frame.iloc[val])
                self.transform_ms.setdefault(kind, (time.monotonic() - t1) / len(val) * 1000 * 1000)
            self._cache[(kind, key)] = (pre.transformer, Xtr, Xva, pre.categorical,
                                        time.monotonic() - t0)
        return self._cache[(kind, key)]
