"""What the model sections share: labelled rows encoded as the shipped model's metrics take
them, which of them the bundle saw in training, the dummy baseline, and paired bootstrap scores
(every prediction scored on the same row resamples, so differences get intervals too)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.bundle import Model
from mlexpert.data import category_text, describe_source, read_table
from mlexpert.errors import DataError, missing_features, missing_in_file
from mlexpert.evaluate import Metric, get_metric, resample_counts
from mlexpert.monitor import PREDICTION

RESAMPLES = 200  # paired bootstrap resamples behind every interval of the model sections
MIN_ROWS = 30  # fewer scored rows than this: no score (its interval would be meaningless)
# the best value a metric can reach: how far the dummy is from perfect scales the verdicts
PERFECT = {"roc_auc": 1.0, "pr_auc": 1.0, "accuracy": 1.0, "balanced_accuracy": 1.0,
           "f1_macro": 1.0, "f1_weighted": 1.0, "mcc": 1.0, "r2": 1.0, "log_loss": 0.0,
           "brier": 0.0, "ece": 0.0, "rmse": 0.0, "mae": 0.0, "median_ae": 0.0, "mape": 0.0}


@dataclass(frozen=True)
class Labelled:
    """Labelled rows for a model: the table (rows with a target), the encoded target, the
    shipped model's raw output, and which rows match a training row the bundle keeps."""

    frame: pd.DataFrame
    y: np.ndarray
    raw: np.ndarray
    seen: np.ndarray  # bool per row: equal, column for column, to a row of the training sample
    complete: bool  # the bundle's sample holds every training row (so unseen rows are new)
    source: str


def encode(model: Model, values: pd.Series, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(encoded target, rows with a usable one): class indices in the model's order, or
    floats; a class the model never saw is a DataError naming it and the file."""
    if model.task == "regression":
        y = pd.to_numeric(values, errors="coerce").to_numpy(float)
        return y, np.isfinite(y)
    index = {str(c): i for i, c in enumerate(model.classes or [])}
    text = category_text(values)
    keep = text.notna().to_numpy()
    codes = np.array([index.get(v, -1) if k else -1 for v, k in zip(text, keep, strict=True)])
    unknown = sorted({str(v) for v, c, k in zip(text, codes, keep, strict=True) if k and c < 0})
    if unknown:
        raise DataError(f"target column {model.target!r} in {source} has labels the model never "
                        f"saw: {', '.join(map(repr, unknown[:5]))}. Known: "
                        f"{', '.join(repr(str(c)) for c in model.classes or [])}.")
    return codes.astype(int), keep


def raw_output(model: Model, frame: pd.DataFrame, classes: list[Any] | None,
               source: str = "the data") -> np.ndarray:
    """``model``'s raw output for ``frame`` with its classes laid out as ``classes`` (a refit
    on a subset may lack one: its column is 0)."""
    raw = model.ensemble.raw(model.schema.prepare(frame, source))
    if model.task == "regression" or classes is None or list(model.classes) == list(classes):
        return raw
    where = {str(c): i for i, c in enumerate(classes)}
    out = np.zeros((len(raw), len(classes)))
    for j, c in enumerate(model.classes):
        out[:, where[str(c)]] = raw[:, j]
    return out / np.clip(out.sum(axis=1, keepdims=True), 1e-15, None)


def _row_keys(X: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A hash per row of prepared values as text (a missing value one token), so a row read
    from a CSV and the same row stored as Parquet in the bundle hash alike."""
    text = pd.DataFrame({c: X[c].astype(object).where(X[c].notna(), "\0na").astype(str)
                         for c in columns})
    return pd.util.hash_pandas_object(text, index=False).to_numpy()


