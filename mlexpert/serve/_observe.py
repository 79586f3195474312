"""The hook a live monitor (drift, performance) uses: an observer sees every validated batch.

An observer is any object with ``observe(batch)``. The service calls it synchronously after each
prediction, so it must be quick (append to a buffer, count); an exception it raises is logged and
counted in ``mlexpert_observer_errors`` and never fails the request. ``close()``, if present, is
called once at shutdown.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class Observer(Protocol):
    def observe(self, batch: ObservedBatch) -> None:
        """Look at one batch of validated rows and their predictions; return quickly."""
        ...


@dataclass
class ObservedBatch:
    """One validated batch: features as the model saw them, and what it predicted.

    ``outputs``: (n, K) class probabilities (columns in ``classes`` order) or (n,) values.
    ``features``: the canonical feature columns (as ``Schema.prepare`` returns), built on first
    access only, so observers that do not read it cost nothing. ``rows``: for ``/predict``, the
    same values as canonical rows (one list per record, features in schema order); None for
    uploads. ``role``: ``champion``, or ``challenger`` for the second model of a shadow or
    canary service (whose batches observers see too; its answers may not have been returned).
    """

    route: str
    request_id: str
    model_name: str
    model_version: str
    task: str
    classes: list[Any] | None
    outputs: np.ndarray
    labels: list[Any]
    unseen_categories: dict[str, int]
    _make_features: Callable[[], pd.DataFrame] = field(repr=False)
    rows: list[list[Any]] | None = field(default=None, repr=False)
    role: str = "champion"

    @cached_property
    def features(self) -> pd.DataFrame:
        return self._make_features()

    def __len__(self) -> int:
        return len(self.labels)
