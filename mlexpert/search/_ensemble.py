"""Greedy ensemble selection with replacement (Caruana et al., 2004) on out-of-fold predictions."""
from __future__ import annotations

import numpy as np

from mlexpert._clock import Deadline
from mlexpert.evaluate import Metric


def greedy_ensemble(preds: list[np.ndarray], y: np.ndarray, metric: Metric,
                    weight: np.ndarray | None = None, *, rounds: int = 25,
                    deadline: Deadline | None = None) -> np.ndarray:
    """Weights (summing to 1) over ``preds`` that minimise ``metric``'s loss of their average.

    Starts from the best single candidate and adds, with replacement, whichever candidate most
    improves the average; stops after ``rounds`` additions, after 5 additions without a gain, or
    at the deadline. Ties go to the earlier candidate, so the result is deterministic.
    """
    m = len(preds)
    counts = np.zeros(m)
    total = np.zeros_like(preds[0], dtype=float)
    best_loss, best_counts, stale = np.inf, counts.copy(), 0
    for size in range(1, rounds + 1):
        losses = [metric.loss(y, (total + p) / size, weight) for p in preds]
        j = int(np.argmin(losses))
        counts[j] += 1
        total += preds[j]
        if losses[j] < best_loss - 1e-12:
            best_loss, best_counts, stale = losses[j], counts.copy(), 0
        else:
            stale += 1
        if stale >= 5 or (deadline is not None and deadline.expired()):
            break
    return best_counts / best_counts.sum()
