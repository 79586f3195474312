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


_NODE_FIELDS = {"feature": np.int64, "mode": np.uint8, "split": np.float64,
                "missing_true": np.int64, "true_id": np.int64, "true_leaf": np.int64,
                "false_id": np.int64, "false_leaf": np.int64}
_LEAF_FIELDS = {"leaf_target": np.int64, "leaf_weight": np.float64}
# TreeEnsemble's integer attributes, set one at a time from numpy blocks: Python lists of every
# field at once held ~36 bytes a value (verbagg_resp's 1.39M nodes: the conversion's peak, with
# the graph copied once in ``Graph.build``, 200 MB lower)
_INTS = (("nodes_featureids", "feature"), ("nodes_truenodeids", "true_id"),
         ("nodes_trueleafs", "true_leaf"), ("nodes_falsenodeids", "false_id"),
         ("nodes_falseleafs", "false_leaf"), ("nodes_missing_value_tracks_true", "missing_true"),
         ("leaf_targetids", "leaf_target"))


@dataclass
class Trees:
    """Trees in ONNX-ML ``TreeEnsemble`` (opset 5) layout; raw scores = sum of leaves + base.
    Nodes and leaves are kept as numpy blocks (``extend``: a whole tree at once) or, for the
    adapters that walk a tree node by node (``node``, ``leaf``, ``link``), in lists until the
    next block or ``emit``."""

    n_targets: int
    base: np.ndarray
    float32: bool = False  # the library compares float32 features
    roots: list[int] = field(default_factory=list)
    members: list[list[float]] = field(default_factory=list)  # per node: a set split's values
    _blocks: dict[str, list[np.ndarray]] = field(default_factory=lambda: {
        k: [] for k in (*_NODE_FIELDS, *_LEAF_FIELDS)})
    _pending: dict[str, list[Any]] = field(default_factory=lambda: {
        k: [] for k in (*_NODE_FIELDS, *_LEAF_FIELDS)})
    _n_nodes: int = 0  # in blocks
    _n_leaves: int = 0

    def leaf(self, target: int, weight: float) -> tuple[int, int]:
        self._pending["leaf_target"].append(int(target))
        self._pending["leaf_weight"].append(float(weight))
        return self._n_leaves + len(self._pending["leaf_weight"]) - 1, 1

    def node(self, feature: int, mode: int, split: float, missing_true: bool,
             members: list[float] | None = None) -> int:
        p = self._pending
        p["feature"].append(int(feature))
        p["mode"].append(mode)
        p["split"].append(float(split))
        p["missing_true"].append(int(missing_true))
        for k in ("true_id", "true_leaf", "false_id", "false_leaf"):
            p[k].append(0)
        self.members.append(list(members or []))
        return self._n_nodes + len(p["feature"]) - 1

    def link(self, node: int, true: tuple[int, int], false: tuple[int, int]) -> None:
        """Sets the children of a node added by ``node`` since the last block."""
        i, p = node - self._n_nodes, self._pending
        p["true_id"][i], p["true_leaf"][i] = true
        p["false_id"][i], p["false_leaf"][i] = false

    def _flush(self) -> None:
        p = self._pending
        if p["feature"] or p["leaf_weight"]:
            for k, dtype in (*_NODE_FIELDS.items(), *_LEAF_FIELDS.items()):
                self._blocks[k].append(np.asarray(p[k], dtype=dtype))
                p[k].clear()
            self._n_nodes = len(self.members)
            self._n_leaves += len(self._blocks["leaf_weight"][-1])

    def extend(self, feature: np.ndarray, mode: Any, split: np.ndarray, missing_true: np.ndarray,
               true: tuple[np.ndarray, np.ndarray], false: tuple[np.ndarray, np.ndarray],
               leaf_target: int, leaf_weight: np.ndarray,
               members: list[list[float]] | None = None) -> int:
        """Appends a block of nodes and leaves at once (a whole tree: ~100x faster than a call per
        node); ``true``/``false`` are (child index within the block, is a leaf). Returns the
        block's first node id."""
        self._flush()
        n0, l0, k = self._n_nodes, self._n_leaves, len(feature)
        leaf_weight = np.asarray(leaf_weight, dtype=np.float64).ravel()
        block = {"feature": feature, "mode": np.broadcast_to(np.asarray(mode), (k,)),
                 "split": split, "missing_true": missing_true,
                 "leaf_target": np.full(len(leaf_weight), int(leaf_target)),
                 "leaf_weight": leaf_weight}
        for (child, is_leaf), ids, leafs in ((true, "true_id", "true_leaf"),
                                             (false, "false_id", "false_leaf")):
            block[ids] = np.where(is_leaf, l0 + np.asarray(child), n0 + np.asarray(child))
            block[leafs] = is_leaf
        for name, dtype in (*_NODE_FIELDS.items(), *_LEAF_FIELDS.items()):
            self._blocks[name].append(np.asarray(block[name], dtype=dtype).ravel())
        self.members.extend(members if members is not None else [[]] * k)
        self._n_nodes, self._n_leaves = n0 + k, l0 + len(leaf_weight)
        return n0

    def constant(self, target: int, value: float) -> None:
        """A tree without splits: its value joins the base."""
        self.base[target] += value

    def _take(self, name: str) -> np.ndarray:
        """A field's blocks as one array, the blocks let go (``emit`` reads each field once)."""
        blocks = self._blocks[name]
        dtype = _NODE_FIELDS.get(name) or _LEAF_FIELDS[name]
        out = np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype)
        blocks.clear()
        return out

    def emit(self, g: Graph, x: str) -> str:
        """The node computing raw scores (n, n_targets) from the feature matrix ``x``; the
        trees are let go as they are written (once only)."""
        from onnx import TensorProto, helper, numpy_helper

        self._flush()
        g.check_tree_nodes(self._n_nodes)
        g.tree_nodes += self._n_nodes
        if self.float32:
            x = g.cast(g.cast(x, TensorProto.FLOAT), TensorProto.DOUBLE)
        base = g.const(self.base.reshape(1, -1))
        if not self.roots:
            zeros = g.mul(g.columns(x, 0, 1), g.const(0.0))
            return g.add(g.mul(zeros, g.const(np.zeros((1, self.n_targets)))), base)
        mode = self._take("mode")
        membership = [v for m, ms in zip(mode.tolist(), self.members, strict=True) if m == MEMBER
                      for v in [*ms, math.nan]]
        attrs: dict[str, Any] = dict(
            aggregate_function=1, n_targets=self.n_targets, post_transform=0,
            tree_roots=self.roots, nodes_modes=numpy_helper.from_array(mode),
            nodes_splits=numpy_helper.from_array(self._take("split")),
            leaf_weights=numpy_helper.from_array(self._take("leaf_weight")))
        if membership:
            attrs["membership_values"] = numpy_helper.from_array(
                np.asarray(membership, dtype=np.float64))
        raw = g.op("TreeEnsemble", [x], "trees", domain="ai.onnx.ml", **attrs)
        node = g.nodes[-1]
        for attr, name in _INTS:
            node.attribute.append(helper.make_attribute(attr, self._take(name).tolist()))
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
