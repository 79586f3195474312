"""Regularized linear models: logistic regression (classification) and ridge (regression).

Logistic regression is fitted in warm-started chunks of L-BFGS iterations so that the deadline
can stop it between chunks, like boosting rounds.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlexpert.models._base import FitRequest, Fitted

CHUNK_ITERATIONS = 25
MAX_ITERATIONS = 500


class LinearFamily:
    name = "linear"
    kind = "linear"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [("linear", {"C": 1.0} if task != "regression" else {"alpha": 1.0})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, Ridge

        if req.task == "regression":
            est = Ridge(**params).fit(X, y, sample_weight=req.sample_weight)
            return Fitted(est, req.task, req.n_classes)
        est = LogisticRegression(max_iter=CHUNK_ITERATIONS, warm_start=True, **params)
        done, truncated = 0, False
        while True:
            with warnings.catch_warnings():  # each chunk stops short of convergence by design
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y, sample_weight=req.sample_weight)
            done += CHUNK_ITERATIONS
            if int(np.max(est.n_iter_)) < CHUNK_ITERATIONS or done >= MAX_ITERATIONS:
                break  # converged, or enough
            if req.deadline.expired():
                truncated = True
                break
        est.set_params(warm_start=False, max_iter=done)
        return Fitted(est, req.task, req.n_classes, truncated=truncated)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return dict(params)

    def search_space(self, task: str) -> dict[str, Any]:
        return {}  # the portfolio's configuration is the one worth its time
