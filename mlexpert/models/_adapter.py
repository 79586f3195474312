"""What one model library offers besides its fit: the adapter contract every family registers.

A capability set to ``None`` is declared unsupported; ``Adapter.need`` then raises
:class:`Unsupported` naming the fallback its caller takes (``FALLBACKS``). A capability may also
raise ``Unsupported`` for one model it cannot handle (e.g. CatBoost's column combinations).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from mlexpert.models._base import Family

CAPABILITIES = ("compile", "compile_bag", "onnx", "contributions", "fit_dask", "tree_nodes")
FALLBACKS = {
    "compile": "the model's own predict",
    "compile_bag": "one compiled call per fold model",
    "onnx": "no ONNX converter (distill it)",
    "contributions": "no contributions",
    "fit_dask": "not on the cluster",
    "tree_nodes": "counted as its trees are converted",
}


class Unsupported(Exception):
    """A model or a capability an adapter cannot handle; the caller takes its fallback."""


@dataclass(frozen=True)
class Adapter:
    """Everything library-specific about one family.

    ``compile(fitted) -> predict(X)``: numpy for a few rows, what ``Fitted.predict`` returns.
    ``compile_bag(fitted_list) -> predict(X_1, ..., X_n)``: the SUM of the models' predictions,
    each on its own input, in one call (None where one call per model is as fast).
    ``onnx(graph, fitted, x) -> name``: graph nodes giving ``Fitted.predict`` from matrix ``x``.
    ``contributions(fitted, Xt, task, C) -> (phi (n, F, C), base (n, C), space)``: exact SHAP in
    the model's own output space ("margin", "probability" or "value").
    ``fit_dask(client, data, params, task, n_classes, categorical, rounds, seed, metric)``: a
    plain ``Fitted`` trained by the library's Dask interface (``distributed.train_on_cluster``).
    ``tree_nodes(fitted) -> int``: the tree nodes ``onnx`` would add to a graph (what
    ``Graph.check_tree_nodes`` counts), read from the model's sizes without reading its trees, so
    a graph over the node limit is refused before any conversion (None where only reading the
    trees tells: they are counted as they are converted).
    ``owns(estimator)``: whether an estimator is this family's (``Fitted`` objects unpickled
    from old bundles record no family name).
    """

    family: Family
    owns: Callable[[Any], bool]
    compile: Callable[[Any], Callable[[Any], np.ndarray]] | None
    compile_bag: Callable[[list[Any]], Callable[..., np.ndarray]] | None
    onnx: Callable[[Any, Any, str], str] | None
    contributions: Callable[[Any, Any, str, int], tuple[np.ndarray, np.ndarray, str]] | None
    fit_dask: Callable[..., Any] | None
    tree_nodes: Callable[[Any], int] | None

    @property
    def name(self) -> str:
        return self.family.name

    def need(self, capability: str) -> Callable[..., Any]:
        """The capability's function; ``Unsupported`` naming the fallback when declared None."""
        fn = getattr(self, capability)
        if fn is None:
            raise Unsupported(f"{self.name} has no {capability}: {FALLBACKS[capability]}")
        return fn


def instance_of(module: str, *names: str) -> Callable[[Any], bool]:
    """``owns`` for estimators of ``module``'s classes ``names``; never imports the library
    (an instance exists only once its module is loaded)."""
    def owns(estimator: Any) -> bool:
        mod = sys.modules.get(module)
        return mod is not None and isinstance(estimator, tuple(getattr(mod, n) for n in names))

    return owns


def plain(fitted: Any) -> None:
    """``Unsupported`` for a model fed through an input adapter (only CatBoost's takes one)."""
    if fitted.extra.get("adapter") is not None:
        raise Unsupported(f"{type(fitted.estimator).__name__} behind an input adapter")


def all_classes(p: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """(n, k) probabilities from an estimator's (n, len(classes)) ones: a class absent from its
    training fold gets 0, as ``Fitted.predict`` does."""
    if p.shape[1] == k and np.array_equal(classes, np.arange(k)):
        return p
    full = np.zeros((p.shape[0], k))
    full[:, classes] = p
    return full


class ScoreLink:
    """A model's raw scores (n, outputs) to what ``Fitted.predict`` returns: the value
    (regression: ``classes`` None), a sigmoid of one score or a softmax of several, as (n, k)
    probabilities over every class. A plain object, so a compiled path pickles without its
    library (``runtime.FastPath.portable``)."""

    def __init__(self, classes: np.ndarray | None, k: int):
        self.classes, self.k = classes, k

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.classes is None:
            return raw[:, 0]
        if raw.shape[1] == 1:
            p1 = expit(raw[:, 0])  # no overflow warning for a large margin
            p = np.column_stack([1.0 - p1, p1])
        else:
            e = np.exp(raw - raw.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        return all_classes(p, self.classes, self.k)


def score_link(fitted: Any) -> ScoreLink:
    """``ScoreLink`` of a fitted model (its task, the classes it saw, the task's classes)."""
    return ScoreLink(None if fitted.task == "regression" else model_classes(fitted),
                     fitted.n_classes)


def model_classes(fitted: Any) -> np.ndarray:
    """The class codes a classifier saw (a training fold may lack some)."""
    return np.asarray(fitted.estimator.classes_).astype(int)
