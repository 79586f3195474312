"""Tree ensembles in ONNX-ML ``TreeEnsemble`` form, and the links from raw scores to what
``Fitted.predict`` returns; each library's adapter reads its own dump into :class:`Trees`.

Every library's trees become the same small form: binary nodes with a feature, a comparison
(<= or set membership), where a missing value goes, and leaves that add a weight to one output
column. Thresholds stay double, as LightGBM and scikit-learn compare them; XGBoost, CatBoost and
scikit-learn compare float32 features, which the caller gives them (``Trees.float32``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlexpert.errors import not_exportable
from mlexpert.models._graph import Graph

DISTILL_HINT = "Run `mlexpert distill` to get one exportable LightGBM model."
LEQ, MEMBER = 0, 6  # ONNX-ML's node modes: x <= split, x in a set


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


def n_scores(fitted: Any) -> int:
    """Raw scores a booster gives: one for regression or two classes (the model's own classes:
    a training fold may lack one), else one per class."""
    k = max(fitted.n_classes, 1)
    n_model = 1 if fitted.task == "regression" else len(getattr(fitted.estimator, "classes_",
                                                                range(k)))
    return 1 if n_model <= 2 else n_model


def onnx_link(g: Graph, raw: str, task: str, objective: str, est: Any, k: int,
              one_score: bool | None = None) -> str:
    """Raw boosting scores to what ``Fitted.predict`` returns: a sigmoid of one score (by
    default when the model has two classes), else a softmax."""
    if task == "regression":
        if objective not in ("regression", "reg:squarederror"):
            raise not_exportable(f"a model with objective {objective!r}", "only squared-error "
                                 "regression is converted", DISTILL_HINT)
        return raw
    if one_score is None:
        one_score = len(getattr(est, "classes_", range(k))) == 2
    if one_score:
        p1 = g.sigmoid(raw)
        return onnx_full(g, g.concat([g.sub(g.const(1.0), p1), p1]), est, k)
    return onnx_full(g, g.softmax(raw), est, k)


def onnx_full(g: Graph, proba: str, est: Any, k: int) -> str:
    """Columns for classes the training fold lacked are zeros (as ``Fitted.predict``)."""
    classes = np.asarray(getattr(est, "classes_", np.arange(k))).astype(int)
    if len(classes) == k and np.array_equal(classes, np.arange(k)):
        return proba
    scatter = np.zeros((len(classes), k))
    scatter[np.arange(len(classes)), classes] = 1.0
    return g.op("MatMul", [proba, g.const(scatter)])
