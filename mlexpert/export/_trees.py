"""Tree ensembles to one ONNX-ML ``TreeEnsemble`` node, read from each library's own model dump.

Every library's trees become the same small form (:class:`Trees`): binary nodes with a feature,
a comparison (<= or set membership), where a missing value goes, and leaves that add a weight
to one output column. Thresholds stay double, as LightGBM and scikit-learn compare them;
XGBoost, CatBoost and scikit-learn compare float32 features, which the caller gives them
(``Trees.float32``).
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlexpert.compiled import LEQ, MEMBER, Level, Unsupported, catboost_oblivious
from mlexpert.errors import not_exportable
from mlexpert.export._graph import Graph

DISTILL_HINT = "Run `mlexpert distill` to get one exportable LightGBM model."


@dataclass
class Trees:
    """Trees in ONNX-ML ``TreeEnsemble`` (opset 5) layout; raw scores = sum of leaves + base."""

    n_targets: int
    base: np.ndarray
    float32: bool = False  # the library compares float32 features
    roots: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    mode: list[int] = field(default_factory=list)
    split: list[float] = field(default_factory=list)
    members: list[list[float]] = field(default_factory=list)
    missing_true: list[int] = field(default_factory=list)
    true_id: list[int] = field(default_factory=list)
    true_leaf: list[int] = field(default_factory=list)
    false_id: list[int] = field(default_factory=list)
    false_leaf: list[int] = field(default_factory=list)
    leaf_target: list[int] = field(default_factory=list)
    leaf_weight: list[float] = field(default_factory=list)

    def leaf(self, target: int, weight: float) -> tuple[int, int]:
        self.leaf_target.append(int(target))
        self.leaf_weight.append(float(weight))
        return len(self.leaf_weight) - 1, 1

    def node(self, feature: int, mode: int, split: float, missing_true: bool,
             members: list[float] | None = None) -> int:
        self.feature.append(int(feature))
        self.mode.append(mode)
        self.split.append(float(split))
        self.members.append(list(members or []))
        self.missing_true.append(int(missing_true))
        for lst in (self.true_id, self.true_leaf, self.false_id, self.false_leaf):
            lst.append(0)
        return len(self.feature) - 1

    def link(self, node: int, true: tuple[int, int], false: tuple[int, int]) -> None:
        self.true_id[node], self.true_leaf[node] = true
        self.false_id[node], self.false_leaf[node] = false

    def extend(self, feature: np.ndarray, mode: Any, split: np.ndarray, missing_true: np.ndarray,
               true: tuple[np.ndarray, np.ndarray], false: tuple[np.ndarray, np.ndarray],
               leaf_target: int, leaf_weight: np.ndarray,
               members: list[list[float]] | None = None) -> int:
        """Appends a block of nodes and leaves at once (a whole tree: ~100x faster than a call per
        node); ``true``/``false`` are (child index within the block, is a leaf). Returns the
        block's first node id."""
        n0, l0, k = len(self.feature), len(self.leaf_weight), len(feature)
        self.feature.extend(np.asarray(feature, dtype=np.int64).tolist())
        self.mode.extend(np.broadcast_to(np.asarray(mode, dtype=np.int64), (k,)).tolist())
        self.split.extend(np.asarray(split, dtype=float).tolist())
        self.members.extend(members if members is not None else [[]] * k)
        self.missing_true.extend(np.asarray(missing_true, dtype=np.int64).tolist())
        for (child, is_leaf), ids, leafs in ((true, self.true_id, self.true_leaf),
                                             (false, self.false_id, self.false_leaf)):
            ids.extend(np.where(is_leaf, l0 + child, n0 + child).tolist())
            leafs.extend(np.asarray(is_leaf, dtype=np.int64).tolist())
        self.leaf_target.extend([int(leaf_target)] * len(leaf_weight))
        self.leaf_weight.extend(np.asarray(leaf_weight, dtype=float).tolist())
        return n0

    def constant(self, target: int, value: float) -> None:
        """A tree without splits: its value joins the base."""
        self.base[target] += value

    def emit(self, g: Graph, x: str) -> str:
        """The node computing raw scores (n, n_targets) from the feature matrix ``x``."""
        from onnx import TensorProto, numpy_helper

        if self.float32:
            x = g.cast(g.cast(x, TensorProto.FLOAT), TensorProto.DOUBLE)
        base = g.const(self.base.reshape(1, -1))
        if not self.roots:
            zeros = g.mul(g.columns(x, 0, 1), g.const(0.0))
            return g.add(g.mul(zeros, g.const(np.zeros((1, self.n_targets)))), base)
        membership = [v for m, ms in zip(self.mode, self.members, strict=True) if m == MEMBER
                      for v in [*ms, math.nan]]
        attrs: dict[str, Any] = dict(
            aggregate_function=1, n_targets=self.n_targets, post_transform=0,
            tree_roots=self.roots, nodes_featureids=self.feature,
            nodes_modes=numpy_helper.from_array(np.asarray(self.mode, dtype=np.uint8)),
            nodes_splits=numpy_helper.from_array(np.asarray(self.split, dtype=np.float64)),
            nodes_truenodeids=self.true_id, nodes_trueleafs=self.true_leaf,
            nodes_falsenodeids=self.false_id, nodes_falseleafs=self.false_leaf,
            nodes_missing_value_tracks_true=self.missing_true, leaf_targetids=self.leaf_target,
            leaf_weights=numpy_helper.from_array(np.asarray(self.leaf_weight, dtype=np.float64)))
        if membership:
            attrs["membership_values"] = numpy_helper.from_array(
                np.asarray(membership, dtype=np.float64))
        raw = g.op("TreeEnsemble", [x], "trees", domain="ai.onnx.ml", **attrs)
        return g.add(raw, base)


