"""OnlineMonitor: a bounded rolling window of recent inputs and predictions, checked against the
bundle's training reference on demand, and a classifier's performance on them estimated without
labels (``performance_estimate``). For the service: call ``update`` with each scored batch,
``result()`` for ``GET /monitor``, ``gauges()`` for Prometheus. Thread-safe; memory is bounded
by ``window`` rows whatever the traffic."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.bundle import Model
from mlexpert.errors import bad_option
from mlexpert.evaluate import prediction_values
from mlexpert.monitor._drift import _output_name, compare, estimate, model_reference
from mlexpert.monitor._reference import Reference
from mlexpert.monitor._result import DriftResult, Thresholds


class OnlineMonitor:
    """The last ``window`` rows a model scored, compared with its training reference.

    ``min_rows``: below this many rows ``result()`` returns None (too little to judge).
    ``domain_classifier``: also fit the reference-vs-window classifier (about a second per
    ``result()`` on 2 cores; results are cached until the next ``update``).
    """

    def __init__(self, model: Model, *, window: int = 1_000, min_rows: int = 100,
                 thresholds: Thresholds | None = None, domain_classifier: bool = True,
                 seed: int = 0):
        for name, value, low in (("window", window, 10), ("min_rows", min_rows, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad_option(name, value, f"an integer >= {low}")
        if min_rows > window:
            raise bad_option("min_rows", min_rows, f"at most window ({window})")
        self.model, self.window, self.min_rows = model, window, min_rows
        self.thresholds = thresholds or Thresholds()
        self.domain_classifier, self.seed = domain_classifier, seed
        self._reference: Reference = model_reference(model)
        self._lock = threading.Lock()
        self._frames: list[pd.DataFrame] = []
        self._preds: list[pd.Series] = []
        self._probs: list[np.ndarray] = []  # classification: the calibrated probabilities
        self._rows = 0
        self._seen = 0
        self._cached: DriftResult | None = None

    @property
    def rows(self) -> int:
        """Rows in the window now (at most ``window``)."""
        return self._rows

    @property
    def seen(self) -> int:
        """Rows received since the monitor started."""
        return self._seen

    def update(self, data: Any, raw: np.ndarray | pd.DataFrame | None = None, *,
               prepared: bool = False) -> None:
        """Add a scored batch: ``data`` the input rows (a DataFrame, a list of records or one
        record as a dict; validated against the schema, unless ``prepared`` says it is already
        what ``Schema.prepare`` returns, as the service's canonical rows are),
        ``raw`` the model's output for them (``predict_proba`` frame or array, or predicted
        values); computed here when None."""
        if isinstance(data, dict):  # one record, or columns of values
            scalar = all(np.ndim(v) == 0 for v in data.values())
            data = pd.DataFrame([data] if scalar else data)
        elif isinstance(data, list):  # records
            data = pd.DataFrame(data)
        X = data if prepared else self.model.schema.prepare(data, "the batch")
        if len(X) == 0:
            return
        if raw is None:
            raw = self.model.ensemble.raw(X)
        raw = np.asarray(raw, dtype=float)
        if len(raw) != len(X):
            raise bad_option("raw", f"{len(raw)} predictions", f"one per row ({len(X)})")
        preds = prediction_values(raw, self.model.task, self.model.classes)
        X = X.reset_index(drop=True).iloc[-self.window:]
        preds = preds.iloc[-self.window:].reset_index(drop=True)
        probs = raw[-self.window:] if raw.ndim == 2 else raw[:0]
        with self._lock:
            self._frames.append(X)
            self._preds.append(preds)
            self._probs.append(probs)
            self._rows += len(X)
            self._seen += len(raw)
            while self._rows - len(self._frames[0]) >= self.window:
                self._rows -= len(self._frames.pop(0))
                self._preds.pop(0)
                self._probs.pop(0)
            if self._rows > self.window:  # trim the oldest batch to the window
                extra = self._rows - self.window
                self._frames[0] = self._frames[0].iloc[extra:]
                self._preds[0] = self._preds[0].iloc[extra:]
                self._probs[0] = self._probs[0][extra:]
                self._rows = self.window
            self._cached = None

    def result(self) -> DriftResult | None:
        """The window against the training reference (None below ``min_rows`` rows), with the
        window's performance estimated without labels (classification)."""
        with self._lock:
            if self._cached is not None:
                return self._cached
            if self._rows < self.min_rows:
                return None
            X = pd.concat(self._frames, ignore_index=True)
            preds = pd.concat(self._preds, ignore_index=True)
            probs = np.concatenate(self._probs)  # empty for regression: not estimated
        est = estimate(self.model, probs, seed=self.seed)
        result = compare(self._reference, X, thresholds=self.thresholds, seed=self.seed,
                         predictions=preds, prediction_output=_output_name(self.model),
                         prediction_source="validation (out-of-fold) predictions at fit time",
                         performance_estimate=est, domain_classifier=self.domain_classifier)
        with self._lock:
            self._cached = result
        return result

    def gauges(self) -> dict[str, float]:
        """Numbers for Prometheus: ``window_rows``, ``drift_detected`` (0/1), ``drift_share``,
        ``prediction_drift`` (0/1), per column ``feature_score:<name>`` (largest effect size
        over its threshold; a score >= 1 is drift only when also significant) and
        ``feature_drift:<name>`` (0/1, the verdict), and for a classifier per metric
        ``estimated:<metric>`` (the performance estimated without labels: an estimate)."""
        result = self.result()
        out = {"window_rows": float(self._rows)}
        if result is None:
            return out
        out["drift_detected"] = float(result.drift_detected)
        out["drift_share"] = float(result.drift_share)
        if result.prediction_drift is not None:
            out["prediction_drift"] = float(result.prediction_drift["drifted"])
        drifted = set(result.drifted_columns)
        for name, score in result.column_scores().items():
            out[f"feature_score:{name}"] = score
            out[f"feature_drift:{name}"] = float(name in drifted)
        for name, entry in ((result.performance_estimate or {}).get("metrics") or {}).items():
            if entry.get("value") is not None:
                out[f"estimated:{name}"] = float(entry["value"])
        return out
