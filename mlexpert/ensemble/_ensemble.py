"""Ensemble: the shipped members, their weights and the calibrator, with the one weighted average
that every prediction path takes (the bundle, the compiled paths, export, explain, monitor)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._system import cpu_count
from mlexpert.ensemble._member import Member
from mlexpert.evaluate import Calibrator

PARALLEL_ROWS = 2048  # rows per thread, at least, when a batch is predicted in threads
SMALL_BATCH = 64  # rows up to which predict (and the service) may take a compiled path
HOT_CALLS = 3  # small-batch calls before the compiled path is built, in the background (a
# one-off call never pays, and no call waits: a 36,000-tree ensemble takes ~6 s to compile)


class Weighting:
    """An ensemble's weights and calibrator: the one weighted average every path takes (the
    members' Python path, the compiled paths; the ONNX graph builds the same sum)."""

    def __init__(self, weights: list[float], calibrator: Calibrator | None):
        self.weights, self.calibrator = weights, calibrator

    def average(self, predictions: Iterable[np.ndarray]) -> np.ndarray:
        """The weighted average of the members' raw predictions, given in member order (summed
        in that order, then divided by the total weight: every path gets the same bits)."""
        total = sum(w * p for w, p in zip(self.weights, predictions, strict=True))
        return total / sum(self.weights)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities through the calibrator (unchanged without one, or for regression)."""
        return raw if self.calibrator is None else self.calibrator.apply(raw)


class Ensemble:
    """Members averaged by weight, then the calibrator fit chose (classification, if any).
    Works on prepared rows (``Schema.prepare``'s output); ``threads`` caps the threads a large
    batch is scored in (None: one per core)."""

    def __init__(self, members: list[Member], task: str, calibrator: Calibrator | None = None,
                 threads: int | None = None):
        self.members = members
        self.task = task
        self.calibrator = None if task == "regression" else calibrator
        self.threads = threads

    @property
    def total_weight(self) -> float:
        return sum(m.weight for m in self.members)

    def weighting(self) -> Weighting:
        """The members' weights and the calibrator, without the members."""
        return Weighting([m.weight for m in self.members], self.calibrator)

    def average(self, predictions: Iterable[np.ndarray]) -> np.ndarray:
        return self.weighting().average(predictions)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return self.weighting().calibrate(raw)

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """The calibrated weighted prediction of prepared rows: probabilities (n, K) or values
        (n,). A batch of ``PARALLEL_ROWS`` rows per core or more is cut into one block per core,
        predicted in threads (the model libraries release the GIL and each was fitted for one
        thread or a few: a 10,000-row batch on 2 cores is otherwise scored on one)."""
        blocks = min(self.threads or cpu_count(), len(X) // PARALLEL_ROWS)
        if blocks < 2:
            return self._block(X)
        from concurrent.futures import ThreadPoolExecutor

        edges = np.linspace(0, len(X), blocks + 1).astype(int)
        with ThreadPoolExecutor(blocks, thread_name_prefix="mlexpert-predict") as pool:
            parts = list(pool.map(lambda a, b: self._block(X.iloc[a:b]), edges[:-1], edges[1:]))
        return np.concatenate(parts)

    def _block(self, X: pd.DataFrame) -> np.ndarray:
        cache: dict[int, Any] = {}  # one transform per preprocessor, shared by the members
        return self.calibrate(self.average(m.predict(X, cache) for m in self.members))
