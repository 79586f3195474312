"""scikit-learn's HistGradientBoosting as a user runs it (library defaults, native categories):
the family, grown in chunks of iterations so the deadline can stop it; its trees walked at once
in numpy; its trees in ONNX; exact path-dependent TreeSHAP over its own trees (categorical
splits included, which ``shap.TreeExplainer`` reads as thresholds). No Dask fit.

scikit-learn (1.9) puts an ``OrdinalEncoder`` in front of the columns named categorical: its
trees split on the encoder's ordinals (categorical columns first, then the numeric ones), a
value the encoder never saw, or a missing one, goes where the split sends missing values.
Everything here reads those fitted structures (``_predictors``, ``_preprocessor``,
``_baseline_prediction``), checked against the model's own predict by the conformance suite.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlexpert.errors import not_exportable
from mlexpert.models._adapter import (
    Adapter,
    ScoreLink,
    Unsupported,
    instance_of,
    plain,
    score_link,
)
from mlexpert.models._base import LIBRARY_DEFAULTS, FitRequest, Fitted
from mlexpert.models._graph import Graph
from mlexpert.models._trees_onnx import DISTILL_HINT, LEQ, MEMBER, Trees, onnx_link

FIRST_CHUNK = 10  # iterations grown before the time per iteration is known
CHUNK = 50  # at most this many more per call: each warm-started call bins the rows again
DEFAULT_ITERATIONS = 100  # HistGradientBoosting's max_iter
ROW_CHUNK = 2_000  # rows explained at once (memory: rows x leaves x path features x nodes)


class HistGradientBoostingFamily:
    name = "hist_gradient_boosting"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        # the library's defaults as a user would run them, with the categorical columns named:
        # a second default model the search's pick is held to (``search.FLOOR``)
        return [("hgb_default", {LIBRARY_DEFAULTS: True})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        cls = HistGradientBoostingRegressor if req.task == "regression" else \
            HistGradientBoostingClassifier
        given = {k: v for k, v in params.items() if k != LIBRARY_DEFAULTS}
        target = int(given.pop("max_iter", DEFAULT_ITERATIONS))
        X = np.asarray(X, dtype=np.float64)
        est = cls(**given, warm_start=True, random_state=req.seed)
        # The codes of ``features.CategoryCodes`` (MAX_TREE_CATEGORIES levels plus one shared
        # code for rarer ones: at most 255 values) always fit HGB's max_bins (255); a column
        # named categorical with more distinct values (not from ``features/``) stays numeric
        # rather than fail the fit.
        categorical = [j for j in req.categorical if _cardinality(X[:, j]) <= est.max_bins]
        if categorical:
            est.set_params(categorical_features=categorical)
        # Early stopping as its defaults do it (on a 10 % split of these rows above 10,000
        # rows), not on ``req.X_val``: the floor is the model a user would get.
        truncated, per_iteration, done = False, None, 0
        with threadpool_limits(limits=req.n_threads, user_api="openmp"):
            while done < target:
                left = req.deadline.remaining()
                grow = FIRST_CHUNK if per_iteration is None else \
                    min(CHUNK, target - done, int(left / per_iteration))
                if done > 0 and grow < 1:
                    truncated = True
                    break
                t0 = time.monotonic()
                est.set_params(max_iter=min(target, done + grow))
                est.fit(X, y, sample_weight=req.sample_weight)
                per_iteration = (time.monotonic() - t0) / max(est.n_iter_ - done, 1)
                if est.n_iter_ < est.max_iter or _stopped_early(est):
                    break  # converged: a single fit would have stopped here too
                done = est.n_iter_
        est.set_params(warm_start=False, max_iter=target)
        return Fitted(est, req.task, req.n_classes, best_iteration=None, truncated=truncated,
                      family=self.name)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return dict(params)  # as shipped: its own early stopping again on all rows

    def search_space(self, task: str) -> dict[str, Any]:
        return {}  # a default model, not tuned


def _cardinality(column: np.ndarray) -> int:
    return len(np.unique(column[~np.isnan(column)]))


def _stopped_early(est: Any) -> bool:
    """Whether HGB's own early stopping would stop after the iterations grown so far (a chunk
    ending exactly where a single fit stops must not grow another)."""
    if not getattr(est, "do_early_stopping_", False):
        return False
    scores = est.validation_score_ if est._use_validation_data else est.train_score_
    return bool(est._should_stop(list(scores)))


# -- the fitted trees, read once -------------------------------------------------------------
class _HGBTrees:
    """All trees of a fitted HistGradientBoosting model in flat arrays over the input columns
    (not the ordinal-encoded ones it splits on): per node its column, threshold, where a
    missing value goes, its children and, for a categorical split, which of the column's known
    categories go left."""

    def __init__(self, est: Any):
        loss = type(est._loss).__name__
        if loss not in ("HalfSquaredError", "HalfBinomialLoss", "HalfMultinomialLoss"):
            raise Unsupported(f"HistGradientBoosting with loss {est.loss!r}")
        self.loss = loss
        self.baseline = np.asarray(est._baseline_prediction, dtype=float).reshape(-1)
        self.n_outputs = len(self.baseline)
        n_features = int(est.n_features_in_)
        is_cat = getattr(est, "is_categorical_", None)
        if is_cat is None:
            order, categories = np.arange(n_features), []
        else:  # the encoder's output: categorical columns first, then the numeric ones
            order = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)])
            encoder = est._preprocessor.named_transformers_["encoder"]
            categories = [np.asarray(c, dtype=float) for c in encoder.categories_]
            categories = [c[~np.isnan(c)] for c in categories]
        self.categories = categories  # known values of the i-th categorical column (sorted)
        self.cat_columns = order[:len(categories)]
        trees = [(k, p) for it in est._predictors for k, p in enumerate(it)]
        sizes = np.array([len(p.nodes) for _, p in trees])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        self.tree_output = np.array([k for k, _ in trees], dtype=np.intp)
        nodes = np.concatenate([p.nodes for _, p in trees])
        shift = np.repeat(self.roots, sizes)
        self.leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes), dtype=np.intp)
        self.left = np.where(self.leaf, own, nodes["left"].astype(np.intp) + shift)
        self.right = np.where(self.leaf, own, nodes["right"].astype(np.intp) + shift)
        remapped = nodes["feature_idx"].astype(np.intp)
        self.feature = np.where(self.leaf, 0, order[remapped])
        self.threshold = nodes["num_threshold"].astype(float)
        self.nan_left = nodes["missing_go_to_left"].astype(bool)
        self.value = nodes["value"].astype(float)
        self.count = nodes["count"].astype(float)
        self.is_cat = nodes["is_categorical"].astype(bool) & ~self.leaf
        # per categorical node: its column among the categorical ones, and its left ordinals
        self.cat_col = np.where(self.is_cat, remapped, 0)
        width = max([len(c) for c in categories] + [1])
        cat_nodes = np.flatnonzero(self.is_cat)
        self.cat_row = np.zeros(len(nodes), dtype=np.intp)
        self.cat_row[cat_nodes] = np.arange(len(cat_nodes))
        self.cat_left = np.zeros((len(cat_nodes), width), dtype=bool)
        bitsets = np.concatenate([p.raw_left_cat_bitsets[nodes_bitsets(p)] for _, p in trees]) \
            if len(cat_nodes) else np.zeros((0, 8), np.uint32)
        bits = np.arange(width)
        for r in range(len(cat_nodes)):
            self.cat_left[r] = (bitsets[r][bits // 32] >> (bits % 32)) & 1

    def ordinals(self, x: np.ndarray) -> np.ndarray:
        """(n, categorical columns): each value's ordinal among its column's known categories,
        -1 for an unseen or missing one (the encoder's NaN)."""
        out = np.full((len(x), len(self.categories)), -1, dtype=np.intp)
        for i, (col, cats) in enumerate(zip(self.cat_columns.tolist(), self.categories,
                                            strict=True)):
            v = x[:, col]
            pos = np.minimum(np.searchsorted(cats, v), len(cats) - 1)
            out[:, i] = np.where(cats[pos] == v, pos, -1) if len(cats) else -1
        return out

    def goes_left(self, x: np.ndarray, ords: np.ndarray, rows: np.ndarray,
                  node: np.ndarray) -> np.ndarray:
        """Whether row ``rows[i]`` goes left at ``node[i]``, as HGB's predictor decides."""
        v = x[rows, self.feature[node]]
        left = (v <= self.threshold[node]) | (np.isnan(v) & self.nan_left[node])
        cat = self.is_cat[node]
        if cat.any():
            n = node[cat]
            o = ords[rows[cat], self.cat_col[n]]
            left[cat] = np.where(o >= 0, self.cat_left[self.cat_row[n], np.maximum(o, 0)],
                                 self.nan_left[n])
        return left

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(n, outputs) raw scores: the baseline plus each row's leaf in every tree, all trees
        walked at once (one numpy step per level for the paths not yet at a leaf)."""
        ords = self.ordinals(x)
        n, n_trees = len(x), len(self.roots)
        final = np.empty(n * n_trees, dtype=np.intp)
        rows, node = np.repeat(np.arange(n), n_trees), np.tile(self.roots, n)
        at = np.arange(n * n_trees)
        done = self.leaf[node]
        final[at[done]] = node[done]
        rows, node, at = rows[~done], node[~done], at[~done]
        while len(node):
            node = np.where(self.goes_left(x, ords, rows, node), self.left[node], self.right[node])
            done = self.leaf[node]
            if done.any():
                final[at[done]] = node[done]
                going = ~done
                rows, node, at = rows[going], node[going], at[going]
        leaves = self.value[final].reshape(n, n_trees)
        out = np.tile(self.baseline, (n, 1))
        for k, trees in enumerate(self.by_output()):
            out[:, k] += leaves[:, trees].sum(axis=1)
        return out

    def by_output(self) -> list[np.ndarray]:
        """The trees adding to each output, computed once."""
        cached = self.__dict__.get("_by_output")
        if cached is None:
            cached = self._by_output = [np.flatnonzero(self.tree_output == k)
                                        for k in range(self.n_outputs)]
        return cached


def nodes_bitsets(predictor: Any) -> np.ndarray:
    """The bitset rows of a predictor's categorical split nodes, in node order."""
    nodes = predictor.nodes
    return nodes["bitset_idx"][nodes["is_categorical"].astype(bool) & ~nodes["is_leaf"].astype(bool)]


def _trees(fitted: Fitted) -> _HGBTrees:
    return _HGBTrees(fitted.estimator)


class _HGBPredict:
    """Fold models' (or one model's) trees walked together, each model reading its own input
    and its raw scores linked as HGB's loss links them (``ScoreLink``), summed."""

    def __init__(self, merged: _HGBTrees, outputs: list[int], links: list[ScoreLink]):
        self.merged, self.outputs, self.links = merged, outputs, links

    def __call__(self, *X: Any) -> np.ndarray:
        x = np.hstack([np.asarray(x, dtype=np.float64) for x in X]) if len(X) > 1 else \
            np.asarray(X[0], dtype=np.float64)
        raw, out, at = self.merged.raw(x), 0.0, 0
        for k, link in zip(self.outputs, self.links, strict=True):
            out = out + link(raw[:, at:at + k])
            at += k
        return out


# -- compiled --------------------------------------------------------------------------------
def compile_hgb(fitted: Fitted) -> Callable[[Any], np.ndarray]:
    plain(fitted)
    trees = _trees(fitted)
    return _HGBPredict(trees, [trees.n_outputs], [score_link(fitted)])


def compile_hgb_bag(fitted: list[Fitted]) -> Callable[..., np.ndarray]:
    """Fold models walked together, each on its own input: their trees in one set of arrays
    (star_math's bag of five, one row: 1.4 ms in five walks, 0.7 ms in one)."""
    for f in fitted:
        plain(f)
    parts = [_trees(f) for f in fitted]
    merged = _merged(parts, [int(f.estimator.n_features_in_) for f in fitted])
    return _HGBPredict(merged, [t.n_outputs for t in parts], [score_link(f) for f in fitted])


def _merged(parts: list[_HGBTrees], widths: list[int]) -> _HGBTrees:
    """Several models' trees as one ``_HGBTrees`` over their inputs side by side: model j's
    columns, categorical columns, nodes and outputs follow those of the models before it."""
    out = object.__new__(_HGBTrees)
    nodes = np.cumsum([0, *(len(t.leaf) for t in parts)])[:-1]
    inputs = np.cumsum([0, *widths])[:-1]
    cats = np.cumsum([0, *(len(t.categories) for t in parts)])[:-1]
    rows = np.cumsum([0, *(len(t.cat_left) for t in parts)])[:-1]
    outputs = np.cumsum([0, *(t.n_outputs for t in parts)])[:-1]
    cat = lambda name, shift: np.concatenate(  # noqa: E731
        [getattr(t, name) + s for t, s in zip(parts, shift, strict=True)])
    for name in ("leaf", "threshold", "nan_left", "value", "is_cat"):  # dtypes kept (bool)
        setattr(out, name, np.concatenate([getattr(t, name) for t in parts]))
    out.left, out.right, out.roots = cat("left", nodes), cat("right", nodes), cat("roots", nodes)
    out.feature = np.concatenate([np.where(t.leaf, 0, t.feature + s)
                                  for t, s in zip(parts, inputs, strict=True)])
    out.cat_col, out.cat_row = cat("cat_col", cats), cat("cat_row", rows)
    out.tree_output = cat("tree_output", outputs)
    out.categories = [c for t in parts for c in t.categories]
    out.cat_columns = cat("cat_columns", inputs).astype(np.intp)
    width = max(t.cat_left.shape[1] for t in parts)
    out.cat_left = np.vstack([np.pad(t.cat_left, ((0, 0), (0, width - t.cat_left.shape[1])))
                              for t in parts])
    out.baseline = np.concatenate([t.baseline for t in parts])
    out.n_outputs = len(out.baseline)
    out.loss = parts[0].loss
    return out


# -- ONNX ------------------------------------------------------------------------------------
def hgb_trees(est: Any) -> Trees:
    """The model's trees over its input columns: numeric splits ``x <= t`` in double (HGB
    compares float64), categorical ones as set membership in the input's category values with
    missing and unseen values sent where the split sends missing values."""
    t = _HGBTrees(est)
    trees = Trees(t.n_outputs, t.baseline.copy())
    for root, target in zip(t.roots.tolist(), t.tree_output.tolist(), strict=True):
        if t.leaf[root]:
            trees.constant(target, t.value[root])
            continue
        trees.roots.append(_node(trees, t, root, target))
    return trees


def _node(trees: Trees, t: _HGBTrees, i: int, target: int) -> int:
    left, right = t.left[i], t.right[i]
    if t.is_cat[i]:
        known = t.categories[t.cat_col[i]]
        goes = t.cat_left[t.cat_row[i], :len(known)]
        if t.nan_left[i]:  # anything but the known right categories goes left
            idx = trees.node(t.feature[i], MEMBER, np.nan, False, known[~goes].tolist())
            left, right = right, left
        else:  # anything but the known left categories goes right
            idx = trees.node(t.feature[i], MEMBER, np.nan, False, known[goes].tolist())
    else:
        idx = trees.node(t.feature[i], LEQ, t.threshold[i], bool(t.nan_left[i]))
    trees.link(idx, _child(trees, t, left, target), _child(trees, t, right, target))
    return idx


def _child(trees: Trees, t: _HGBTrees, i: int, target: int) -> tuple[int, int]:
    if t.leaf[i]:
        return trees.leaf(target, t.value[i])
    return _node(trees, t, i, target), 0


def hgb_tree_nodes(fitted: Fitted) -> int:
    """Split nodes of the model's trees (a tree that is one leaf adds none), from its
    predictors' node arrays."""
    return int(sum((~p.nodes["is_leaf"].astype(bool)).sum()
                   for it in fitted.estimator._predictors for p in it))


def hgb_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    est = fitted.estimator
    try:
        trees = hgb_trees(est)
    except Unsupported as e:
        raise not_exportable(f"a {type(est).__name__}", str(e), DISTILL_HINT) from None
    return onnx_link(g, trees.emit(g, x), fitted.task, "regression", est,
                     max(fitted.n_classes, 1), one_score=trees.n_targets == 1)


# -- SHAP: exact path-dependent TreeSHAP over HGB's own trees ----------------------------------
def hgb_contributions(fitted: Fitted, Xt: Any, task: str,
                      C: int) -> tuple[np.ndarray, np.ndarray, str]:
    """TreeSHAP as ``shap.TreeExplainer`` computes it for trees (cover = training rows per
    node), with HGB's categorical splits decided as its predictor decides them. Per leaf, the
    game is a product over the features on its path (x's side with probability 1 or 0, the
    cover share otherwise), whose Shapley values are a one-dimensional polynomial integral,
    exact with Gauss-Legendre nodes."""
    t = _trees(fitted)
    if t.n_outputs != C:
        raise Unsupported("a HistGradientBoosting model fitted on fewer classes than the task's")
    x = np.asarray(Xt, dtype=np.float64)
    n, F = x.shape
    phi, expected = np.zeros((n, F, C)), t.baseline.copy()
    paths = [_paths(t, root) for root in t.roots.tolist()]
    for start in range(0, n, ROW_CHUNK):
        xs = x[start:start + ROW_CHUNK]
        ords = t.ordinals(xs)
        for path, k in zip(paths, t.tree_output.tolist(), strict=True):
            if path is None:
                continue
            phi[start:start + ROW_CHUNK, :, k] += _tree_shap(t, path, xs, ords, F)
    for path, root, k in zip(paths, t.roots.tolist(), t.tree_output.tolist(), strict=True):
        expected[k] += t.value[root] if path is None else path["expected"]
    base = np.tile(expected, (n, 1))
    return phi, base, "value" if task == "regression" else "margin"


def _paths(t: _HGBTrees, root: int) -> dict[str, Any] | None:
    """Each leaf's path from ``root``: its nodes and sides, its features grouped (one slot per
    distinct feature) with the product of cover shares per group; None for a single leaf."""
    if t.leaf[root]:
        return None
    leaves: list[tuple[int, list[tuple[int, bool]]]] = []
    stack = [(root, [])]
    while stack:
        i, path = stack.pop()
        if t.leaf[i]:
            leaves.append((i, path))
            continue
        stack.append((t.right[i], [*path, (i, False)]))
        stack.append((t.left[i], [*path, (i, True)]))
    depth = max(len(p) for _, p in leaves)
    groups = max(len({t.feature[i] for i, _ in p}) for _, p in leaves)
    L = len(leaves)
    node = np.zeros((L, depth), dtype=np.intp)
    side = np.ones((L, depth), dtype=bool)
    valid = np.zeros((L, depth), dtype=bool)
    member = np.zeros((L, depth, groups), dtype=bool)  # path step d belongs to feature slot u
    feature = np.zeros((L, groups), dtype=np.intp)
    zero = np.ones((L, groups))  # the cover share of the leaf's side, per feature slot
    for li, (_, path) in enumerate(leaves):
        slots: dict[int, int] = {}
        for d, (i, went_left) in enumerate(path):
            f = int(t.feature[i])
            u = slots.setdefault(f, len(slots))
            child = t.left[i] if went_left else t.right[i]
            node[li, d], side[li, d], valid[li, d] = i, went_left, True
            member[li, d, u] = True
            feature[li, u] = f
            zero[li, u] *= t.count[child] / t.count[i]
    value = t.value[[leaf for leaf, _ in leaves]]
    return {"node": node, "side": side, "valid": valid, "member": member, "feature": feature,
            "zero": zero, "value": value, "expected": float((value * zero.prod(axis=1)).sum())}


def _tree_shap(t: _HGBTrees, path: dict[str, Any], x: np.ndarray, ords: np.ndarray,
               F: int) -> np.ndarray:
    """(n, F) contributions of one tree: for each leaf and feature slot u with one-fraction o
    (x satisfies every step on that feature) and zero-fraction z (cover share),
    phi_u = v (o_u - z_u) * integral_0^1 prod_{w != u} (z_w + t (o_w - z_w)) dt."""
    n = len(x)
    L, D = path["node"].shape
    U = path["zero"].shape[1]
    flat = path["node"].reshape(-1)
    rows = np.repeat(np.arange(n), len(flat))
    went = t.goes_left(x, ords, rows, np.tile(flat, n)).reshape(n, L, D)
    ok = (went == path["side"]) | ~path["valid"]  # (n, L, D)
    one = ~np.einsum("nld,ldu->nlu", (~ok).astype(np.int8),
                     path["member"].astype(np.int8)).astype(bool)  # (n, L, U)
    zero = path["zero"]
    nodes, weights = np.polynomial.legendre.leggauss(U // 2 + 1)
    tq, wq = (nodes + 1) / 2, weights / 2  # on [0, 1]
    o = one.astype(float)[..., None]  # (n, L, U, 1)
    z = zero[None, :, :, None]
    factor = z + tq * (o - z)  # (n, L, U, Q)
    before = np.cumprod(np.concatenate([np.ones_like(factor[:, :, :1]), factor[:, :, :-1]],
                                       axis=2), axis=2)
    after = np.cumprod(np.concatenate([np.ones_like(factor[:, :, :1]), factor[:, :, :0:-1]],
                                      axis=2), axis=2)[:, :, ::-1]
    integral = (before * after) @ wq  # (n, L, U)
    slot = path["value"][None, :, None] * (o[..., 0] - zero[None]) * integral
    scatter = np.zeros((L * U, F))
    scatter[np.arange(L * U), path["feature"].reshape(-1)] = 1.0
    return slot.reshape(n, L * U) @ scatter


ADAPTER = Adapter(HistGradientBoostingFamily(),
                  instance_of("sklearn.ensemble", "HistGradientBoostingClassifier",
                              "HistGradientBoostingRegressor"),
                  compile=compile_hgb, compile_bag=compile_hgb_bag, onnx=hgb_onnx,
                  contributions=hgb_contributions, fit_dask=None,
                  tree_nodes=hgb_tree_nodes)