# -- LightGBM --------------------------------------------------------------------------------
def lightgbm_trees(booster: Any, n_targets: int) -> tuple[Trees, str]:
    """Trees of a LightGBM booster (best iteration) and its objective's first word."""
    dump = booster.dump_model()
    objective = str(dump.get("objective", "regression")).split()[0]
    trees = Trees(n_targets, np.zeros(n_targets))
    per_iter = max(1, int(dump.get("num_tree_per_iteration", 1)))
    for i, info in enumerate(dump["tree_info"]):
        target = i % per_iter
        root = info["tree_structure"]
        if "leaf_value" in root:
            trees.constant(target, root["leaf_value"])
            continue
        trees.roots.append(_lgb_node(trees, root, target))
    return trees, objective


def _lgb_node(trees: Trees, node: dict[str, Any], target: int) -> int:
    if node["decision_type"] == "==":
        cats = [float(c) for c in str(node["threshold"]).split("||")]
        idx = trees.node(node["split_feature"], MEMBER, math.nan, False, cats)  # NaN goes right
    else:
        missing = node.get("missing_type", "None")
        threshold = float(node["threshold"])
        if missing == "NaN":
            to_left = bool(node["default_left"])
        elif missing == "None":  # LightGBM reads NaN as 0.0 here
            to_left = 0.0 <= threshold
        else:
            raise not_exportable("a LightGBM model trained with zero_as_missing",
                                 "zeros counted as missing have no ONNX equivalent",
                                 "Refit without zero_as_missing.")
        idx = trees.node(node["split_feature"], LEQ, threshold, to_left)
    trees.link(idx, _lgb_child(trees, node["left_child"], target),
               _lgb_child(trees, node["right_child"], target))
    return idx


def _lgb_child(trees: Trees, child: dict[str, Any], target: int) -> tuple[int, int]:
    if "leaf_value" in child:
        return trees.leaf(target, child["leaf_value"])
    return _lgb_node(trees, child, target), 0


