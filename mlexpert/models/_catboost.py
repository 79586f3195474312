"""CatBoost: the family (early-stopped on the validation fold, stopped at the deadline or
Ctrl-C, refitted with the mean best round plus 10 %), its oblivious trees walked in numpy for
one or two rows (CatBoost itself on plain lists beyond), the same trees in ONNX, and its
``ShapValues``. No Dask fit."""
from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mlexpert.errors import not_exportable
from mlexpert.models._adapter import Adapter, ScoreLink, Unsupported, all_classes, instance_of
from mlexpert.models._base import FitRequest, Fitted
from mlexpert.models._common import EARLY_STOP, MAX_ROUNDS, refit_rounds, space
from mlexpert.models._graph import Graph
from mlexpert.models._oblivious import Level, ObliviousTrees, catboost_oblivious
from mlexpert.models._trees_onnx import DISTILL_HINT, Trees, onnx_link

OBLIVIOUS_ROWS = 2  # rows up to which CatBoost's trees are walked in numpy (see _oblivious)


class _CatBoostDeadline:
    """CatBoost callback: ``after_iteration`` returning False stops training at the deadline or
    after Ctrl-C. CatBoost swallows a KeyboardInterrupt raised inside its training loop (even in a
    callback) and returns the model trained so far, so Ctrl-C is recorded by a signal handler while
    CatBoost trains and re-raised after it returns (see ``interruptible``)."""

    def __init__(self, deadline: Any):
        self.deadline = deadline
        self.truncated = False
        self.interrupted = False

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Records SIGINT during the block and re-delivers it to the previous handler afterwards.
        Signal handlers can only be set from the main thread; elsewhere the block runs as is."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._record)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
        if self.interrupted:
            signal.raise_signal(signal.SIGINT)

    def _record(self, signum: int, frame: Any) -> None:
        self.interrupted = True

    def after_iteration(self, info: Any) -> bool:
        if self.interrupted:
            return False
        if self.deadline.expired():
            self.truncated = True
            return False
        return True


class _CatBoostInput:
    """Turns the float matrix into a DataFrame with integer categorical codes (missing = -1)."""

    def __init__(self, categorical: list[int]):
        self.categorical = list(categorical)

    def __call__(self, X: Any) -> Any:
        import pandas as pd

        frame = pd.DataFrame(np.asarray(X, dtype=float))
        for i in self.categorical:
            frame[i] = frame[i].fillna(-1).astype(np.int64)
        return frame


