"""Regularized linear models: logistic regression (classification) and ridge (regression); as
products in numpy and in ONNX, coefficient x value for contributions. No Dask fit.

Logistic regression is fitted in warm-started chunks of L-BFGS iterations so that the deadline
can stop it between chunks, like boosting rounds.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mlexpert.models._adapter import (
    Adapter,
    ScoreLink,
    Unsupported,
    instance_of,
    plain,
    score_link,
)
from mlexpert.models._base import FitRequest, Fitted
from mlexpert.models._graph import Graph
from mlexpert.models._trees_onnx import onnx_full

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
            return Fitted(est, req.task, req.n_classes, family=self.name)
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
        return Fitted(est, req.task, req.n_classes, truncated=truncated, family=self.name)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return dict(params)

    def search_space(self, task: str) -> dict[str, Any]:
        return {}  # the portfolio's configuration is the one worth its time


# -- compiled --------------------------------------------------------------------------------
class _LinearPredict:
    """X @ coef + intercept, linked (``ScoreLink``: values, or a logistic model's classes)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, link: ScoreLink):
        self.coef, self.intercept, self.link = coef, intercept, link

    def __call__(self, X: Any) -> np.ndarray:
        return self.link(np.asarray(X @ self.coef, dtype=float).reshape(X.shape[0], -1)
                         + self.intercept)


def compile_linear(fitted: Fitted) -> Callable[[Any], np.ndarray]:
    plain(fitted)
    est = fitted.estimator
    coef = np.asarray(est.coef_, dtype=float)
    if fitted.task == "regression" and coef.ndim != 1:
        raise Unsupported("a Ridge model with several outputs")
    return _LinearPredict(coef if coef.ndim == 1 else coef.T,
                          np.atleast_1d(np.asarray(est.intercept_, dtype=float)),
                          score_link(fitted))


# -- ONNX ------------------------------------------------------------------------------------
def linear_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    est, task, k = fitted.estimator, fitted.task, max(fitted.n_classes, 1)
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=float)).reshape(1, -1)
    z = g.add(g.op("MatMul", [x, g.const(coef.T)]), g.const(intercept))
    if task == "regression":
        return z
    if coef.shape[0] == 1:
        p1 = g.sigmoid(z)
        return onnx_full(g, g.concat([g.sub(g.const(1.0), p1), p1]), est, k)
    return onnx_full(g, g.softmax(z), est, k)


# -- contributions: coefficient x value (exact SHAP for independent features) ---------------------
def linear_contributions(fitted: Fitted, Xt: Any, task: str,
                         C: int) -> tuple[np.ndarray, np.ndarray, str]:
    est = fitted.estimator
    coef = np.atleast_2d(est.coef_)
    intercept = np.atleast_1d(est.intercept_)
    if hasattr(Xt, "multiply"):  # sparse
        phi = np.stack([np.asarray(Xt.multiply(c[None, :]).todense()) for c in coef], axis=2)
    else:
        phi = np.asarray(Xt, dtype=float)[:, :, None] * coef.T[None, :, :]
    space = "value" if task == "regression" else "margin"
    return phi, np.tile(intercept, (phi.shape[0], 1)), space


ADAPTER = Adapter(LinearFamily(), instance_of("sklearn.linear_model", "LogisticRegression", "Ridge"),
                  compile=compile_linear, compile_bag=None, onnx=linear_onnx,
                  contributions=linear_contributions, fit_dask=None, tree_nodes=None)
