"""Measurements the search bases infer_limit and size_limit on: milliseconds for one row (batch
size 1, warm) and megabytes pickled."""
from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from mlexpert._clock import median_seconds
from mlexpert.compiled import compile_estimator
from mlexpert.models import Fitted

ROW_PROBES = 3  # one-row predictions timed per probe; the median counts


def row_ms(call: Callable[[], Any]) -> float:
    """Median milliseconds of ``ROW_PROBES`` calls after one warm-up call."""
    return median_seconds(call, ROW_PROBES) * 1000


def model_row_ms(fitted: Fitted, row: Any) -> float:
    """Milliseconds ``fitted`` alone takes on one transformed row as a shipped model calls it
    once warm (``compile_estimator``: LightGBM's booster on one thread, forests walked in
    numpy...; ``Fitted.predict`` where that fails)."""
    predict: Callable[[Any], Any] = fitted.predict
    try:
        fast = compile_estimator(fitted)
        fast(row)
        predict = fast
    except Exception:  # noqa: BLE001 - any failure: time the model's own predict
        pass
    return row_ms(lambda: predict(row))


class Counting:
    """A file that counts the bytes written to it and keeps none (``pickled_mb``)."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.written += n
        return n


def pickled_mb(obj: Any) -> float:
    """Megabytes ``obj`` takes pickled (as in the bundle's members.joblib, uncompressed),
    counted as the pickle is written: no copy is held (a forest's is as big as the forest)."""
    out = Counting()
    pickle.dump(obj, out, protocol=pickle.HIGHEST_PROTOCOL)
    return out.written / 1e6