def read_labelled(model: Model, data: Any) -> Labelled:
    """``data``'s rows with a target, checked against the model's schema (missing columns name
    the column and the file), scored by the shipped model, matched against the training sample."""
    source = describe_source(data)
    frame = read_table(data)
    if model.target not in frame.columns:
        raise missing_in_file(model.target, "target", source, frame.columns)
    missing = [c.name for c in model.schema.features if c.name not in frame.columns]
    if missing:
        raise missing_features(missing, source)
    y, keep = encode(model, frame[model.target], source)
    frame, y = frame[keep].reset_index(drop=True), y[keep]
    if not len(frame):
        raise DataError(f"target column {model.target!r} in {source} has no values; the model "
                        "sections need labelled rows.")
    X = model.schema.prepare(frame, source)
    raw = model.ensemble.raw(X)
    sample = model.reference_sample
    seen = np.zeros(len(frame), dtype=bool)
    complete = False
    if sample is not None:
        columns = [c.name for c in model.schema.features if c.name in sample.columns]
        if columns:
            seen = np.isin(_row_keys(X, columns), _row_keys(sample.drop(columns=[PREDICTION],
                                                                          errors="ignore"),
                                                            columns))
        rows = (model.manifest.reference or {}).get("rows")
        complete = rows is not None and int(rows) == len(sample)
    return Labelled(frame, y, raw, seen, complete, source)


def dummy_output(task: str, y: np.ndarray, n_classes: int, rows: int) -> np.ndarray:
    """The best constant answer for ``y``: its class shares (prior) or its mean."""
    if task == "regression":
        return np.full(rows, float(np.mean(y)))
    shares = np.bincount(y, minlength=n_classes).astype(float)
    shares = (shares + 1e-9) / (shares + 1e-9).sum()
    return np.tile(shares, (rows, 1))


def metric_of(model: Model) -> Metric:
    return get_metric(model.metric, model.task)


@dataclass(frozen=True)
class Paired:
    """Scores of several predictions of the same rows, on the same bootstrap resamples."""

    values: dict[str, float]
    draws: dict[str, np.ndarray]  # (resamples,) per prediction

    def interval(self, name: str) -> tuple[float | None, float | None]:
        return _quantiles(self.draws[name])

    def gap(self, a: str, b: str, sign: float) -> tuple[float, float | None, float | None]:
        """``sign`` x (a - b) with its interval: how much better ``a`` is than ``b``."""
        value = sign * (self.values[a] - self.values[b])
        lo, hi = _quantiles(sign * (self.draws[a] - self.draws[b]))
        return value, lo, hi

    def entry(self, name: str) -> dict[str, float | None]:
        lo, hi = self.interval(name)
        return {"value": self.values[name], "low": lo, "high": hi}


def _quantiles(draws: np.ndarray) -> tuple[float | None, float | None]:
    ok = draws[np.isfinite(draws)]
    if len(ok) < RESAMPLES // 4:
        return None, None
    lo, hi = np.quantile(ok, [0.025, 0.975])
    return float(lo), float(hi)


def paired_scores(metric: Metric, y: np.ndarray, preds: dict[str, np.ndarray],
                  seed: int = 0) -> Paired:
    """Each prediction's score on all of ``y`` and on ``RESAMPLES`` row resamples, the same
    resamples for every prediction."""
    values = {}
    for name, p in preds.items():
        try:
            values[name] = metric.score(y, p)
        except ValueError:  # e.g. ROC AUC on rows of one class
            values[name] = float("nan")
    draws: dict[str, list[np.ndarray]] = {name: [] for name in preds}
    for counts in resample_counts(len(y), RESAMPLES, seed):
        for name, p in preds.items():
            draws[name].append(_batch(metric, counts, y, p))
    return Paired(values, {k: np.concatenate(v) for k, v in draws.items()})


def _batch(metric: Metric, W: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    if metric.batch is not None:
        with np.errstate(all="ignore"):
            return np.asarray(metric.batch(W, y, pred), dtype=float)
    out = np.full(len(W), np.nan)
    for i, w in enumerate(W):
        keep = w > 0
        try:
            out[i] = metric.score(y[keep], pred[keep], w[keep])
        except ValueError:
            pass
    return out


def skill_scale(metric: Metric, dummy: float) -> float:
    """How far the dummy is from a perfect score (1 where no perfect value is known)."""
    perfect = PERFECT.get(metric.name)
    if perfect is None or not np.isfinite(dummy):
        return 1.0
    return max(abs(perfect - dummy), 1e-12)


def sign(metric: Metric) -> float:
    """+1 where greater is better, -1 otherwise: ``sign * (a - b) > 0`` means a is better."""
    return 1.0 if metric.greater_is_better else -1.0