# -- XGBoost ---------------------------------------------------------------------------------
def xgboost_trees(estimator: Any, n_targets: int) -> tuple[Trees, str]:
    """Trees of a fitted XGBoost sklearn model (up to its best iteration) and its objective."""
    booster = estimator.get_booster()
    model = json.loads(booster.save_raw("json"))["learner"]
    objective = model["objective"]["name"]
    base = _floats(model["learner_model_param"]["base_score"])
    gb = model["gradient_booster"]["model"]
    info = gb["tree_info"]
    limit = len(gb["trees"])
    try:
        best = estimator.best_iteration
    except AttributeError:
        best = None
    if best is not None and getattr(estimator, "early_stopping_rounds", None):
        per_iter = len(info) // max(1, booster.num_boosted_rounds())
        limit = min(limit, (best + 1) * per_iter)
    if objective == "binary:logistic":
        margin = [math.log(b / (1 - b)) for b in base]
    else:
        margin = list(base)
    margin = (margin * n_targets)[:n_targets] if len(margin) == 1 else margin
    trees = Trees(n_targets, np.asarray(margin, dtype=float), float32=True)
    for t in range(limit):
        tree, target = gb["trees"][t], int(info[t]) if n_targets > 1 else 0
        left, right = tree["left_children"], tree["right_children"]
        if left[0] == -1:
            trees.constant(target, tree["split_conditions"][0])
            continue
        cats = _xgb_categories(tree)
        ids: dict[int, int] = {}
        order = [i for i in range(len(left)) if left[i] != -1]
        for i in order:
            feature = tree["split_indices"][i]
            default_left = bool(tree["default_left"][i])
            if i in cats:  # categories in the set go right
                ids[i] = trees.node(feature, MEMBER, math.nan, not default_left, cats[i])
            else:
                # x < t on float32 x is x <= the float32 just below t. With BRANCH_LT, whole
                # XGBoost ensembles (with set-membership splits) reached other leaves than
                # XGBoost in onnxruntime 1.32, though small hand-made trees were right: cause
                # not isolated; LEQ matches on every parity test
                below = np.nextafter(np.float32(tree["split_conditions"][i]), np.float32(-np.inf))
                ids[i] = trees.node(feature, LEQ, float(below), default_left)
        leaf_values = tree["split_conditions"]
        for i in order:
            lo = _child(trees, ids, left[i], left[left[i]] == -1, target, leaf_values[left[i]])
            hi = _child(trees, ids, right[i], left[right[i]] == -1, target, leaf_values[right[i]])
            trees.link(ids[i], *((hi, lo) if i in cats else (lo, hi)))
        trees.roots.append(ids[0])
    return trees, objective


def _child(trees: Trees, ids: dict[int, int], c: int, is_leaf: bool, target: int,
           value: float) -> tuple[int, int]:
    """The (index, is_leaf) of child ``c``: a new leaf, or the node already made for it."""
    return trees.leaf(target, value) if is_leaf else (ids[c], 0)


def _xgb_categories(tree: dict[str, Any]) -> dict[int, list[float]]:
    nodes = tree.get("categories_nodes") or []
    out = {}
    for node, start, size in zip(nodes, tree["categories_segments"], tree["categories_sizes"],
                                 strict=True):
        out[int(node)] = [float(c) for c in tree["categories"][start:start + size]]
    return out


def _floats(text: Any) -> list[float]:
    if isinstance(text, int | float):
        return [float(text)]
    return [float(v) for v in str(text).strip("[]").split(",") if v.strip()]


# -- CatBoost --------------------------------------------------------------------------------
def catboost_trees(estimator: Any, categorical: list[int], to_input: Any = None) -> Trees:
    """Oblivious trees of a CatBoost model (read by ``compiled.catboost_oblivious``, as the
    compiled path walks them) expanded into binary trees, one output per raw score of the
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


# -- scikit-learn forests --------------------------------------------------------------------
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
