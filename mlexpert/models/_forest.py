"""Random forest and extra trees (scikit-learn): the families, grown in chunks so the deadline
can stop them (10 trees first, then as many as the measured time per tree says fit before the
deadline); all their trees walked at once in numpy; their trees in ONNX; ``shap.TreeExplainer``
for contributions. No Dask fit."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlexpert.models._adapter import Adapter, Unsupported, all_classes, instance_of, plain
from mlexpert.models._base import FitRequest, Fitted
from mlexpert.models._graph import Graph
from mlexpert.models._trees_onnx import LEQ, Trees

FIRST_CHUNK = 10  # trees grown before the time and memory per tree are known
CHUNK = 50
MAX_LEAF_NODES = 15_000  # as AutoGluon's forests: deep trees on big data grow huge otherwise
MAX_MODEL_BYTES = 128 * 2**20  # trees stop being added beyond this size: one refitted model, or
# the K fold models of one candidate together (``FitRequest.size_share``)


class _ForestFamily:
    kind = "tree"
    name = ""
    n_trees = 300

    def _classes(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [(self.name, {"n_estimators": self.n_trees, "min_samples_leaf": 1,
                             "max_leaf_nodes": MAX_LEAF_NODES,
                             "max_features": "sqrt" if task != "regression" else 0.6})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        clf, reg = self._classes()
        cls = reg if req.task == "regression" else clf
        target = params.get("n_estimators", self.n_trees)
        params = {k: v for k, v in params.items() if k != "n_estimators"}
        if params.get("max_leaf_nodes") and len(y) <= params["max_leaf_nodes"]:
            # moot (a tree cannot have more leaves than rows), and costly: scikit-learn then
            # preallocates 2 x max_leaf_nodes nodes per tree (3.5x slower on 500 rows)
            params.pop("max_leaf_nodes")
        est = cls(n_estimators=0, warm_start=True, random_state=req.seed, n_jobs=req.n_threads,
                  **params)
        truncated = False
        per_tree = None
        while est.n_estimators < target:
            if per_tree is not None:  # cap the size: a fold's forest must not take gigabytes
                cap = MAX_MODEL_BYTES * req.size_share
                target = min(target, max(est.n_estimators, int(cap / _tree_bytes(est))))
                if est.n_estimators >= target:
                    break
            left = req.deadline.remaining()
            grow = FIRST_CHUNK if per_tree is None else min(CHUNK, int(left / per_tree))
            if est.n_estimators > 0 and grow < 1:
                truncated = True
                break
            t0 = time.monotonic()
            est.set_params(n_estimators=min(target, est.n_estimators + grow))
            est.fit(X, y, sample_weight=req.sample_weight)
            per_tree = (time.monotonic() - t0) / grow
        # predicting with n_jobs > 1 costs ~45 ms of thread start-up per call: too much for the
        # single rows a service scores
        est.set_params(warm_start=False, n_jobs=1)
        return Fitted(est, req.task, req.n_classes, best_iteration=None, truncated=truncated,
                      extra={"trees": len(est.estimators_)}, family=self.name)

    def fit_out_of_bag(self, X: Any, y: np.ndarray, params: dict[str, Any],
                       req: FitRequest) -> tuple[Fitted, np.ndarray]:
        """Fitted once on all rows of bootstrap samples, with each row predicted by the trees
        that did not draw it: out-of-fold predictions at about a fifth of K fold fits' time
        and memory, and no refit (AutoGluon scores its bagged forests the same way)."""
        fitted = self.fit(X, y, {**params, "bootstrap": True}, req)
        return fitted, _out_of_bag(fitted.estimator, X, y, req.task, req.n_classes,
                                   req.sample_weight)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        """As many trees as the fold models grew (their size cap or the deadline may have
        stopped them): the refit is the configuration scored, and its time as estimated."""
        # the fit's record, not the estimator: a large fold model is held compressed
        grown = [f.extra.get("trees") or len(f.estimator.estimators_) for f in fitted]
        return {**params, "n_estimators": max(grown)} if grown else dict(params)

    def search_space(self, task: str) -> dict[str, Any]:
        return {}  # the portfolio's configuration is the one worth its time


class RandomForestFamily(_ForestFamily):
    name = "random_forest"

    def _classes(self) -> tuple[Any, Any]:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return RandomForestClassifier, RandomForestRegressor


class ExtraTreesFamily(_ForestFamily):
    name = "extra_trees"

    def _classes(self) -> tuple[Any, Any]:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        return ExtraTreesClassifier, ExtraTreesRegressor


def _tree_bytes(forest: Any) -> float:
    """Mean bytes per fitted tree: node records (~64 B) plus the per-node value array."""
    trees = [t.tree_ for t in forest.estimators_]
    per_node = 64 + 8 * trees[0].value.shape[1] * trees[0].value.shape[2]
    return per_node * float(np.mean([t.node_count for t in trees]))


def _out_of_bag(forest: Any, X: Any, y: np.ndarray, task: str, n_classes: int,
                weight: np.ndarray | None) -> np.ndarray:
    """Each row's mean prediction over the trees whose bootstrap sample left it out (class
    fractions, or values); a row every tree drew (only when the deadline left few trees) gets
    the training mean instead, never a prediction that saw its target."""
    X = np.asarray(X, dtype=np.float32)
    width = 1 if task == "regression" else n_classes
    total, count = np.zeros((len(y), width)), np.zeros(len(y))
    columns = None if task == "regression" else np.asarray(forest.classes_).astype(int)
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_, strict=True):
        left_out = np.ones(len(y), dtype=bool)
        left_out[drawn] = False
        rows = np.flatnonzero(left_out)
        if task == "regression":
            total[rows, 0] += tree.predict(X[rows])
        else:
            total[np.ix_(rows, columns)] += tree.predict_proba(X[rows])
        count[rows] += 1
    seen = count > 0
    total[seen] /= count[seen, None]
    if not seen.all():
        prior = (np.average(y, weights=weight)[None] if task == "regression" else
                 np.bincount(y.astype(int), weights=weight, minlength=n_classes) /
                 (len(y) if weight is None else weight.sum()))
        total[~seen] = prior
    return total[:, 0] if task == "regression" else total


# -- compiled --------------------------------------------------------------------------------
_INDEX_ARRAYS = ("_left", "_right", "_feature")


class _ForestWalk:
    """Scikit-learn random forests or extra trees walked for all their trees at once: one numpy
    step per level of depth for the paths still going, instead of scikit-learn's call per tree
    (~100 µs each, ~30 ms a row for 300 trees). Compares float32 features as scikit-learn does
    (with its float64 thresholds rounded down to float32: the same decisions);
    missing values go where each split learned to send them. Output: the mean over trees of the
    leaves' class fractions (or values), as ``predict_proba`` / ``predict``; given several
    forests (a fold bag), the sum of their outputs, each reading its own input, in one walk."""

    def __init__(self, ests: list[Any], task: str, k: int):
        trees = [e.tree_ for est in ests for e in est.estimators_]
        sizes = np.array([t.node_count for t in trees])
        self._roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        total = int(sizes.sum())
        self._left, self._right = np.empty(total, np.intp), np.empty(total, np.intp)
        self._feature = np.empty(total, np.intp)
        self._threshold = np.empty(total, np.float32)
        self._nan_left, self._leaf = np.empty(total, bool), np.empty(total, bool)
        widths = np.cumsum([0, *(int(est.n_features_in_) for est in ests)])
        shifts = np.repeat(widths[:-1], [len(est.estimators_) for est in ests])
        for t, start, shift in zip(trees, self._roots.tolist(), shifts.tolist(), strict=True):
            end = start + t.node_count  # filled tree by tree: no temporaries the size of all
            leaf = t.children_left == -1
            own = np.arange(start, end, dtype=np.intp)
            self._left[start:end] = np.where(leaf, own, t.children_left + start)  # a leaf
            self._right[start:end] = np.where(leaf, own, t.children_right + start)  # leads to
            self._feature[start:end] = np.where(leaf, 0, t.feature + shift)  # itself
            self._threshold[start:end] = _float32_below(t.threshold)
            self._nan_left[start:end] = t.missing_go_to_left
            self._leaf[start:end] = leaf
        values = []
        for est in ests:  # each forest's nodes: its class fractions in all k columns / its trees
            value = np.concatenate([e.tree_.value[:, 0, :] for e in est.estimators_]).astype(float)
            if task != "regression":
                value = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
                value = all_classes(value, np.asarray(est.classes_).astype(int), k)
            values.append(value / len(est.estimators_))
        self._value = np.concatenate(values)
        self._regression = task == "regression"

    def __getstate__(self) -> dict[str, Any]:
        """Node numbers and features pickled as int32 below 2^31 nodes (a stored compiled path:
        imdb_rating's two 5-fold forest bags, 3.5M nodes, 172 -> 130 MB); walked as intp, which
        numpy indexes with no conversion (int32: +50 % a row, 138 -> 206 µs on 300 trees)."""
        state = dict(self.__dict__)
        if len(self._left) < 2**31:
            for k in _INDEX_ARRAYS:
                state[k] = state[k].astype(np.int32)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k in _INDEX_ARRAYS:
            state[k] = np.asarray(state[k], dtype=np.intp)
        self.__dict__.update(state)

    def __call__(self, *X: Any) -> np.ndarray:
        parts = [np.asarray(x, dtype=np.float32) for x in X]
        x = parts[0] if len(parts) == 1 else np.hstack(parts)
        n, n_trees = len(x), len(self._roots)
        final = np.empty(n * n_trees, dtype=np.intp)  # each (row, tree)'s leaf
        rows, node = np.repeat(np.arange(n), n_trees), np.tile(self._roots, n)
        at = np.arange(n * n_trees)
        while len(node):  # one step down for the paths not yet at a leaf (most end well above
            v = x[rows, self._feature[node]]  # the deepest one: fewer lookups)
            go_left = (v <= self._threshold[node]) | (np.isnan(v) & self._nan_left[node])
            node = np.where(go_left, self._left[node], self._right[node])
            done = self._leaf[node]
            if done.any():
                final[at[done]] = node[done]
                going = ~done
                rows, node, at = rows[going], node[going], at[going]
        out = self._value[final.reshape(n, n_trees)].sum(axis=1)  # (rows, outputs)
        return out[:, 0] if self._regression else out


def _float32_below(threshold: np.ndarray) -> np.ndarray:
    """Each threshold as the largest float32 at or below it: for a float32 feature x (what
    scikit-learn's trees compare), x <= t exactly when x <= this, at half the memory."""
    t32 = threshold.astype(np.float32)
    return np.where(t32 > threshold, np.nextafter(t32, np.float32(-np.inf)), t32)


def compile_forest(fitted: Fitted) -> Callable[..., np.ndarray]:
    plain(fitted)
    return _ForestWalk([fitted.estimator], fitted.task, fitted.n_classes)


def compile_forest_bag(fitted: list[Fitted]) -> Callable[..., np.ndarray]:
    """Fold forests of one class walked together, each reading its own input."""
    for f in fitted:
        plain(f)
    if len({type(f.estimator) for f in fitted}) != 1:
        raise Unsupported("forests of different classes")
    return _ForestWalk([f.estimator for f in fitted], fitted[0].task, fitted[0].n_classes)


# -- ONNX ------------------------------------------------------------------------------------
def forest_trees(estimator: Any, n_targets: int, regression: bool) -> Trees:
    """A scikit-learn random forest or extra trees: the mean of its trees' leaf values (class
    fractions), one ONNX tree per class (an ONNX leaf adds to one output)."""
    trees = Trees(n_targets, np.zeros(n_targets), float32=True)
    n = len(estimator.estimators_)
    classes = [0] if regression else [int(c) for c in estimator.classes_]
    for est in estimator.estimators_:
        t = est.tree_
        value = t.value[:, 0, :].astype(float)
        if not regression:
            value = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
        left, right = t.children_left, t.children_right
        is_leaf = left == -1
        if is_leaf[0]:
            for j, target in enumerate(classes):
                trees.constant(target, value[0, j] / n)
            continue
        nodes, leaves = np.flatnonzero(~is_leaf), np.flatnonzero(is_leaf)
        rank = np.empty(len(left), dtype=np.int64)  # index among the tree's nodes or its leaves
        rank[nodes], rank[leaves] = np.arange(len(nodes)), np.arange(len(leaves))
        missing = t.missing_go_to_left[nodes]  # scikit-learn >= 1.3 (pinned >= 1.6)
        a, b = left[nodes], right[nodes]
        for j, target in enumerate(classes):
            trees.roots.append(trees.extend(
                t.feature[nodes], LEQ, t.threshold[nodes], missing, (rank[a], is_leaf[a]),
                (rank[b], is_leaf[b]), target, value[leaves, j] / n))
    return trees


def forest_tree_nodes(fitted: Fitted) -> int:
    """Split nodes of the forest's trees, once per class (``forest_trees`` writes a tree per
    class): from scikit-learn's node counts, without reading the trees (a deep forest's arrays
    take a second or more and ~190 bytes a node: lendingclub_bad's extra trees, 504,000 nodes,
    1.25 s and +95 MB)."""
    est = fitted.estimator
    return sum((e.tree_.node_count - 1) // 2 for e in est.estimators_) * (
        1 if fitted.task == "regression" else len(est.classes_))


def forest_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    regression = fitted.task == "regression"
    return forest_trees(fitted.estimator, 1 if regression else max(fitted.n_classes, 1),
                        regression).emit(g, x)


# -- SHAP: shap's TreeExplainer, in probability ------------------------------------------------
def forest_contributions(fitted: Fitted, Xt: Any, task: str,
                         C: int) -> tuple[np.ndarray, np.ndarray, str]:
    import shap

    X = np.asarray(Xt, dtype=float)
    explainer = shap.TreeExplainer(fitted.estimator)
    sv = np.asarray(explainer.shap_values(X, check_additivity=False))
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if task == "regression":
        return sv[:, :, None], np.tile(base[:1], (len(X), 1)), "value"
    sv = sv if sv.ndim == 3 else sv[:, :, None]
    if task == "binary":
        return sv[:, :, 1:2], np.tile(base[1:2], (len(X), 1)), "probability"
    return sv, np.tile(base, (len(X), 1)), "probability"


def _adapter(family: _ForestFamily, module_classes: tuple[str, str]) -> Adapter:
    return Adapter(family, instance_of("sklearn.ensemble", *module_classes),
                   compile=compile_forest, compile_bag=compile_forest_bag, onnx=forest_onnx,
                   contributions=forest_contributions, fit_dask=None,
                   tree_nodes=forest_tree_nodes)


RANDOM_FOREST = _adapter(RandomForestFamily(), ("RandomForestClassifier", "RandomForestRegressor"))
EXTRA_TREES = _adapter(ExtraTreesFamily(), ("ExtraTreesClassifier", "ExtraTreesRegressor"))
