"""Percentile bootstrap confidence intervals for any registered metric, vectorized.

Resamples are drawn as row-count matrices, a chunk of resamples at a time (at most
``CHUNK_CELLS`` counts in memory), and every metric is scored on all resamples of a chunk at once
(``Metric.batch``); the same count matrices serve every metric, so intervals for a dozen metrics
cost about as much as for one. A metric without a batch form falls back to a Python loop.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from mlexpert._clock import Deadline
from mlexpert.evaluate._metrics import Metric

MIN_RESAMPLES = 50
CHUNK_CELLS = 10_000_000  # counts per chunk: 40 MB as float32
DEADLINE_CHUNK_CELLS = 2_000_000  # smaller chunks under a deadline: it is checked between chunks


def resample_counts(n: int, n_resamples: int, seed: int = 0, dtype: type = np.float32,
                    chunk_cells: int = CHUNK_CELLS) -> Iterator[np.ndarray]:
    """Chunks of (b, n) matrices: how often each row is drawn in each resample. float32 by
    default: counts are exact in it and it halves the memory traffic, which bounds the speed."""
    rng = np.random.Generator(np.random.SFC64(seed))
    per_chunk = max(1, min(n_resamples, chunk_cells // max(n, 1)))
    done = 0
    while done < n_resamples:
        b = min(per_chunk, n_resamples - done)
        idx = rng.integers(0, n, (b, n), dtype=np.int32 if n < 2**31 else np.int64)
        counts = np.empty((b, n), dtype=dtype)
        for i in range(b):
            counts[i] = np.bincount(idx[i], minlength=n)
        done += b
        yield counts


def bootstrap_intervals(metrics: Sequence[Metric], y: np.ndarray, pred: np.ndarray,
                        weight: np.ndarray | None = None, *, labels: np.ndarray | None = None,
                        n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
                        deadline: Deadline | None = None) -> dict[str, tuple[float, float]]:
    """(low, high) percentile interval of each metric over the same row resamples; label metrics
    score ``labels`` where given (the predictions at a decision threshold), in the same chunks,
    so a deadline leaves every metric with as many resamples.

    NaN where undefined: when over half the resamples leave the metric undefined (e.g. one class
    for ROC AUC), or fewer than 50 resamples were done before ``deadline``.
    """
    y, pred = np.asarray(y), np.asarray(pred)
    labels = pred if labels is None else np.asarray(labels)
    n = len(y)
    scores: dict[str, list[np.ndarray]] = {m.name: [] for m in metrics}
    done = 0
    if n:
        # under a deadline, chunks small enough to check it often: their cost grows with classes
        per_row = pred.shape[1] if pred.ndim == 2 else 1
        cells = CHUNK_CELLS if deadline is None else max(n, DEADLINE_CHUNK_CELLS // per_row)
        for counts in resample_counts(n, n_resamples, seed, chunk_cells=cells):
            if deadline is not None and deadline.expired():
                break  # already late: no interval rather than a late one
            W = counts if weight is None else counts * np.asarray(weight, dtype=counts.dtype)
            for m in metrics:
                scores[m.name].append(_scores(m, W, y, labels if m.uses_labels else pred))
            done += len(counts)
    out = {}
    alpha = (1 - level) / 2
    for m in metrics:
        s = np.concatenate(scores[m.name]) if scores[m.name] else np.empty(0)
        ok = s[np.isfinite(s)]
        if len(ok) < MIN_RESAMPLES or len(ok) < 0.5 * done:
            out[m.name] = (float("nan"), float("nan"))
            continue
        lo, hi = np.quantile(ok, [alpha, 1 - alpha])
        out[m.name] = (float(lo), float(hi))
    return out


def _scores(metric: Metric, W: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    if metric.batch is not None:
        return np.asarray(metric.batch(W, y, pred), dtype=float)
    out = np.full(len(W), np.nan)
    for i, w in enumerate(W):
        keep = w > 0
        try:
            out[i] = metric.score(y[keep], pred[keep], w[keep])
        except ValueError:  # e.g. a resample with one class
            pass
    return out


def bootstrap_interval(metric: Metric, y: np.ndarray, pred: np.ndarray,
                       weight: np.ndarray | None = None, *, n_resamples: int = 200,
                       level: float = 0.95, seed: int = 0,
                       deadline: Deadline | None = None) -> tuple[float, float]:
    """(low, high) percentile interval of ``metric`` over row resamples (see
    :func:`bootstrap_intervals`)."""
    return bootstrap_intervals([metric], y, pred, weight, n_resamples=n_resamples, level=level,
                               seed=seed, deadline=deadline)[metric.name]