class CatBoostFamily:
    name = "catboost"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        # statistics of single columns only: CatBoost's default (combinations of up to 4 columns
        # from 200 iterations on, none below) would change between the fold models and a refit
        # with fewer rounds, and only single-column statistics convert to ONNX trees. The tuner
        # tries combinations (bench/catboost_ctr.py: they help CatBoost on 2 of 10 dev tasks)
        return [("catboost", {"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0,
                              "max_ctr_complexity": 1})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        import catboost as cb

        adapter = _CatBoostInput(req.categorical)
        stopper = _CatBoostDeadline(req.deadline)
        if req.task == "regression":
            est = cb.CatBoostRegressor(loss_function="RMSE")
        else:
            est = cb.CatBoostClassifier(
                loss_function="Logloss" if req.task == "binary" else "MultiClass")
        est.set_params(iterations=params.get("iterations", MAX_ROUNDS),
                       **{k: v for k, v in params.items() if k != "iterations"},
                       random_seed=req.seed, thread_count=req.n_threads, verbose=False,
                       allow_writing_files=False, cat_features=req.categorical)
        kwargs: dict[str, Any] = {}
        if req.X_val is not None:
            kwargs.update(eval_set=(adapter(req.X_val), req.y_val), early_stopping_rounds=EARLY_STOP,
                          use_best_model=True)
        with stopper.interruptible():
            est.fit(adapter(X), y, sample_weight=req.sample_weight, callbacks=[stopper], **kwargs)
        best = est.get_best_iteration() if req.X_val is not None else None
        best = (best + 1) if best is not None else est.tree_count_
        return Fitted(est, req.task, req.n_classes, best_iteration=best, truncated=stopper.truncated,
                      extra={"adapter": adapter}, family=self.name)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return refit_rounds(params, fitted, "iterations")

    def search_space(self, task: str) -> dict[str, Any]:
        return space({"random_strength": 1.0},
                     learning_rate=(0.02, 0.2, "log"), depth=(4, 8, "int"),
                     l2_leaf_reg=(1.0, 10.0, "log"), random_strength=(0.5, 5.0, "log"),
                     max_ctr_complexity=(1, 4, "int"))


# -- compiled --------------------------------------------------------------------------------
def _categorical(fitted: Fitted) -> list[int]:
    """The categorical columns of a CatBoost model's input adapter; ``Unsupported`` without one."""
    adapter = fitted.extra.get("adapter")
    if not hasattr(adapter, "categorical"):
        raise Unsupported("a CatBoost model without its input adapter")
    return list(adapter.categorical)


def compile_catboost(fitted: Fitted) -> Callable[..., np.ndarray]:
    return _CatBoostSum([fitted])


def compile_catboost_bag(fitted: list[Fitted]) -> Callable[..., np.ndarray]:
    return _CatBoostSum(fitted)


def _catboost_rows(X: Any, categorical: list[int]) -> list[list[Any]]:
    """The float matrix as CatBoost's input in plain lists, categorical codes as ints (missing
    -1), as ``_CatBoostInput`` builds its DataFrame: ~1 ms less per call for one row."""
    rows = np.asarray(X, dtype=float).tolist()
    for r in rows:
        for i in categorical:
            v = r[i]
            r[i] = -1 if v != v else int(v)
    return rows


class _CatBoostSum:
    """The sum of CatBoost models' predictions, each on its own input (one model: its
    prediction): their trees walked together in numpy up to ``OBLIVIOUS_ROWS`` rows (CatBoost's
    own predict costs ~100-200 µs a call, whatever the rows), CatBoost itself on plain lists,
    single-threaded, above that or when the trees do not read (splits on column combinations).
    Holds the CatBoost models and arrays only: it pickles without the input adapters."""

    def __init__(self, fitted: list[Any]):
        self.models = [f.estimator for f in fitted]
        self.categorical = [list(_categorical(f)) for f in fitted]
        self.classes = [None if f.task == "regression" else
                        np.asarray(f.estimator.classes_).astype(int) for f in fitted]
        self.k = fitted[0].n_classes
        self.trees = _oblivious_trees([(f.estimator, f.extra["adapter"]) for f in fitted])
        self.links = [ScoreLink(c, self.k) for c in self.classes]

    def _native(self, j: int, X: Any) -> np.ndarray:
        rows, est, classes = _catboost_rows(X, self.categorical[j]), self.models[j], self.classes[j]
        if classes is None:
            return np.asarray(est.predict(rows, thread_count=1), dtype=float)
        return all_classes(np.asarray(est.predict_proba(rows, thread_count=1), dtype=float),
                           classes, self.k)

    def __call__(self, *X: Any) -> np.ndarray:
        trees = self.trees
        if trees is None or len(X[0]) > OBLIVIOUS_ROWS:
            return sum(self._native(j, x) for j, x in enumerate(X))
        raw = trees(*X)
        return sum(link(raw[:, i, :n]) for i, (link, n) in enumerate(zip(self.links,
                                                                          trees.n_targets,
                                                                          strict=True)))


def _oblivious_trees(models: list[tuple[Any, Any]]) -> Any:
    """``ObliviousTrees`` of CatBoost models (estimator, adapter), or None when one does not
    read as trees or ``OBLIVIOUS_ROWS`` is 0 (bench/compiled_trees.py compares both ways)."""
    if OBLIVIOUS_ROWS <= 0:
        return None
    try:
        read = [catboost_oblivious(est, adapter.categorical, adapter) for est, adapter in models]
        return ObliviousTrees(read)
    except Unsupported:
        return None


# -- ONNX ------------------------------------------------------------------------------------
def catboost_trees(estimator: Any, categorical: list[int], to_input: Any = None) -> Trees:
    """Oblivious trees of a CatBoost model (read by ``catboost_oblivious``, as the compiled
    path walks them) expanded into binary trees, one output per raw score of the
    model; ``to_input`` turns a float matrix into CatBoost's input."""
    try:
        model = catboost_oblivious(estimator, categorical, to_input)
    except Unsupported as exc:
        raise not_exportable("the catboost member", f"{exc}, which ONNX trees cannot express",
                             DISTILL_HINT) from None
    n_targets = len(model.bias)
    trees = Trees(n_targets, model.bias.copy(), float32=True)
    for levels, values in zip(model.levels, model.values, strict=True):
        if not levels:
            for k in range(n_targets):
                trees.constant(k, values[0, k])
            continue
        _oblivious(trees, levels, values)
    return trees


@functools.cache
def _oblivious_template(depth: int) -> tuple[np.ndarray, ...]:
    """The binary tree of an oblivious tree of ``depth``: each node's split level, its children
    for bit 0 and bit 1 as (index, is a leaf), and each leaf's index into the leaf values (split
    ``level`` decides bit ``level``; the root is the last split)."""
    level: list[int] = []
    child = {0: ([], []), 1: ([], [])}
    leaf_index: list[int] = []

    def build(lv: int, index: int) -> int:
        node = len(level)
        level.append(lv)
        for bit in (0, 1):
            child[bit][0].append(0)
            child[bit][1].append(False)
        for bit in (0, 1):
            idx = index | (bit << lv)
            if lv == 0:
                child[bit][0][node], child[bit][1][node] = len(leaf_index), True
                leaf_index.append(idx)
            else:
                child[bit][0][node] = build(lv - 1, idx)
        return node

    build(depth - 1, 0)
    return tuple(np.asarray(a) for a in (level, *child[0], *child[1], leaf_index))


def _oblivious(trees: Trees, levels: list[Level], values: np.ndarray) -> None:
    """One oblivious tree as one binary tree per output column."""
    level, c0, leaf0, c1, leaf1, leaf_index = _oblivious_template(len(levels))
    feature, mode, split, missing, true_bit = (
        np.asarray([getattr(s, name) for s in levels])[level]
        for name in ("feature", "mode", "split", "missing_true", "true_bit"))
    members = [levels[lv].members or [] for lv in level.tolist()]
    one = true_bit == 1
    true = (np.where(one, c1, c0), np.where(one, leaf1, leaf0))
    false = (np.where(one, c0, c1), np.where(one, leaf0, leaf1))
    for k in range(values.shape[1]):
        trees.roots.append(trees.extend(feature, mode, split, missing, true, false, k,
                                        values[leaf_index, k], members))


def catboost_tree_nodes(fitted: Fitted) -> int:
    """Nodes of the binary trees ``catboost_trees`` expands the model into: an oblivious tree
    of L leaves is L - 1 nodes per raw score (MultiClass: one per class), from CatBoost's leaf
    counts (olive_area's 503 trees x 9 classes of depth 7: 575,000 nodes, 1.2 s and +160 MB
    to read before the node limit refused them)."""
    est = fitted.estimator
    leaves = np.asarray(est.get_tree_leaf_counts(), dtype=np.int64)
    multi = str(est.get_all_params().get("loss_function", "")).startswith("MultiClass")
    return int((leaves - 1).sum()) * (len(est.classes_) if multi else 1)


def catboost_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    """MultiClass gives a score per class, even for two classes."""
    adapter = fitted.extra.get("adapter")
    trees = catboost_trees(fitted.estimator, list(getattr(adapter, "categorical", []) or []),
                           adapter)
    task = fitted.task
    objective = "regression" if task == "regression" else "classification"
    return onnx_link(g, trees.emit(g, x), task, objective, fitted.estimator,
                     max(fitted.n_classes, 1), trees.n_targets == 1)


# -- SHAP: CatBoost's own ShapValues -------------------------------------------------------------
def catboost_contributions(fitted: Fitted, Xt: Any, task: str,
                           C: int) -> tuple[np.ndarray, np.ndarray, str]:
    from catboost import Pool

    adapter = fitted.extra["adapter"]
    pool = Pool(adapter(Xt), cat_features=adapter.categorical)
    raw = np.asarray(fitted.estimator.get_feature_importance(pool, type="ShapValues"))
    raw = raw.reshape(len(raw), C, -1).transpose(0, 2, 1)
    return raw[:, :-1, :], raw[:, -1, :], "value" if task == "regression" else "margin"


ADAPTER = Adapter(CatBoostFamily(), instance_of("catboost", "CatBoostClassifier",
                                                "CatBoostRegressor"),
                  compile=compile_catboost, compile_bag=compile_catboost_bag, onnx=catboost_onnx,
                  contributions=catboost_contributions, fit_dask=None,
                  tree_nodes=catboost_tree_nodes)
